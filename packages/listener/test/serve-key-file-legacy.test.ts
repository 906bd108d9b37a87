/**
 * `gateway-listener serve --key-file --legacy`: the RSA key of protocol v1 is
 * added to the key file (0600) next to the X25519 key and reused by the next run.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServeProcess } from './fixtures/serve-process.js';

const LOOPBACK = ['--host', '127.0.0.1', '--port', '0'];

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'gl-serve-'));
}

t.test('--key-file with --legacy stores the RSA key too, and keeps the X25519 key of an existing file', async (t) => {
  const dir = tempDir();
  const file = join(dir, 'keys.json');
  const plain = await ServeProcess.start({ args: [...LOOPBACK, '--key-file', file] });
  t.teardown(() => plain.kill());
  t.equal(plain.ready.v1_public_key, null);
  await plain.end();
  const legacy = await ServeProcess.start({ args: [...LOOPBACK, '--key-file', file, '--legacy'] });
  t.teardown(() => legacy.kill());
  t.equal(legacy.ready.public_key, plain.ready.public_key, 'same X25519 key');
  t.match(legacy.ready.v1_public_key, /^MII/, 'an RSA public key (base64 DER)');
  const text = readFileSync(file, 'utf8');
  t.match(text, /rsa_private_key_pem/);
  t.equal(statSync(file).mode & 0o777, 0o600);
  await legacy.request('register', { kernel_id: 'k-v1', protocol: 1 });
  await legacy.end();
  t.notOk(legacy.stderr.includes('PRIVATE KEY') || legacy.stdout.includes('PRIVATE KEY'), 'the RSA key is never printed');
  const again = await ServeProcess.start({ args: [...LOOPBACK, '--key-file', file, '--legacy'] });
  t.teardown(() => again.kill());
  t.equal(again.ready.v1_public_key, legacy.ready.v1_public_key, 'the RSA key is reused');
  await again.end();
});
