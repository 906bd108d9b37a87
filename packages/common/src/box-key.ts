/**
 * X25519 public keys as the protocol carries them (base64, canonical), kept
 * apart from the tweetnacl-based envelope code so that classifying a key does
 * not load tweetnacl (the launcher does it before it starts the kernel).
 *
 * @module
 */
import { fromBase64 } from './base64.js';

/** Length of an X25519 public key, in bytes. */
export const BOX_PUBLIC_KEY_BYTES = 32;

/**
 * True when `key` is the canonical encoding of an X25519 public key: a
 * u-coordinate below 2^255 - 19, top bit clear. X25519 ignores the top bit and
 * reduces modulo p, so any other encoding names the same key as a canonical
 * one; refusing them keeps "same bytes" equal to "same key" (a replayed
 * response cannot pass as new by flipping the top bit of its `epk`).
 */
export function isCanonicalBoxPublicKey(key: Uint8Array): boolean {
  if (key.length !== BOX_PUBLIC_KEY_BYTES) return false;
  const top = key[31]!;
  if ((top & 0x80) !== 0) return false;
  if (top !== 0x7f) return true;
  // p = 2^255 - 19 is ed ff … ff 7f little-endian: the key is below p unless
  // bytes 1..30 are all ff and byte 0 is at least ed.
  for (let i = 30; i >= 1; i--) if (key[i] !== 0xff) return true;
  return key[0]! < 0xed;
}

/** Decodes a base64 32-byte X25519 public key in canonical form, or `undefined`. */
export function decodeBoxPublicKey(text: string): Uint8Array | undefined {
  const key = fromBase64(text.trim(), BOX_PUBLIC_KEY_BYTES);
  return key !== undefined && isCanonicalBoxPublicKey(key) ? key : undefined;
}
