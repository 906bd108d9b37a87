/**
 * A queue of small CPU-bound jobs (opening a box, an RSA decryption) run in
 * slices, fair between peers: each peer's jobs run in order, and peers take
 * turns, one job each, so a peer that floods the listener with responses
 * (well-formed ones for a kernel id it has seen in an argv cost a box open
 * each) delays another peer's launch by at most one job per flooding peer.
 * Jobs run in slices: at most `sliceMs` of work per event-loop turn, then it yields with
 * `setImmediate` so the host's timers and I/O run between slices. A burst of
 * 1,000 launches readable in the same poll phase would otherwise run 1,000
 * box opens back to back and stall the host for half a second.
 *
 * Idle, it holds nothing: no timer, no immediate.
 *
 * @module
 */

/** Time-sliced, per-peer round-robin queue of synchronous jobs. */
export class SlicedWorkQueue {
  /** Longest run of jobs per event-loop turn, in ms. */
  readonly sliceMs: number;
  /** Jobs per peer, in order. */
  #byPeer = new Map<string, Array<() => void>>();
  /** Peers with jobs, in turn order. */
  #turns: string[] = [];
  #turnHead = 0;
  #length = 0;
  #scheduled = false;
  readonly #onError: (error: unknown) => void;

  constructor(sliceMs: number, onError: (error: unknown) => void) {
    this.sliceMs = sliceMs;
    this.#onError = onError;
  }

  /** Jobs waiting. */
  get length(): number {
    return this.#length;
  }

  /** Queues `job` for `peer`; it runs in a later turn, after that peer's earlier jobs. */
  push(job: () => void, peer = ''): void {
    const jobs = this.#byPeer.get(peer);
    if (jobs === undefined) {
      this.#byPeer.set(peer, [job]);
      this.#turns.push(peer);
    } else {
      jobs.push(job);
    }
    this.#length++;
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#drain);
    }
  }

  /** Drops every waiting job. */
  clear(): void {
    this.#byPeer = new Map();
    this.#turns = [];
    this.#turnHead = 0;
    this.#length = 0;
  }

  /** The next job: the oldest of the peer whose turn it is. */
  #next(): (() => void) | undefined {
    while (this.#turnHead < this.#turns.length) {
      const peer = this.#turns[this.#turnHead++] as string;
      const jobs = this.#byPeer.get(peer);
      if (jobs === undefined || jobs.length === 0) continue;
      const job = jobs.shift() as () => void;
      if (jobs.length > 0) this.#turns.push(peer);
      else this.#byPeer.delete(peer);
      this.#length--;
      if (this.#turnHead > 1024 && this.#turnHead * 2 > this.#turns.length) {
        this.#turns = this.#turns.slice(this.#turnHead);
        this.#turnHead = 0;
      }
      return job;
    }
    return undefined;
  }

  readonly #drain = (): void => {
    const end = performance.now() + this.sliceMs;
    for (let job = this.#next(); job !== undefined; job = this.#next()) {
      try {
        job();
      } catch (error) {
        this.#onError(error);
      }
      if (performance.now() >= end) break;
    }
    if (this.#length === 0) {
      this.clear();
      this.#scheduled = false;
    } else {
      setImmediate(this.#drain);
    }
  };
}
