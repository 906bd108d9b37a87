import t from 'tap';
import fc from 'fast-check';
import nacl from 'tweetnacl';
import { boxBefore, x25519KeyPair, x25519KeyPairFromSecretKey } from '../src/x25519.js';

const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

t.test('a fresh key pair is the pair tweetnacl derives from its secret key', async (t) => {
  for (let i = 0; i < 20; i++) {
    const pair = x25519KeyPair();
    t.equal(pair.secretKey.length, 32);
    t.equal(hex(pair.publicKey), hex(nacl.box.keyPair.fromSecretKey(pair.secretKey).publicKey));
  }
});

t.test('the key pair of a secret key matches tweetnacl for any 32 bytes', async (t) => {
  fc.assert(
    fc.property(
      key32,
      (secret) => hex(x25519KeyPairFromSecretKey(secret).publicKey) === hex(nacl.box.keyPair.fromSecretKey(secret).publicKey),
    ),
    { numRuns: 200 },
  );
  t.pass('200 secret keys agree');
});

t.test('box.before matches tweetnacl for any peer key, canonical or not', async (t) => {
  fc.assert(
    fc.property(key32, key32, (peer, own) => hex(boxBefore(peer, own)) === hex(nacl.box.before(peer, own))),
    { numRuns: 200 },
  );
  t.pass('200 key pairs agree');
});

t.test('box.before matches tweetnacl for small-order peer keys, which OpenSSL refuses', async (t) => {
  const own = nacl.randomBytes(32);
  const one = new Uint8Array(32);
  one[0] = 1;
  for (const peer of [new Uint8Array(32), one]) t.equal(hex(boxBefore(peer, own)), hex(nacl.box.before(peer, own)));
});

t.test('keys of the wrong size are refused', async (t) => {
  t.throws(() => boxBefore(new Uint8Array(31), new Uint8Array(32)));
  t.throws(() => boxBefore(new Uint8Array(32), new Uint8Array(33)));
  t.throws(() => x25519KeyPairFromSecretKey(new Uint8Array(16)));
});
