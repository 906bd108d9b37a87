/**
 * A FIFO of small CPU-bound jobs (opening a box, an RSA decryption) run in
 * slices: at most `sliceMs` of work per event-loop turn, then it yields with
 * `setImmediate` so the host's timers and I/O run between slices. A burst of
 * 1,000 launches readable in the same poll phase would otherwise run 1,000
 * box opens back to back and stall the host for half a second.
 *
 * Idle, it holds nothing: no timer, no immediate.
 *
 * @module
 */

/** Time-sliced FIFO of synchronous jobs. */
export class SlicedWorkQueue {
  /** Longest run of jobs per event-loop turn, in ms. */
  readonly sliceMs: number;
  #jobs: Array<(() => void) | undefined> = [];
  #head = 0;
  #scheduled = false;
  readonly #onError: (error: unknown) => void;

  constructor(sliceMs: number, onError: (error: unknown) => void) {
    this.sliceMs = sliceMs;
    this.#onError = onError;
  }

  /** Jobs waiting. */
  get length(): number {
    return this.#jobs.length - this.#head;
  }

  /** Queues `job`; it runs in a later turn, in order. */
  push(job: () => void): void {
    this.#jobs.push(job);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#drain);
    }
  }

  /** Drops every waiting job. */
  clear(): void {
    this.#jobs = [];
    this.#head = 0;
  }

  readonly #drain = (): void => {
    const end = performance.now() + this.sliceMs;
    while (this.#head < this.#jobs.length) {
      const job = this.#jobs[this.#head];
      this.#jobs[this.#head++] = undefined;
      try {
        job?.();
      } catch (error) {
        this.#onError(error);
      }
      if (performance.now() >= end) break;
    }
    if (this.#head >= this.#jobs.length) {
      this.#jobs = [];
      this.#head = 0;
      this.#scheduled = false;
    } else {
      setImmediate(this.#drain);
    }
  };
}
