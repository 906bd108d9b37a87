/**
 * Strict base64: only canonical encodings are accepted, so that two different
 * texts never decode to the same bytes (a flipped padding bit is refused).
 *
 * @module
 */

const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Encodes bytes as standard base64 with padding. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/**
 * Decodes canonical standard base64, or returns `undefined`. With `length`, the
 * decoded size must be exactly that many bytes.
 */
export function fromBase64(text: unknown, length?: number): Uint8Array | undefined {
  if (typeof text !== 'string' || !B64_RE.test(text)) return undefined;
  const buf = Buffer.from(text, 'base64');
  if (length !== undefined && buf.length !== length) return undefined;
  if (buf.toString('base64') !== text) return undefined;
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
