/**
 * Keeps an idle launcher asleep. Node arms its one libuv timer for the
 * earliest timeout set and does not re-arm it when that timeout is cleared:
 * the process still wakes up at the cleared deadline, finds nothing due, and
 * only then stops the timer. The launcher's start leaves such deadlines
 * behind (the response delivery's 5 s read and connect limits, handoff's
 * launch deadline), so a kernel idling after its start woke the launcher a
 * few seconds later for nothing.
 *
 * @module
 */

/**
 * Fires a timeout at once, so that Node re-arms its timer for the earliest
 * timeout still pending (or for none) now rather than at a cleared deadline.
 * Call it when a phase that set and cleared timeouts is over.
 */
export function disarmStaleTimers(): void {
  setTimeout(() => {}, 0).unref();
}
