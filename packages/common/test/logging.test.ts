import t from 'tap';
import { randomBytes } from 'node:crypto';
import { createLogger, normalizeLevel, type Logger } from '../src/logging.js';
import { generateKeyPair, sealResponse } from '../src/envelope-v2.js';
import { toBase64 } from '../src/base64.js';
import { sampleConnectionInfo, sampleKernelId, sampleSuccess } from './fixtures/samples.js';

/** A logger writing into memory, with the raw text and the parsed lines. */
function memoryLogger(options: { level?: string; kernelId?: string; name?: string } = {}): {
  log: Logger;
  raw: () => string;
  lines: () => Array<Record<string, unknown>>;
} {
  const chunks: string[] = [];
  const log = createLogger({ level: 'trace', ...options, destination: { write: (s: string) => void chunks.push(s) } });
  const raw = () => chunks.join('');
  return {
    log,
    raw,
    lines: () =>
      raw()
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

function secret(): string {
  return `S3CRET-${randomBytes(12).toString('hex')}`;
}

t.test('writes one JSON line per call with kernel_id, name, level and message', async (t) => {
  const kernelId = sampleKernelId();
  const { log, lines } = memoryLogger({ kernelId, name: 'launcher' });
  log.info({ port: 40001 }, 'bound');
  log.warn('slow');
  const [a, b] = lines();
  t.equal(lines().length, 2);
  t.match(a, { kernel_id: kernelId, name: 'launcher', level: 30, msg: 'bound', port: 40001, pid: process.pid });
  t.match(b, { kernel_id: kernelId, level: 40, msg: 'slow' });
  t.type(a?.time, 'number');
});

t.test('omits kernel_id when the logger is not about one kernel', async (t) => {
  const { log, lines } = memoryLogger();
  log.info('listening');
  t.notOk('kernel_id' in (lines()[0] ?? {}));
});

t.test('a logged connection info never shows its key, at the top level', async (t) => {
  const info = { ...sampleConnectionInfo(), key: secret() };
  const { log, raw, lines } = memoryLogger({ kernelId: sampleKernelId() });
  log.info(info, 'connection info');
  t.notMatch(raw(), info.key);
  t.match(lines()[0], { key: '[Redacted]', shell_port: info.shell_port, ip: info.ip });
});

t.test('a logged connection info never shows its key, nested in conn_info or response.conn_info', async (t) => {
  const a = { ...sampleConnectionInfo(), key: secret() };
  const b = { ...sampleConnectionInfo(), key: secret() };
  const c = { ...sampleConnectionInfo(), key: secret() };
  const { log, raw, lines } = memoryLogger();
  log.info({ conn_info: a }, 'nested once');
  log.info({ response: { conn_info: b } }, 'nested twice');
  log.info({ listener: { response: { conn_info: c } } }, 'nested three times');
  for (const s of [a.key, b.key, c.key]) t.notMatch(raw(), s);
  const [l1, l2, l3] = lines();
  t.match(l1, { conn_info: { key: '[Redacted]', hb_port: a.hb_port } });
  t.match(l2, { response: { conn_info: { key: '[Redacted]' } } });
  t.match(l3, { listener: { response: { conn_info: { key: '[Redacted]' } } } });
});

t.test('a launch token never appears, whether as token or in env.KERNEL_LAUNCH_TOKEN', async (t) => {
  const token = secret();
  const envToken = secret();
  const plaintext = { ...sampleSuccess(), token: secret() };
  const { log, raw } = memoryLogger();
  log.info({ token }, 'registered');
  log.debug({ env: { KERNEL_LAUNCH_TOKEN: envToken, PATH: '/usr/bin' } }, 'spawning');
  log.info({ response: plaintext }, 'opened');
  for (const s of [token, envToken, plaintext.token, plaintext.conn_info.key]) t.notMatch(raw(), s);
  t.match(raw(), '/usr/bin', 'other env variables are kept');
});

t.test('a sealed box never appears in a logged envelope', async (t) => {
  const listener = generateKeyPair();
  const envelope = JSON.parse(sealResponse(sampleSuccess(), listener.publicKey).text) as { box: string; epk: string };
  const { log, raw } = memoryLogger();
  log.info(envelope, 'response');
  log.warn({ envelope }, 'refused');
  t.notMatch(raw(), envelope.box);
  t.match(raw(), envelope.epk, 'the public ephemeral key is not a secret');
});

t.test('a secret key never appears, as bytes or as base64', async (t) => {
  const pair = generateKeyPair();
  const { log, raw } = memoryLogger();
  log.info({ keyPair: pair }, 'restored key pair');
  log.info({ secretKey: toBase64(pair.secretKey) }, 'persisted');
  const text = raw();
  t.notMatch(text, toBase64(pair.secretKey));
  t.notMatch(text, Buffer.from(pair.secretKey).toString('hex'));
  t.notMatch(text, JSON.stringify(pair.secretKey).slice(1, 40), 'not as a serialised Uint8Array');
  t.notMatch(text, Array.from(pair.secretKey).slice(0, 8).join(','), 'not as an array of numbers');
  t.match(text, '"publicKey"', 'the public key is logged');
});

t.test('secrets in child logger bindings are redacted too', async (t) => {
  const token = secret();
  const { log, raw } = memoryLogger();
  log.child({ token }).info('with a token binding');
  t.notMatch(raw(), token);
  t.match(raw(), 'with a token binding');
});

t.test('secrets nested in a child binding, or in arrays, are redacted', async (t) => {
  const [a, b, c] = [secret(), secret(), secret()];
  const { log, raw } = memoryLogger();
  log.child({ launch: { token: a } }).info({ kernels: [{ conn_info: { key: b } }], env: [{ KERNEL_LAUNCH_TOKEN: c }] }, 'listed');
  for (const s of [a, b, c]) t.notMatch(raw(), s);
  t.match(raw(), 'listed');
});

t.test("logging a record leaves the caller's object as it was", async (t) => {
  const info = { ...sampleConnectionInfo(), key: secret() };
  const record = { conn_info: info, list: [info] };
  const { log } = memoryLogger();
  log.info(record, 'connection info');
  log.child({ record }).info('as a binding');
  t.equal(record.conn_info, info);
  t.equal(record.list[0], info);
  t.match(info.key, /^S3CRET-/);
});

t.test("Python's numeric levels map to pino levels", async (t) => {
  t.equal(normalizeLevel('10'), 'debug');
  t.equal(normalizeLevel('20'), 'info');
  t.equal(normalizeLevel('30'), 'warn');
  t.equal(normalizeLevel('40'), 'error');
  t.equal(normalizeLevel('50'), 'fatal');
});

t.test("Python's level names and pino's names are accepted in any case", async (t) => {
  t.equal(normalizeLevel('DEBUG'), 'debug');
  t.equal(normalizeLevel('WARNING'), 'warn');
  t.equal(normalizeLevel('CRITICAL'), 'fatal');
  t.equal(normalizeLevel(' trace '), 'trace');
  t.equal(normalizeLevel('silent'), 'silent');
});

t.test('a missing or unknown level falls back to info', async (t) => {
  for (const l of [undefined, '', 'verbose', '15']) t.equal(normalizeLevel(l), 'info', String(l));
});

t.test('a logger at Python level 40 writes errors and drops warnings', async (t) => {
  const { log, lines } = memoryLogger({ level: '40' });
  log.warn('dropped');
  log.error('kept');
  t.same(
    lines().map((l) => l.msg),
    ['kept'],
  );
});

t.test('LOG_LEVEL sets the level when no level is given', async (t) => {
  const saved = process.env.LOG_LEVEL;
  t.teardown(() => {
    if (saved === undefined) delete process.env.LOG_LEVEL;
    else process.env.LOG_LEVEL = saved;
  });
  process.env.LOG_LEVEL = 'ERROR';
  const chunks: string[] = [];
  const log = createLogger({ destination: { write: (s: string) => void chunks.push(s) } });
  log.warn('dropped');
  log.error('kept');
  t.equal(log.level, 'error');
  t.equal(chunks.length, 1);
});
