/**
 * The one shape check every validator starts with, and the one bounded parse
 * of a JSON object from the network, a pipe or a file.
 *
 * @module
 */

/** True for a plain JSON object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * What {@link parseJsonObject} found. A failure names its reason only: each
 * caller answers with its own error code.
 */
export type JsonObjectResult =
  | { readonly ok: true; readonly value: Record<string, unknown> }
  /** More than `limit` bytes (UTF-8): not parsed at all. */
  | { readonly ok: false; readonly reason: 'too-large'; readonly size: number; readonly limit: number }
  /** Not JSON text. */
  | { readonly ok: false; readonly reason: 'not-json' }
  /** JSON, but not an object: `value` is what it is (an array, a string, null…). */
  | { readonly ok: false; readonly reason: 'not-object'; readonly value: unknown };

/**
 * Parses `input` (UTF-8 bytes, or text) as one JSON object, refusing more than
 * `limit` bytes before parsing. Bytes are decoded leniently (an invalid
 * sequence becomes U+FFFD); a caller that must refuse invalid UTF-8 decodes
 * strictly itself and passes the text.
 */
export function parseJsonObject(input: string | Uint8Array, limit: number): JsonObjectResult {
  const size = typeof input === 'string' ? Buffer.byteLength(input, 'utf8') : input.byteLength;
  if (size > limit) return { ok: false, reason: 'too-large', size, limit };
  const text = typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not-json' };
  }
  return isRecord(value) ? { ok: true, value } : { ok: false, reason: 'not-object', value };
}
