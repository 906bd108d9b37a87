/**
 * Splits a byte stream (the host's stdin) into newline-terminated lines of at
 * most `limit` bytes. A longer line is reported once, as soon as it exceeds
 * the limit, and its bytes are then dropped up to its newline: an over-long
 * line never sits in memory whole, however long it grows.
 *
 * @module
 */

/** One item found by {@link LineSplitter}. */
export type SplitItem =
  /** A complete line, without its `\n` (and without a `\r` before it). */
  | { readonly kind: 'line'; readonly line: Buffer }
  /** A line grew beyond the limit; `seen` bytes had arrived when it did. Its rest is skipped. */
  | { readonly kind: 'overlong'; readonly seen: number };

/** Bounded line splitter; see the module comment. */
export class LineSplitter {
  /** Largest line kept, in bytes (without the newline). */
  readonly limit: number;
  #parts: Buffer[] = [];
  #size = 0;
  /** True while skipping the rest of an over-long line. */
  #skipping = false;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer');
    this.limit = limit;
  }

  /** Bytes of the unfinished line held now (never more than `limit`). */
  get buffered(): number {
    return this.#size;
  }

  /** Feeds a chunk; returns what it completed, in order. */
  push(chunk: Buffer): SplitItem[] {
    const items: SplitItem[] = [];
    let pos = 0;
    while (pos < chunk.length) {
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
    return items;
  }

  /**
   * At end of input: an unterminated last line is returned as a line (as if
   * the end of input were its newline); nothing when there is none or when it
   * was over-long (already reported).
   */
  end(): SplitItem[] {
    const skipping = this.#skipping;
    this.#skipping = false;
    if (skipping || this.#size === 0) {
      this.#parts = [];
      this.#size = 0;
      return [];
    }
    return [{ kind: 'line', line: this.#take(Buffer.alloc(0)) }];
  }

  #take(last: Buffer): Buffer {
    const all = this.#parts.length === 0 ? last : Buffer.concat([...this.#parts, last], this.#size + last.length);
    this.#parts = [];
    this.#size = 0;
    return all.length > 0 && all[all.length - 1] === 0x0d ? all.subarray(0, all.length - 1) : all;
  }
}
