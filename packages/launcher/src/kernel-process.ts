/**
 * The kernel child process: spawned in its own process group, stdout passed
 * through, stderr passed through while its last bytes are kept for failure
 * reports. Always reaped by Node, so the kernel never waits on a zombie.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { STDERR_TAIL_BYTES } from '@gateway-launchers/common/limits';
import { SHELL, type KernelWatchdog } from './kernel-watchdog.js';

/** util-linux's `setpriv`, when present: it sets the kernel's parent-death signal, then execs it. */
const PDEATHSIG_WRAPPER = process.platform === 'linux' ? ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p)) : undefined;

/**
 * The kernel's start gate: the first program in the kernel's process, it
 * waits for a `go` line on stdin before it execs the kernel (through
 * `setpriv`), with stdin then /dev/null as before. The launcher sends `go`
 * only once the watchdog has the kernel's process group, so a launcher killed
 * outright at any moment leaves nothing: before `go` the gate reads end of
 * file and exits without starting anything; after it the watchdog kills the
 * group. Without the gate there was a window: the launcher killed between the
 * spawn and its line to the watchdog, while `setpriv` had not yet armed the
 * parent-death signal, left the kernel running with nobody to stop it.
 */
const START_GATE = ['IFS= read -r go && [ "$go" = go ] || exit 125', 'exec "$@" </dev/null'].join('\n');

/**
 * ipykernel prints a connection banner ("To connect another client to this
 * kernel, use: --existing …") on its stdout, which is the launcher's, unless
 * it has a parent handle. `JPY_PARENT_PID=1` is the value that gives it one
 * without starting its parent poller (it never polls PID 1): the launcher
 * already supervises the kernel, and the banner names a file nobody else has.
 * Other kernels ignore the variable.
 */
const NO_PARENT_POLL = '1';

/** How the kernel ended. */
export interface KernelExit {
  /** Exit code, or null when killed by a signal or never started. */
  readonly exitCode: number | null;
  /** Signal that ended it, or null. */
  readonly signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (ENOENT, EACCES). */
  readonly spawnError?: string;
}

/** The exit status a launcher should end with: the code, 128+signal, or 1 when it never ran. */
export function exitStatusOf(exit: KernelExit): number {
  if (exit.exitCode !== null) return exit.exitCode;
  if (exit.signal !== null) return 128 + (constants.signals[exit.signal] ?? 0);
  return 1;
}

/** Keeps the last `limit` bytes written to it. */
export class TailBuffer {
  #chunks: Buffer[] = [];
  #size = 0;
  readonly #limit: number;
  constructor(limit: number) {
    this.#limit = limit;
  }
  /** Appends a chunk, dropping the oldest bytes beyond twice the limit. */
  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    if (this.#size > 2 * this.#limit) this.#compact();
  }
  #compact(): void {
    const all = Buffer.concat(this.#chunks);
    const tail = all.subarray(Math.max(0, all.length - this.#limit));
    this.#chunks = [Buffer.from(tail)];
    this.#size = tail.length;
  }
  /** The last `limit` bytes as UTF-8 (a split character at the start is dropped). */
  toString(): string {
    this.#compact();
    return (this.#chunks[0] ?? Buffer.alloc(0)).toString('utf8').replace(/^\uFFFD+/, '');
  }
}

/** Options of {@link KernelProcess.spawn}. */
export interface KernelSpawnOptions {
  readonly env: NodeJS.ProcessEnv;
  /** Where kernel stderr is copied to (default: our stderr). */
  readonly stderr?: NodeJS.WritableStream;
  /**
   * Further descriptors for the kernel, after stdin, stdout and stderr (so
   * the first is fd 3 in the kernel): an open descriptor of ours it inherits,
   * or `'pipe'` for a pipe the launcher reads ({@link KernelProcess.extraOutput}).
   */
  readonly extraStdio?: ReadonlyArray<number | 'pipe'>;
  /** Variables added to `env` for this kernel only (no secrets: they show in /proc/<pid>/environ). */
  readonly extraEnv?: Readonly<Record<string, string>>;
  /** Told the kernel's process group, to kill it if the launcher dies outright. */
  readonly watchdog?: KernelWatchdog;
}

/** A running (or finished) kernel process. */
export class KernelProcess {
  readonly #child: ChildProcess;
  readonly #tail = new TailBuffer(STDERR_TAIL_BYTES);
  readonly #stderrListeners = new Set<(chunk: Buffer) => void>();
  #exit: KernelExit | undefined;
  /** Resolves once the process has exited and been reaped. */
  readonly exited: Promise<KernelExit>;

  private constructor(child: ChildProcess, stderr: NodeJS.WritableStream) {
    this.#child = child;
    let forward = true;
    child.stderr?.on('data', (chunk: Buffer) => {
      this.#tail.push(chunk);
      for (const listener of this.#stderrListeners) listener(chunk);
      // After a write error (our stderr's reader is gone) the tail is still kept for failure reports.
      if (forward) {
        stderr.write(chunk, (err) => {
          if (err) forward = false;
        });
      }
    });
    this.exited = new Promise((resolve) => {
      child.on('error', (err: NodeJS.ErrnoException) => {
        // Only spawn failures reach here before 'exit'; later errors (kill) are ignored.
        if (child.pid === undefined && this.#exit === undefined) {
          this.#exit = { exitCode: null, signal: null, spawnError: `${err.code ?? 'error'}: ${err.message}` };
          this.#tail.push(Buffer.from(`cannot start kernel: ${err.message}\n`));
          resolve(this.#exit);
        }
      });
      child.once('close', (exitCode, signal) => {
        if (this.#exit !== undefined) return;
        this.#exit = { exitCode, signal };
        resolve(this.#exit);
      });
    });
  }

  /**
   * Starts `argv` in a new process group (session). Spawn failures surface
   * through {@link exited}. On Linux with util-linux's `setpriv`, the kernel is
   * started with a parent-death signal (SIGKILL): if the launcher itself is
   * killed outright (YARN's NodeManager sends SIGKILL 250 ms after SIGTERM by
   * default), the kernel does not live on as an orphan. The start gate and
   * `setpriv` exec the kernel, so the pid is the kernel's. The kernel itself
   * starts only once the watchdog knows its process group (see {@link START_GATE}).
   */
  static spawn(argv: readonly string[], options: KernelSpawnOptions): KernelProcess {
    const wrapped = PDEATHSIG_WRAPPER === undefined ? argv : [PDEATHSIG_WRAPPER, '--pdeathsig', 'KILL', '--', ...argv];
    const [file, ...args] = SHELL === undefined ? wrapped : [SHELL, '-c', START_GATE, 'gateway-launcher-gate', ...wrapped];
    const child = spawn(file as string, args, {
      env: { ...options.env, ...options.extraEnv, JPY_PARENT_PID: options.env.JPY_PARENT_PID ?? NO_PARENT_POLL },
      detached: true, // setsid: own process group, so group signals reach the kernel's children too
      stdio: [SHELL === undefined ? 'ignore' : 'pipe', 'inherit', 'pipe', ...(options.extraStdio ?? [])],
    });
    const gate = child.stdin;
    gate?.on('error', () => {}); // the gate gone (killed, spawn failure): its exit is reported through `exited`
    const open = (): void => {
      if (gate !== null && !gate.destroyed) gate.end('go\n');
    };
    if (options.watchdog === undefined) open();
    else options.watchdog.watch(child.pid, open);
    return new KernelProcess(child, options.stderr ?? process.stderr);
  }

  /** Kernel pid (undefined when it never started). */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** True until the process has exited. */
  get running(): boolean {
    return this.#exit === undefined && this.#child.pid !== undefined;
  }

  /** How it ended, once it has. */
  get exit(): KernelExit | undefined {
    return this.#exit;
  }

  /** The launcher's end of the `'pipe'` at `extraStdio[index]` (kernel fd `3 + index`), if it is one. */
  extraOutput(index: number): Readable | undefined {
    const stream = this.#child.stdio[3 + index];
    return stream !== null && stream !== undefined && 'read' in stream ? (stream as Readable) : undefined;
  }

  /** Calls `listener` with each chunk the kernel writes to stderr from now on; returns the unsubscribe function. */
  onStderr(listener: (chunk: Buffer) => void): () => void {
    this.#stderrListeners.add(listener);
    return () => this.#stderrListeners.delete(listener);
  }

  /** The last 8 KiB of the kernel's stderr. */
  stderrTail(): string {
    return this.#tail.toString();
  }

  /** Sends `signal` to the kernel process alone (not its children); false when it is gone. */
  signalKernel(signal: NodeJS.Signals | number): boolean {
    if (this.#child.pid === undefined || this.#exit !== undefined) return false;
    try {
      return this.#child.kill(signal);
    } catch {
      return false;
    }
  }

  /** Sends `signal` to the kernel's whole process group; false when it is gone. */
  signalGroup(signal: NodeJS.Signals | number): boolean {
    const pid = this.#child.pid;
    if (pid === undefined || this.#exit !== undefined) return false;
    try {
      process.kill(-pid, signal);
      return true;
    } catch {
      try {
        return this.#child.kill(signal);
      } catch {
        return false;
      }
    }
  }
}
