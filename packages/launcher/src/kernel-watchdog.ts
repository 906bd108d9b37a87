/**
 * A watchdog that is not the launcher: a `/bin/sh` in its own session that
 * holds the read end of a pipe from the launcher. When the launcher dies
 * without saying goodbye (SIGKILL, OOM killer), the pipe hits end of file and
 * the watchdog kills the kernel's process group (the kernel's children: a
 * shell, a JVM, a `sleep`; `setpriv --pdeathsig` only reaches the kernel
 * itself) and removes the private directory holding the connection file (the
 * HMAC key). On a normal exit the launcher has done both itself and tells the
 * watchdog to stand down, so it never signals a process group number that may
 * have been reused.
 *
 * A shell rather than a second Node process: it costs about 1 MB instead of
 * 40 MB for the kernel's lifetime. It is started in its own session so that a
 * signal to the launcher's process group (a terminal's Ctrl-C, a resource
 * manager's group kill) does not take it along before it has done its job.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

/** The POSIX shell the watchdog and the kernel's start gate run in (undefined off POSIX). */
export const SHELL = ['/bin/sh', '/usr/bin/sh'].find((p) => existsSync(p));

/**
 * The watchdog's script. `$1` is the directory to remove. Lines on stdin:
 * `pgid N` (the kernel's current process group) and `done` (stand down).
 * End of file without `done`: the launcher is gone, clean up after it.
 */
const SCRIPT = [
  'pg=',
  'while IFS= read -r line; do',
  '  case $line in',
  '    "pgid "*) pg=${line#pgid } ;;',
  '    done) exit 0 ;;',
  '  esac',
  'done',
  'if [ -n "$pg" ]; then kill -KILL "-$pg" 2>/dev/null; fi',
  'rm -rf -- "$1"',
].join('\n');

/** Handle of a running watchdog. Methods never throw. */
export class KernelWatchdog {
  readonly #child: ChildProcess | undefined;
  #closed = false;

  private constructor(child: ChildProcess | undefined) {
    this.#child = child;
  }

  /**
   * Starts a watchdog guarding `dir` (removed if the launcher dies). Without
   * a POSIX shell (not Linux/macOS) it does nothing.
   */
  static start(dir: string): KernelWatchdog {
    if (SHELL === undefined) return new KernelWatchdog(undefined);
    let child: ChildProcess;
    try {
      child = spawn(SHELL, ['-c', SCRIPT, 'gateway-launcher-watchdog', dir], {
        detached: true, // own session: not reached by signals to the launcher's group
        stdio: ['pipe', 'ignore', 'ignore'],
      });
    } catch {
      return new KernelWatchdog(undefined);
    }
    child.on('error', () => {});
    child.stdin?.on('error', () => {});
    // Neither the process nor the pipe keeps the launcher's event loop alive.
    child.unref();
    (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    return new KernelWatchdog(child);
  }

  /** The watchdog's pid (tests, diagnostics). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /**
   * The kernel now runs as process group `pgid` (its pid: it is a session
   * leader). `then` runs once the line is in the watchdog's pipe (or at once
   * when there is no watchdog to tell): from then on, a launcher killed
   * outright leaves the group to the watchdog, so that is when the kernel may
   * start (see the start gate in kernel-process.ts).
   */
  watch(pgid: number | undefined, then: () => void = () => {}): void {
    if (pgid === undefined || !this.#send(`pgid ${pgid}\n`, then)) then();
  }

  /** The launcher has stopped the kernel and removed the directory itself: the watchdog exits. */
  standDown(): void {
    if (this.#closed) return;
    this.#send('done\n');
    this.#closed = true;
    this.#child?.stdin?.end();
  }

  /** Writes `line`; `done` runs once it is written (or failed). False, and `done` not called, when there is no pipe. */
  #send(line: string, done: () => void = () => {}): boolean {
    const stdin = this.#child?.stdin;
    if (this.#closed || stdin === undefined || stdin === null || stdin.destroyed) return false;
    stdin.write(line, () => done());
    return true;
  }
}
