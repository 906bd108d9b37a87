/**
 * Where a usage error can be reported (flags, parsed leniently, and the
 * environment must name a valid kernel id, address, v2 key and launch token),
 * and the report itself, sent in-process to a receiver on loopback.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, isFailureResponse, toBase64 } from '@gateway-launchers/common';
import { parseLoosely } from '../src/cli-args.js';
import { findReportTarget, reportUsageError } from '../src/usage-failure.js';
import { GENEROUS_MS } from './helpers/launcher-process.js';
import { Receiver } from './helpers/receiver.js';

const KEY = toBase64(generateKeyPair().publicKey);
const NAMED = ['--kernel-id', 'k1', '--response-address', '127.0.0.1:9', '--public-key', KEY];
const TOKEN = { KERNEL_LAUNCH_TOKEN: 'tok' };

function target(argv: readonly string[], env: NodeJS.ProcessEnv) {
  return findReportTarget(parseLoosely(argv), env);
}

t.test('a target when flags and environment name every part validly, whatever else is wrong', async (t) => {
  const found = target([...NAMED, '--mode', 'sideways', '--bogus', '--', 'k'], TOKEN);
  t.match(found, { kernelId: 'k1', address: { scheme: 'tcp', host: '127.0.0.1', port: 9 }, token: 'tok' });
  t.same(found?.publicKey, decodeKey(KEY), 'the listener key');
  t.match(
    target(['--RemoteProcessProxy.kernel-id', 'k1', '--RemoteProcessProxy.response-address', 'ws://127.0.0.1:9/r'], {
      ...TOKEN,
      KERNEL_PUBLIC_KEY: KEY,
    }),
    { kernelId: 'k1', address: { scheme: 'ws' } },
    'GP spellings and the environment',
  );
  const dir = mkdtempSync(join(tmpdir(), 'gl-usage-'));
  const file = join(dir, 'token');
  writeFileSync(file, 'from-file\n', { mode: 0o600 });
  t.match(target([...NAMED, '--launch-token-file', file], {}), { token: 'from-file' }, 'the token file, trimmed');
});

function decodeKey(base64: string): Uint8Array {
  return new Uint8Array(Buffer.from(base64, 'base64'));
}

t.test('no target when a part is missing or not valid', async (t) => {
  const cases: Array<[string, string[], NodeJS.ProcessEnv]> = [
    ['no kernel id', NAMED.slice(2), TOKEN],
    ['an invalid kernel id', ['--kernel-id', 'bad id!', ...NAMED.slice(2)], TOKEN],
    ['no response address', [...NAMED.slice(0, 2), ...NAMED.slice(4)], TOKEN],
    ['an invalid response address', [...NAMED.slice(0, 2), '--response-address', 'nohost', ...NAMED.slice(4)], TOKEN],
    ['no public key', NAMED.slice(0, 4), TOKEN],
    ['a key that is not a v2 key (v1 has no failure response)', [...NAMED.slice(0, 4), '--public-key', 'bm90IGEga2V5'], TOKEN],
    ['no launch token', NAMED, {}],
    ['a malformed launch token', NAMED, { KERNEL_LAUNCH_TOKEN: 'a b' }],
    ['an unreadable token file', [...NAMED, '--launch-token-file', '/nonexistent/token'], TOKEN],
  ];
  for (const [name, argv, env] of cases) t.equal(target(argv, env), undefined, name);
});

t.test('reportUsageError sends the line as a failure response with exit code 2 and resolves the address', async (t) => {
  const receiver = await Receiver.start();
  t.teardown(() => receiver.close());
  const argv = ['--kernel-id', 'k-report', '--response-address', receiver.address, '--public-key', receiver.publicKey, '--bogus'];
  const line = 'gateway-launcher: Unknown argument: bogus [GL_ERR_USAGE] (see --help)\u0007';
  const [reported, { plaintext }] = await Promise.all([
    reportUsageError(line, argv, { KERNEL_LAUNCH_TOKEN: receiver.token }),
    receiver.next(GENEROUS_MS),
  ]);
  t.match(reported, { href: receiver.address });
  t.ok(isFailureResponse(plaintext));
  t.match(plaintext, {
    kernel_id: 'k-report',
    token: receiver.token,
    pid: 0,
    failure: { exit_code: 2, signal: null, stderr_tail: `${line.slice(0, -1)}\uFFFD` },
  });
});

t.test('reportUsageError resolves undefined with nowhere to report, and when a stop cuts a report short', async (t) => {
  t.equal(await reportUsageError('x', ['--kernel-id', 'k1'], TOKEN), undefined, 'nowhere');
  const abort = new AbortController();
  abort.abort();
  t.equal(await reportUsageError('x', NAMED, TOKEN, abort.signal), undefined, 'aborted');
});
