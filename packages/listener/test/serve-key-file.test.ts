/**
 * `gateway-listener serve --key-file`: the key pair persisted 0600 and used
 * by the process. The restart-and-adopt behaviour with a real launcher is in
 * test/e2e/serve-adopt.system.test.ts.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keyPairFromSecretKey, fromBase64, toBase64 } from '@gateway-launchers/common';
import { loadOrCreateKeyFile } from '../src/key-file.js';
import { ServeProcess } from './fixtures/serve-process.js';

const LOOPBACK = ['--host', '127.0.0.1', '--port', '0'];

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'gl-serve-'));
}

t.test('--key-file: created 0600 and used, the secret never printed', async (t) => {
  const dir = tempDir();
  const file = join(dir, 'listener-keys.json');
  const first = await ServeProcess.start({ args: [...LOOPBACK, '--key-file', file], env: { LOG_LEVEL: 'trace' } });
  t.teardown(() => first.kill());
  t.equal(statSync(file).mode & 0o777, 0o600, 'mode 0600');
  const content = JSON.parse(readFileSync(file, 'utf8')) as { v: number; x25519_secret_key: string };
  t.equal(content.v, 1);
  const secret = fromBase64(content.x25519_secret_key, 32);
  t.ok(secret, 'a base64 32-byte secret key');
  t.equal(first.ready.public_key, toBase64(keyPairFromSecretKey(secret as Uint8Array).publicKey), 'the listener uses the stored key');
  await first.request('register', { kernel_id: 'k-keys' });
  await first.end();
  t.notOk(first.stdout.includes(content.x25519_secret_key), 'the secret is not on stdout');
  t.notOk(first.stderr.includes(content.x25519_secret_key), 'nor on stderr, even at trace level');
  t.same(readdirSync(dir), ['listener-keys.json'], 'no temporary file left behind');

  // The next run reads the same file (a second process is in test/e2e/serve-adopt.system.test.ts).
  const next = await loadOrCreateKeyFile(file, { legacy: false, v1KeyBits: 2048 });
  t.equal(next.origin, 'loaded');
  t.equal(toBase64(next.keyPair.publicKey), first.ready.public_key, 'the next run has the same key');
});
