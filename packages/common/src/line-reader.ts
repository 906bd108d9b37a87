/**
 * Bounded splitting of a byte stream into newline-terminated lines: the one
 * line reader of the launcher and the listener (a v2 response or control
 * message on a socket, a host's JSON-RPC requests on stdin, a bootstrap's
 * status line on a pipe).
 *
 * Lines are cut on bytes, before any decoding, so a UTF-8 character split
 * across chunks arrives whole. A line longer than the caller's limit is
 * reported as soon as it exceeds it, and its bytes are then dropped up to its
 * newline: an over-long line never sits in memory whole, however long it
 * grows. Each byte is scanned once.
 *
 * @module
 */

/** One item found by {@link LineReader}. */
export type LineItem =
  /** A complete line, without its `\n` (and without a `\r` before it when `stripCr`). */
  | { readonly kind: 'line'; readonly line: Buffer }
  /** A line grew beyond the limit; `seen` bytes of it had arrived when it did. Its rest is skipped. */
  | { readonly kind: 'overlong'; readonly seen: number };

/** Options of {@link LineReader}. */
export interface LineReaderOptions {
  /** Drop one `\r` before each `\n` (CRLF input). Default false. The `\r` counts toward the limit either way. */
  readonly stripCr?: boolean;
}

/** Bounded line reader; see the module comment. */
export class LineReader {
  /** Largest line kept, in bytes (without the newline). */
  readonly limit: number;
  readonly #stripCr: boolean;
  #parts: Buffer[] = [];
  #size = 0;
  /** True while skipping the rest of an over-long line. */
  #skipping = false;
  /** Set by {@link LineReader.first} once it returned an item: later input is ignored. */
  #finished = false;

  /** @param limit - largest line kept, in bytes: a positive integer. */
  constructor(limit: number, options: LineReaderOptions = {}) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer');
    this.limit = limit;
    this.#stripCr = options.stripCr === true;
  }

  /** Bytes of the unfinished line held now (never more than `limit`). */
  get buffered(): number {
    return this.#size;
  }

  /** Feeds a chunk of a stream of lines; returns what it completed, in order. */
  push(chunk: Buffer): LineItem[] {
    const items: LineItem[] = [];
    if (!this.#finished) this.#scan(chunk, items, Number.POSITIVE_INFINITY);
    return items;
  }

  /**
   * Feeds a chunk of a stream that carries one message: returns the first
   * item (a line, or the report that it is over-long) once it is complete, and
   * undefined before. After an item the reader is finished: it ignores any
   * further input, and {@link LineReader.end} returns nothing.
   */
  first(chunk: Buffer): LineItem | undefined {
    if (this.#finished) return undefined;
    const items: LineItem[] = [];
    this.#scan(chunk, items, 1);
    const item = items[0];
    if (item !== undefined) this.#finish();
    return item;
  }

  /**
   * At end of input: an unterminated last line is returned as a line (as if
   * the end of input were its newline); nothing when there is none, when it
   * was over-long (already reported), or once {@link LineReader.first} returned.
   */
  end(): LineItem[] {
    const skipping = this.#skipping;
    const finished = this.#finished;
    if (skipping || finished || this.#size === 0) {
      this.#finish();
      return [];
    }
    const line = this.#take(Buffer.alloc(0));
    this.#finish();
    return [{ kind: 'line', line }];
  }

  #scan(chunk: Buffer, items: LineItem[], max: number): void {
    let pos = 0;
    while (pos < chunk.length && items.length < max) {
      const nl = chunk.indexOf(0x0a, pos);
      const end = nl < 0 ? chunk.length : nl;
      if (this.#skipping) {
        if (nl >= 0) this.#skipping = false;
      } else if (this.#size + (end - pos) > this.limit) {
        items.push({ kind: 'overlong', seen: this.#size + (end - pos) });
        this.#parts = [];
        this.#size = 0;
        this.#skipping = nl < 0;
      } else if (nl < 0) {
        // Copied: holding a slice would keep the whole (up to 64 KiB) chunk alive.
        this.#parts.push(Buffer.from(chunk.subarray(pos)));
        this.#size += end - pos;
      } else {
        items.push({ kind: 'line', line: this.#take(chunk.subarray(pos, end)) });
      }
      if (nl < 0) break;
      pos = nl + 1;
    }
  }

  #take(last: Buffer): Buffer {
    const all = this.#parts.length === 0 ? last : Buffer.concat([...this.#parts, last], this.#size + last.length);
    this.#parts = [];
    this.#size = 0;
    return this.#stripCr && all.length > 0 && all[all.length - 1] === 0x0d ? all.subarray(0, all.length - 1) : all;
  }

  #finish(): void {
    this.#finished = true;
    this.#skipping = false;
    this.#parts = [];
    this.#size = 0;
  }
}
