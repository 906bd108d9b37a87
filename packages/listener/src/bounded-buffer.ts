/**
 * Bounded accumulation of a message that ends with the stream (a v1 payload,
 * which its launcher ends with EOF, not a newline). Newline-terminated
 * messages go through common's `LineReader` instead.
 *
 * @module
 */

/** Collects bytes until end of stream, refusing more than `limit` bytes. */
export class BoundedBuffer {
  /** Largest total accepted, in bytes. */
  readonly limit: number;
  #chunks: Buffer[] = [];
  #size = 0;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes held so far. */
  get size(): number {
    return this.#size;
  }

  /** Adds a chunk; false when the total now exceeds the limit (the bytes are dropped). */
  push(chunk: Buffer): boolean {
    this.#size += chunk.length;
    if (this.#size > this.limit) {
      this.#chunks = [];
      return false;
    }
    this.#chunks.push(chunk);
    return true;
  }

  /** Everything collected, as one buffer. */
  take(): Buffer {
    const all = this.#chunks.length === 1 ? (this.#chunks[0] as Buffer) : Buffer.concat(this.#chunks, this.#size);
    this.#chunks = [];
    this.#size = 0;
    return all;
  }
}
