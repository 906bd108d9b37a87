/**
 * `ws` hands a message over as a Buffer, an ArrayBuffer or an array of
 * fragments, depending on the socket's `binaryType`: one function makes it a
 * Buffer for every reader of WebSocket frames in the listener.
 *
 * @module
 */
import type { RawData } from 'ws';

/** The message's bytes as one Buffer (no copy when it already is one). */
export function rawToBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
