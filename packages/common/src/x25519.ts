/**
 * The X25519 half of NaCl's `box` (key pairs and `box.before`) computed by
 * Node's crypto (OpenSSL) instead of tweetnacl's JavaScript. Same bytes as
 * tweetnacl (the tests compare them), at a fraction of the cost: tweetnacl's
 * scalar multiplication is hot enough for V8's optimizing compiler, and a
 * launcher sealing its first response spent ≈ 70 ms of CPU and ≈ 8 MiB of
 * peak RSS on it; OpenSSL takes well under a millisecond and no extra memory.
 * The symmetric half (XSalsa20-Poly1305, HSalsa20) stays with tweetnacl.
 *
 * @module
 */
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto';
import nacl from 'tweetnacl';

/** An X25519 key pair, 32 bytes each, as tweetnacl's `box.keyPair` returns. */
export interface X25519KeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

// DER prefixes of an X25519 key (RFC 8410): the raw 32 bytes follow them.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const KEY_BYTES = 32;

/** HSalsa20 as tweetnacl's (untyped) low-level API exposes it. */
interface NaclLowLevel {
  crypto_core_hsalsa20(out: Uint8Array, input: Uint8Array, key: Uint8Array, constant: Uint8Array): number;
}
const lowlevel = (nacl as unknown as { lowlevel: NaclLowLevel }).lowlevel;
const SIGMA = new Uint8Array(Buffer.from('expand 32-byte k', 'latin1'));
const ZERO_16 = new Uint8Array(16);

function privateKeyOf(secretKey: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, secretKey]), format: 'der', type: 'pkcs8' });
}

function rawPublicKey(key: KeyObject): Uint8Array {
  return new Uint8Array(key.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length));
}

/** A fresh key pair (`nacl.box.keyPair()`). */
export function x25519KeyPair(): X25519KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const secretKey = new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length));
  return { publicKey: rawPublicKey(publicKey), secretKey };
}

/** The key pair of a 32-byte secret key (`nacl.box.keyPair.fromSecretKey`). */
export function x25519KeyPairFromSecretKey(secretKey: Uint8Array): X25519KeyPair {
  if (secretKey.length !== KEY_BYTES) throw new Error('bad secret key size');
  return { publicKey: rawPublicKey(createPublicKey(privateKeyOf(secretKey))), secretKey: new Uint8Array(secretKey) };
}

/**
 * `nacl.box.before(peerPublicKey, ownSecretKey)`: HSalsa20 of the X25519
 * shared secret. OpenSSL refuses a peer key of small order (an all-zero
 * shared secret); tweetnacl computes that case, and so does this function
 * by deferring to it, so the result never differs from tweetnacl's.
 */
export function boxBefore(peerPublicKey: Uint8Array, ownSecretKey: Uint8Array): Uint8Array {
  if (peerPublicKey.length !== KEY_BYTES || ownSecretKey.length !== KEY_BYTES) throw new Error('bad key size');
  let shared: Buffer;
  try {
    const publicKey = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, peerPublicKey]), format: 'der', type: 'spki' });
    shared = diffieHellman({ privateKey: privateKeyOf(ownSecretKey), publicKey });
  } catch {
    return nacl.box.before(peerPublicKey, ownSecretKey);
  }
  const key = new Uint8Array(KEY_BYTES);
  lowlevel.crypto_core_hsalsa20(key, ZERO_16, shared, SIGMA);
  return key;
}
