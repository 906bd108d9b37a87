/**
 * Bounded accumulation of a newline-terminated message from a stream. Each
 * chunk is scanned once, so the work per connection stays linear in the bytes
 * received and never exceeds the limit.
 *
 * @module
 */

/** What {@link BoundedLineReader.push} found. */
export type LineReadResult =
  | { readonly kind: 'line'; readonly line: Buffer; readonly rest: Buffer }
  | { readonly kind: 'overflow'; readonly size: number }
  | { readonly kind: 'more' };

/**
 * Collects bytes until the first `\n`. A line (without its `\n`) longer than
 * `limit` bytes, or more than `limit` bytes without a newline, is an overflow.
 */
export class BoundedLineReader {
  /** Largest line accepted, in bytes. */
  readonly limit: number;
  #chunks: Buffer[] = [];
  #size = 0;
  #done = false;

  constructor(limit: number) {
    this.limit = limit;
  }

  /** Bytes held so far. */
  get size(): number {
    return this.#size;
  }

  /** Adds a chunk. After a `line` or `overflow` result the reader ignores further input. */
  push(chunk: Buffer): LineReadResult {
    if (this.#done) return { kind: 'more' };
    const nl = chunk.indexOf(0x0a);
    if (nl >= 0) {
      const size = this.#size + nl;
      this.#done = true;
      if (size > this.limit) return this.#overflow(size);
      const line = this.#chunks.length === 0 ? chunk.subarray(0, nl) : Buffer.concat([...this.#chunks, chunk.subarray(0, nl)], size);
      this.#chunks = [];
      this.#size = 0;
      return { kind: 'line', line, rest: chunk.subarray(nl + 1) };
    }
    this.#size += chunk.length;
    if (this.#size > this.limit) {
      this.#done = true;
      return this.#overflow(this.#size);
    }
    this.#chunks.push(chunk);
    return { kind: 'more' };
  }

  /** At end of stream: whatever was collected (the unterminated line), and resets. */
  end(): Buffer {
    const all = Buffer.concat(this.#chunks, this.#size);
    this.#chunks = [];
    this.#size = 0;
    this.#done = true;
    return all;
  }

  #overflow(size: number): LineReadResult {
    this.#chunks = [];
    this.#size = 0;
    return { kind: 'overflow', size };
  }
}

/**
 * Collects bytes until end of stream (v1 payloads, which end with EOF),
 * refusing more than `limit` bytes.
 */
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
