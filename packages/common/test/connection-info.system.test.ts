import t from 'tap';
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import {
  KERNEL_PORT_FIELDS,
  type ConnectionInfo,
  assertConnectionInfo,
  isSupportedSignatureScheme,
  redactConnectionInfo,
  toConnectionFile,
  validateConnectionInfo,
} from '../src/connection-info.js';
import { GatewayError, type Result } from '../src/errors.js';
import { parsePortRange } from '../src/port-range.js';
import { MAX_CONNECTION_KEY_LENGTH } from '../src/limits.js';
import { runPython } from './fixtures/python.js';
import { arbConnectionInfo, sampleConnectionInfo, resultCode } from './fixtures/samples.js';

const codeOf = (r: Result<unknown>): string => resultCode(r, 'valid');

function fieldOf(r: Result<unknown>): unknown {
  return r.ok ? undefined : r.error.details.field;
}

function withField(info: ConnectionInfo, field: string, value: unknown): Record<string, unknown> {
  return { ...info, [field]: value };
}

function withoutField(info: ConnectionInfo, field: string): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...info };
  delete copy[field];
  return copy;
}

t.test('accepts valid connection info and returns a copy with only the known fields', async (t) => {
  const info = sampleConnectionInfo();
  const r = validateConnectionInfo({ ...info, extra: 'dropped', session: { x: 1 } });
  t.equal(codeOf(r), 'valid');
  if (r.ok) t.same(r.value, info);
});

t.test('defaults transport to tcp, signature_scheme to hmac-sha256 and kernel_name to empty', async (t) => {
  const info = sampleConnectionInfo();
  const r = validateConnectionInfo(withoutField(info, 'transport'));
  const bare = validateConnectionInfo({ ...withoutField(info, 'signature_scheme'), kernel_name: undefined });
  t.ok(r.ok && r.value.transport === 'tcp');
  t.ok(bare.ok && bare.value.signature_scheme === 'hmac-sha256' && bare.value.kernel_name === '');
});

t.test('refuses a port that is not an integer in 1..65535, naming the field', async (t) => {
  const info = sampleConnectionInfo();
  for (const field of KERNEL_PORT_FIELDS) {
    for (const value of [0, 65536, -1, 40000.5, '40000', null, undefined, Number.NaN, true]) {
      const r = validateConnectionInfo(withField(info, field, value));
      t.equal(codeOf(r), 'GL_ERR_PORT_INVALID', `${field}=${String(value)}`);
      t.equal(fieldOf(r), field);
    }
  }
  t.equal(
    codeOf(validateConnectionInfo(withField(info, 'hb_port', 1), { portRange: parsePortRange('0..0') })),
    'valid',
    'port 1 is a port',
  );
  t.equal(codeOf(validateConnectionInfo(withField(info, 'hb_port', 65535))), 'valid', 'port 65535 is a port');
});

t.test('refuses two equal kernel ports', async (t) => {
  const info = sampleConnectionInfo();
  const r = validateConnectionInfo(withField(info, 'hb_port', info.shell_port));
  t.equal(codeOf(r), 'GL_ERR_PORT_DUPLICATE');
  t.equal(fieldOf(r), 'hb_port');
});

t.test('refuses a comm port equal to a kernel port, or not a port', async (t) => {
  const info = sampleConnectionInfo();
  const dup = validateConnectionInfo(info, { extraPorts: { comm_port: info.iopub_port } });
  t.equal(codeOf(dup), 'GL_ERR_PORT_DUPLICATE');
  t.equal(fieldOf(dup), 'comm_port');
  const missing = validateConnectionInfo(info, { extraPorts: { comm_port: undefined } });
  t.equal(codeOf(missing), 'GL_ERR_PORT_INVALID');
  t.equal(fieldOf(missing), 'comm_port');
  const ports = new Set(KERNEL_PORT_FIELDS.map((f) => info[f]));
  let free = 40000;
  while (ports.has(free)) free++;
  t.equal(codeOf(validateConnectionInfo(info, { extraPorts: { comm_port: free } })), 'valid');
});

t.test('refuses a port outside the registered range, the comm port included', async (t) => {
  const info = sampleConnectionInfo(); // ports in 40000..41000
  const range = parsePortRange('40000..41000', { minSize: 1000 });
  t.equal(codeOf(validateConnectionInfo(info, { portRange: range })), 'valid');
  const r = validateConnectionInfo(withField(info, 'control_port', 41001), { portRange: range });
  t.equal(codeOf(r), 'GL_ERR_PORT_OUT_OF_RANGE');
  t.equal(fieldOf(r), 'control_port');
  const comm = validateConnectionInfo(info, { portRange: range, extraPorts: { comm_port: 39999 } });
  t.equal(codeOf(comm), 'GL_ERR_PORT_OUT_OF_RANGE');
  t.equal(fieldOf(comm), 'comm_port');
});

t.test('accepts IPv4 and IPv6 literals and host names as ip', async (t) => {
  const info = sampleConnectionInfo();
  for (const ip of [
    '10.1.2.3',
    '0.0.0.0',
    '::1',
    'fe80::1',
    '::ffff:10.0.0.1',
    'localhost',
    'kernel-0.kernels.svc.cluster.local',
    'node7.',
    'Host-Name',
  ]) {
    t.equal(codeOf(validateConnectionInfo(withField(info, 'ip', ip))), 'valid', ip);
  }
});

t.test('refuses an ip that is neither an address nor a host name', async (t) => {
  const info = sampleConnectionInfo();
  for (const ip of [
    '',
    ' ',
    'has space',
    '-leading.dash',
    'trailing-.dash',
    'a..b',
    'under_score',
    '[::1]',
    '300.1.1.1',
    '10.1',
    '1.2.3.4.5',
    'x'.repeat(64),
    `${'a.'.repeat(127)}bc`,
    42,
    null,
    undefined,
  ]) {
    const r = validateConnectionInfo(withField(info, 'ip', ip));
    t.equal(codeOf(r), 'GL_ERR_IP_INVALID', JSON.stringify(ip) ?? 'undefined');
    t.equal(fieldOf(r), 'ip');
  }
});

t.test('refuses a transport other than tcp or ipc', async (t) => {
  const info = sampleConnectionInfo();
  t.equal(codeOf(validateConnectionInfo(withField(info, 'transport', 'ipc'))), 'valid');
  for (const transport of ['udp', 'TCP', 'tcp ', 6, '']) {
    t.equal(codeOf(validateConnectionInfo(withField(info, 'transport', transport))), 'GL_ERR_TRANSPORT_INVALID', String(transport));
  }
});

t.test('refuses a signature scheme that is not hmac with a supported hash', async (t) => {
  const info = sampleConnectionInfo();
  for (const scheme of ['hmac-sha512', 'hmac-sha1', 'hmac-md5']) {
    t.equal(codeOf(validateConnectionInfo(withField(info, 'signature_scheme', scheme))), 'valid', scheme);
  }
  for (const scheme of ['sha256', 'hmac-', 'hmac-nope', 'HMAC-SHA256', 'hmac-sha256 ', '', 256]) {
    t.equal(codeOf(validateConnectionInfo(withField(info, 'signature_scheme', scheme))), 'GL_ERR_SIGNATURE_SCHEME_INVALID', String(scheme));
    t.notOk(isSupportedSignatureScheme(scheme));
  }
});

t.test('refuses an empty key and one longer than 256 characters, and accepts 256', async (t) => {
  const info = sampleConnectionInfo();
  t.equal(MAX_CONNECTION_KEY_LENGTH, 256);
  t.equal(codeOf(validateConnectionInfo(withField(info, 'key', 'k'.repeat(256)))), 'valid');
  for (const key of ['', 'k'.repeat(257), 42, null, undefined]) {
    const r = validateConnectionInfo(withField(info, 'key', key));
    t.equal(codeOf(r), 'GL_ERR_KEY_INVALID', typeof key === 'string' ? `${key.length} chars` : String(key));
  }
});

t.test('refusals never carry the key itself', async (t) => {
  const info = { ...sampleConnectionInfo(), key: `secret-${'s'.repeat(300)}` };
  const r = validateConnectionInfo(info);
  t.equal(codeOf(r), 'GL_ERR_KEY_INVALID');
  if (!r.ok) t.notMatch(JSON.stringify(r.error.toJSON()) + r.error.message, 'secret-');
});

t.test('refuses something that is not a connection info object', async (t) => {
  for (const value of [null, undefined, [], 'text', 5, [sampleConnectionInfo()]]) {
    t.equal(codeOf(validateConnectionInfo(value)), 'GL_ERR_CONN_INFO_SHAPE', JSON.stringify(value) ?? 'undefined');
  }
  const info = sampleConnectionInfo();
  t.equal(codeOf(validateConnectionInfo(withField(info, 'kernel_name', 7))), 'GL_ERR_CONN_INFO_SHAPE', 'kernel_name not a string');
  t.equal(
    codeOf(validateConnectionInfo(withField(info, 'kernel_name', 'n'.repeat(257)))),
    'GL_ERR_CONN_INFO_SHAPE',
    'kernel_name too long',
  );
});

t.test('assertConnectionInfo throws the GatewayError of the broken rule', async (t) => {
  const info = sampleConnectionInfo();
  t.same(assertConnectionInfo(info), info);
  t.throws(() => assertConnectionInfo(withField(info, 'ip', '')), { name: 'GatewayError', code: 'GL_ERR_IP_INVALID' });
  try {
    assertConnectionInfo(withField(info, 'transport', 'udp'));
    t.fail('did not throw');
  } catch (e) {
    t.ok(e instanceof GatewayError);
  }
});

t.test('redactConnectionInfo hides the key and keeps the rest', async (t) => {
  const info = sampleConnectionInfo();
  const redacted = redactConnectionInfo(info);
  t.equal(redacted.key, '[Redacted]');
  t.same({ ...redacted, key: info.key }, info);
  t.notMatch(JSON.stringify(redacted), info.key);
});

t.test('accepts every connection info the rules allow (property)', async (t) => {
  fc.assert(
    fc.property(arbConnectionInfo, (info) => {
      const r = validateConnectionInfo(info);
      return r.ok && isDeepStrictEqual(r.value, structuredClone(info));
    }),
    { numRuns: 500 },
  );
  t.pass('property held');
});

t.test('a connection file from toConnectionFile loads in jupyter_client with the same fields', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gl-conn-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const infos: ConnectionInfo[] = [
    sampleConnectionInfo(),
    { ...sampleConnectionInfo(), ip: '::1', signature_scheme: 'hmac-sha512' },
    { ...sampleConnectionInfo(), ip: 'kernel-0.kernels.svc.cluster.local', key: 'ключ-🔑' },
  ];
  const paths = infos.map((info, i) => {
    const path = join(dir, `kernel-${i}.json`);
    writeFileSync(path, toConnectionFile(info));
    return path;
  });
  const loaded = JSON.parse(await runPython('jc_connection.py', paths)) as Array<Record<string, unknown>>;
  t.equal(loaded.length, infos.length);
  infos.forEach((info, i) => {
    const { kernel_name: _unused, ...fieldsJupyterReads } = info;
    t.same(loaded[i], fieldsJupyterReads, info.ip);
  });
});

t.test('toConnectionFile writes the standard fields and nothing else', async (t) => {
  const info = sampleConnectionInfo();
  const text = toConnectionFile({ ...info, extra: 'x' } as ConnectionInfo);
  t.ok(text.endsWith('\n'));
  t.same(JSON.parse(text), info);
});
