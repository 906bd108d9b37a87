/**
 * The key agreement of NaCl's `box`, computed by OpenSSL through `node:crypto`.
 *
 * tweetnacl does X25519 in JavaScript: one scalar multiplication costs
 * 15–40 ms of CPU in a freshly started process (before V8 has optimised the
 * field arithmetic) and leaves tens of MiB of short-lived `Float64Array`s for
 * the collector. The launcher needs two before it starts the kernel (an
 * ephemeral key pair and its shared key with the listener), and the listener
 * one per response it opens. Natively each takes a few microseconds.
 *
 * The results are byte for byte tweetnacl's: `generateBoxKeyPair` and
 * `boxKeyPairFromSecretKey` give what `nacl.box.keyPair()` and
 * `nacl.box.keyPair.fromSecretKey()` give, and `boxSharedKey(pk, sk)` equals
 * `nacl.box.before(pk, sk)` (X25519, then HSalsa20 with a zero nonce) — checked
 * against tweetnacl by the tests. The symmetric part (XSalsa20-Poly1305)
 * stays tweetnacl's.
 *
 * One difference, deliberate: for a public key of small order the X25519
 * result is all zeros, which tweetnacl turns into a key anybody can compute;
 * OpenSSL refuses it, and `boxSharedKey` returns `undefined` for the caller to
 * refuse the message.
 *
 * @module
 */
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import nacl from 'tweetnacl';

/** An X25519 key pair (32-byte raw keys, as tweetnacl holds them). */
export interface BoxKeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

/** DER prefix of a PKCS#8 X25519 private key; the 32 raw bytes follow. */
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
/** DER prefix of an SPKI X25519 public key; the 32 raw bytes follow. */
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');
const KEY_BYTES = 32;
/** HSalsa20's constant, "expand 32-byte k". */
const SIGMA = Buffer.from('expand 32-byte k', 'latin1');
const ZERO_NONCE = new Uint8Array(16);

type HSalsa20 = (out: Uint8Array, input: Uint8Array, key: Uint8Array, constant: Uint8Array) => number;
/** tweetnacl's HSalsa20 core (exported as `lowlevel`, not in its typings). */
const hsalsa20 = (nacl as unknown as { lowlevel: { crypto_core_hsalsa20: HSalsa20 } }).lowlevel.crypto_core_hsalsa20;

function privateKeyObject(secretKey: Uint8Array): KeyObject {
  if (secretKey.length !== KEY_BYTES) throw new TypeError(`an X25519 secret key has ${KEY_BYTES} bytes, not ${secretKey.length}`);
  return createPrivateKey({ key: Buffer.concat([PKCS8_X25519, secretKey]), format: 'der', type: 'pkcs8' });
}

function rawPublicKey(key: KeyObject): Uint8Array {
  return new Uint8Array(key.export({ format: 'der', type: 'spki' }).subarray(SPKI_X25519.length));
}

/** A fresh X25519 key pair from the system's random source. */
export function generateBoxKeyPair(): BoxKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  const secretKey = new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_X25519.length));
  return { publicKey: rawPublicKey(publicKey), secretKey };
}

/** The key pair whose secret key is `secretKey` (any 32 bytes; X25519 clamps them). */
export function boxKeyPairFromSecretKey(secretKey: Uint8Array): BoxKeyPair {
  return { publicKey: rawPublicKey(createPublicKey(privateKeyObject(secretKey))), secretKey: new Uint8Array(secretKey) };
}

/**
 * The precomputed key of `nacl.box` between `peerPublicKey` and
 * `ownSecretKey`, or `undefined` when the peer's key is refused (wrong length,
 * or of small order).
 */
export function boxSharedKey(peerPublicKey: Uint8Array, ownSecretKey: Uint8Array): Uint8Array | undefined {
  if (peerPublicKey.length !== KEY_BYTES || ownSecretKey.length !== KEY_BYTES) return undefined;
  let secret: Buffer;
  try {
    const publicKey = createPublicKey({ key: Buffer.concat([SPKI_X25519, peerPublicKey]), format: 'der', type: 'spki' });
    secret = diffieHellman({ privateKey: privateKeyObject(ownSecretKey), publicKey });
  } catch {
    return undefined;
  }
  const shared = new Uint8Array(KEY_BYTES);
  hsalsa20(shared, ZERO_NONCE, secret, SIGMA);
  secret.fill(0);
  return shared;
}
