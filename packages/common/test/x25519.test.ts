import t from 'tap';
import fc from 'fast-check';
import nacl from 'tweetnacl';
import { boxKeyPairFromSecretKey, boxSharedKey, generateBoxKeyPair } from '../src/x25519.js';
import { generateKeyPair, openResponse, sealResponse, sharedKey } from '../src/envelope-v2.js';
import { sampleSuccess } from './fixtures/samples.js';

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const hex = (b: Uint8Array | undefined): string => (b === undefined ? 'undefined' : Buffer.from(b).toString('hex'));

/** Public keys of small order (RFC 7748 §7 and the curve's 8-torsion): X25519 of any scalar with them is zero. */
const SMALL_ORDER = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map((h) => new Uint8Array(Buffer.from(h, 'hex')));

t.test('a generated key pair is the pair tweetnacl derives from its secret key', async (t) => {
  for (let i = 0; i < 20; i++) {
    const pair = generateBoxKeyPair();
    t.equal(pair.secretKey.length, 32);
    t.equal(hex(pair.publicKey), hex(nacl.box.keyPair.fromSecretKey(pair.secretKey).publicKey));
  }
  t.not(hex(generateBoxKeyPair().secretKey), hex(generateBoxKeyPair().secretKey), 'fresh pairs differ');
});

t.test('public key from any 32-byte secret key: equal to tweetnacl (clamping included)', async (t) => {
  fc.assert(
    fc.property(bytes32, (sk) => hex(boxKeyPairFromSecretKey(sk).publicKey) === hex(nacl.box.keyPair.fromSecretKey(sk).publicKey)),
    { numRuns: 200 },
  );
  t.throws(() => boxKeyPairFromSecretKey(new Uint8Array(31)), /32 bytes/);
});

t.test('shared key: equal to nacl.box.before for real key pairs and for arbitrary peer bytes', async (t) => {
  fc.assert(
    fc.property(bytes32, bytes32, (a, b) => {
      const peer = nacl.box.keyPair.fromSecretKey(b).publicKey;
      return hex(boxSharedKey(peer, a)) === hex(nacl.box.before(peer, a));
    }),
    { numRuns: 200 },
  );
  // Arbitrary 32 bytes as the peer's key (top bit set, values ≥ p): X25519 masks and reduces them alike.
  let compared = 0;
  fc.assert(
    fc.property(bytes32, bytes32, (pk, sk) => {
      const ours = boxSharedKey(pk, sk);
      if (ours === undefined) return true; // a small-order point: checked below
      compared++;
      return hex(ours) === hex(nacl.box.before(pk, sk));
    }),
    { numRuns: 200 },
  );
  t.ok(compared > 190, `compared ${compared} arbitrary peer keys`);
});

t.test('a peer key of small order is refused, not turned into a key anybody can compute', async (t) => {
  const own = generateBoxKeyPair();
  for (const pk of SMALL_ORDER) {
    t.equal(boxSharedKey(pk, own.secretKey), undefined, `refused: ${hex(pk).slice(0, 8)}…`);
    const k1 = sharedKey(pk, own.secretKey);
    const k2 = sharedKey(pk, own.secretKey);
    t.not(hex(k1), hex(nacl.box.before(pk, own.secretKey)), 'sharedKey is not the predictable one');
    t.not(hex(k1), hex(k2), 'and it is fresh each time');
  }
  t.equal(boxSharedKey(new Uint8Array(31), own.secretKey), undefined, 'wrong length');
});

t.test('a response sealed with native keys opens with tweetnacl, and the other way round', async (t) => {
  const listener = generateKeyPair();
  const plaintext = sampleSuccess();
  const sealed = sealResponse(plaintext, listener.publicKey);
  const env = JSON.parse(sealed.text) as { epk: string; nonce: string; box: string };
  const opened = nacl.box.open(
    Buffer.from(env.box, 'base64'),
    Buffer.from(env.nonce, 'base64'),
    Buffer.from(env.epk, 'base64'),
    listener.secretKey,
  );
  t.ok(opened !== null, 'tweetnacl opens what the native key agreement sealed');
  t.same(JSON.parse(Buffer.from(opened!).toString('utf8')), JSON.parse(JSON.stringify(plaintext)));

  const naclListener = nacl.box.keyPair();
  const again = sealResponse(plaintext, naclListener.publicKey);
  const result = openResponse(again.text, naclListener.secretKey);
  t.ok(result.ok, 'and our open accepts a tweetnacl key pair');
});
