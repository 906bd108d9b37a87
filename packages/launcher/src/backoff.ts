/**
 * Exponential backoff with jitter, bounded by a deadline.
 *
 * @module
 */

/** Backoff parameters. */
export interface BackoffOptions {
  /** First delay in ms. */
  readonly initialMs?: number;
  /** Largest delay in ms. */
  readonly maxMs?: number;
  /** Random source in [0,1). */
  readonly random?: () => number;
}

/** Delays of 100, 200, 400 … ms up to 2 s, each scaled by a random factor in [0.5, 1). */
export function* backoffDelays(options: BackoffOptions = {}): Generator<number, never> {
  const initial = options.initialMs ?? 100;
  const max = options.maxMs ?? 2_000;
  const random = options.random ?? Math.random;
  for (let d = initial; ; d = Math.min(max, d * 2)) yield Math.round(d * (0.5 + random() / 2));
}

/** Resolves after `ms`, or early when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
