/**
 * `gateway-listener serve --key-file --legacy`: the RSA key of protocol v1 is
 * added to the key file (0600) next to the X25519 key and reused by the next run.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toBase64 } from '@gateway-launchers/common';
import { loadOrCreateKeyFile } from '../src/key-file.js';
import { ServeProcess } from './fixtures/serve-process.js';

const LOOPBACK = ['--host', '127.0.0.1', '--port', '0'];

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'gl-serve-'));
}

t.test('--key-file with --legacy stores the RSA key too, and keeps the X25519 key of an existing file', async (t) => {
  const dir = tempDir();
  const file = join(dir, 'keys.json');
  const plain = await loadOrCreateKeyFile(file, { legacy: false, v1KeyBits: 2048 });
  t.equal(plain.v1KeyPair, undefined, 'a file made without --legacy has no RSA key');
  const legacy = await ServeProcess.start({ args: [...LOOPBACK, '--key-file', file, '--legacy'] });
  t.teardown(() => legacy.kill());
  t.equal(legacy.ready.public_key, toBase64(plain.keyPair.publicKey), 'same X25519 key');
  t.match(legacy.ready.v1_public_key, /^MII/, 'an RSA public key (base64 DER)');
  const text = readFileSync(file, 'utf8');
  t.match(text, /rsa_private_key_pem/);
  t.equal(statSync(file).mode & 0o777, 0o600);
  await legacy.request('register', { kernel_id: 'k-v1', protocol: 1 });
  await legacy.end();
  t.notOk(legacy.stderr.includes('PRIVATE KEY') || legacy.stdout.includes('PRIVATE KEY'), 'the RSA key is never printed');
  const again = await loadOrCreateKeyFile(file, { legacy: true, v1KeyBits: 2048 });
  t.equal(again.origin, 'loaded');
  t.equal(again.v1KeyPair?.publicKeyBase64, legacy.ready.v1_public_key, 'the next run reuses the RSA key');
});
