/** Spawning the real `gateway-launcher` (built JS) and talking to it, for tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClockSeq, type ControlAction, type ConnectionInfo, openControlReply, sealControlRequest } from '@gateway-launchers/common';

export const LAUNCHER_CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
export const KERNEL_CLIENT = fileURLToPath(new URL('../fixtures/kernel_client.py', import.meta.url));
/** Debian's interpreter: the only one with ipykernel and jupyter_client. */
export const PYTHON = '/usr/bin/python3';
export const IPYKERNEL_ARGV = ['--', PYTHON, '-m', 'ipykernel_launcher', '-f', '{connection_file}'];
/** The python preset on Debian's interpreter (handoff mode unless `--mode` says otherwise). */
export const PYTHON_PRESET = ['--kernel-language', 'python', '--python', PYTHON];
/**
 * Safety net for every wait on another process (a log line, a message, an
 * exit). Tests wait for events, never for time; this bound only turns a hang
 * into a failure that names what never came. Generous, because a shared CI
 * machine can be 10x slower than a quiet one.
 */
export const GENEROUS_MS = 60_000;
/**
 * A cell that prints {@link CELL_STARTED} once it runs, then sleeps: wait for
 * the marker (`kernelClient(...).printed`) before interrupting it, so the
 * interrupt cannot arrive before the cell is executing.
 */
export const CELL_STARTED = 'cell started';
export const SLEEPING_CELL = `import time\nprint(${JSON.stringify(CELL_STARTED)}, flush=True)\ntime.sleep(60)`;

export interface LauncherRun {
  child: ChildProcess;
  /** Parsed JSON log lines so far. */
  logs: Array<Record<string, unknown>>;
  /** Raw output so far (stderr, and stdout when captured). */
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  /**
   * Resolves with the first log line (already seen or still to come) that
   * `match` accepts; rejects naming `what` when the process exits first or
   * after `timeoutMs` (a safety net, not an expectation about speed).
   */
  waitLog: (match: (line: Record<string, unknown>) => boolean, what: string, timeoutMs?: number) => Promise<Record<string, unknown>>;
  /** Ends the process as an operator would: SIGTERM (a launcher stops its kernel), SIGKILL after 20 s. */
  stop: () => Promise<void>;
}

/**
 * Spawns `argv` with pipes, keeps its output and parses the JSON log lines
 * (pino) it writes; stdout is parsed too with `captureStdout`.
 */
export function spawnWithLogs(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  options: { cwd?: string; captureStdout?: boolean } = {},
): LauncherRun {
  const t0 = performance.now();
  const child = spawn(argv[0] as string, argv.slice(1), { env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Array<Record<string, unknown>> = [];
  const logWaiters = new Set<(line: Record<string, unknown>) => void>();
  let raw = '';
  let pending = '';
  const onData = (chunk: Buffer): void => {
    raw += chunk.toString('utf8');
    pending += chunk.toString('utf8');
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.startsWith('{')) {
        let parsed: Record<string, unknown>;
        try {
          parsed = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue; // kernel output that happens to start with {
        }
        logs.push(parsed);
        for (const w of [...logWaiters]) w(parsed);
      }
    }
  };
  child.stderr!.on('data', onData);
  if (options.captureStdout === true) child.stdout!.on('data', onData);
  else child.stdout!.resume();
  // 'exit' can come before the last of stderr is read: resolve once both happened, so a test that awaits the
  // exit sees every log line (stderr is the process's own; a kernel's stderr is a pipe to its launcher).
  const stderrClosed = new Promise<void>((resolve) => child.stderr!.once('close', () => resolve()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((resolve) =>
    child.once('exit', (code, signal) => {
      const ms = performance.now() - t0;
      void stderrClosed.then(() => resolve({ code, signal, ms }));
    }),
  );
  const waitLog = (
    match: (line: Record<string, unknown>) => boolean,
    what: string,
    timeoutMs = GENEROUS_MS,
  ): Promise<Record<string, unknown>> => {
    const seen = logs.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const done = (): void => {
        logWaiters.delete(onLine);
        clearTimeout(timer);
      };
      const onLine = (line: Record<string, unknown>): void => {
        if (!match(line)) return;
        done();
        resolve(line);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${what} in the log after ${timeoutMs} ms; output so far:\n${raw.slice(-3000)}`));
      }, timeoutMs);
      logWaiters.add(onLine);
      void exited.then(({ code, signal }) => {
        if (!logWaiters.has(onLine)) return;
        done();
        reject(new Error(`the process exited (${String(code ?? signal)}) before ${what}; output:\n${raw.slice(-3000)}`));
      });
    });
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  };
  return { child, logs, stderr: () => raw, exited, waitLog, stop };
}

/**
 * The launcher's own time limits, raised for tests (flags and a test's `env`
 * still win): a kernel that takes 20 s to start or to answer shutdown_request
 * on a loaded machine is slow, not broken. Only tests about these limits set
 * them lower, with a kernel that cannot be slow to reach the limit.
 */
export const PATIENT_LAUNCHER_ENV = { KERNEL_LAUNCH_TIMEOUT: '120', KERNEL_SHUTDOWN_GRACE: '30' } as const;

/**
 * How long a test waits for a launcher's response: longer than the launcher's
 * own (raised) launch timeout, so a slow launch ends in the launcher's failure
 * response, with its reason, rather than in the test's safety net.
 */
export const RESPONSE_WAIT_MS = (Number(PATIENT_LAUNCHER_ENV.KERNEL_LAUNCH_TIMEOUT) + 30) * 1000;

export function runLauncher(args: readonly string[], env: NodeJS.ProcessEnv = {}): LauncherRun {
  return spawnWithLogs([process.execPath, LAUNCHER_CLI, ...args], {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LOG_LEVEL: 'debug',
    ...PATIENT_LAUNCHER_ENV,
    ...env,
  });
}

/** Writes `info` as a connection file (0600) in a new temp directory; returns its path. */
export function writeConnectionFile(info: ConnectionInfo): string {
  const dir = mkdtempSync(join(tmpdir(), 'gl-test-'));
  const file = join(dir, 'conn.json');
  writeFileSync(file, JSON.stringify(info), { mode: 0o600 });
  return file;
}

/** A running kernel_client.py. */
export interface KernelClientRun {
  /** Its last JSON line, once it exits. */
  result: Promise<Record<string, unknown>>;
  /** The request went out (execute_async). */
  sent: Promise<void>;
  /**
   * Resolves once the cell's stdout contains `text` (execute_async streams it
   * as it comes); rejects when the client exits first.
   */
  printed: (text: string) => Promise<void>;
  child: ChildProcess;
}

/** Runs kernel_client.py (real jupyter_client); resolves its last JSON line and removes its connection file. */
export function kernelClient(info: ConnectionInfo, command: string, ...args: string[]): KernelClientRun {
  const file = writeConnectionFile(info);
  const child = spawn(PYTHON, [KERNEL_CLIENT, file, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let streamed = '';
  const streamWaiters = new Set<() => void>();
  let onSent: () => void = () => {};
  const sent = new Promise<void>((resolve) => (onSent = resolve));
  let pending = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
    if (out.includes('"sent"')) onSent();
    pending += c.toString();
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (!line.startsWith('{"stream":')) continue;
      streamed += (JSON.parse(line) as { stream: string }).stream;
      for (const w of [...streamWaiters]) w();
    }
  });
  const exitedPromise = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const printed = (text: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (!streamed.includes(text)) return;
        streamWaiters.delete(check);
        resolve();
      };
      streamWaiters.add(check);
      check();
      void exitedPromise.then(() => {
        if (!streamWaiters.has(check)) return;
        streamWaiters.delete(check);
        reject(
          new Error(
            `kernel_client ${command} exited before the cell printed ${JSON.stringify(text)}: ${out.slice(-1000)} ${err.slice(-2000)}`,
          ),
        );
      });
    });
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const result = new Promise<Record<string, unknown>>((resolve, reject) =>
    child.once('exit', (status) => {
      rmSync(dirname(file), { recursive: true, force: true });
      const lines = out.trim().split('\n');
      try {
        resolve(JSON.parse(lines[lines.length - 1] ?? '') as Record<string, unknown>);
      } catch {
        reject(new Error(`kernel_client ${command} failed (${String(status)}): ${err.slice(-2000)}`));
      }
    }),
  );
  return { result, sent, printed, child };
}

/** Sends one request text to a comm port; resolves the answer line ('' when none). */
export function sendComm(port: number, text: string, host = '127.0.0.1', options: { newline?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    let data = '';
    s.on('data', (c) => (data += c.toString()));
    s.on('error', reject);
    s.on('close', () => resolve(data.trim()));
    s.on('connect', () => {
      if (options.newline === false) s.end(text);
      else s.write(`${text}\n`);
    });
    s.setTimeout(GENEROUS_MS, () => s.destroy());
  });
}

const seq = new ClockSeq();

/**
 * A launcher's control answer as the listener reads it: a sealed reply opened
 * with the listener's secret key (its `reply`), or a plain refusal as is.
 * Throws on a plain success (the launcher seals every reply it can bind to a request).
 */
export function replyOf(text: string, launcherEpk: Uint8Array, listenerSecretKey: Uint8Array): Record<string, unknown> {
  const value = JSON.parse(text) as Record<string, unknown>;
  if (!('box' in value)) {
    if (value.ok !== false) throw new Error(`unsealed control success: ${text}`);
    return value;
  }
  const opened = openControlReply(text, launcherEpk, listenerSecretKey);
  if (!opened.ok) throw new Error(`control reply does not open: ${opened.error.code}`);
  return { ...opened.value.reply };
}

/** Seals a control request as the listener would. */
export function controlText(
  kernelId: string,
  action: ControlAction,
  launcherEpk: Uint8Array,
  listenerSecretKey: Uint8Array,
  fixedSeq?: number,
): string {
  return sealControlRequest({ kernel_id: kernelId, seq: fixedSeq ?? seq.next(), request: action }, launcherEpk, listenerSecretKey);
}

/**
 * True once process `pid` runs something other than `wrapper` (it exec'ed).
 * The launcher starts kernels through `setpriv --pdeathsig KILL`, which sets
 * the parent-death signal and then execs: only after the exec is the kernel
 * sure to die with a launcher killed outright.
 */
export function execedPast(pid: number, wrapper: RegExp): boolean {
  try {
    return !wrapper.test(readlinkSync(`/proc/${pid}/exe`));
  } catch {
    return false;
  }
}

/** True while any process of group `pgid` exists. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Polls `cond` until it holds (true) or `timeoutMs` passes (false): for states
 * no event announces (a process group gone, a file written by another
 * process). `timeoutMs` is a safety net; pass a generous one.
 */
export async function waitFor(cond: () => boolean, timeoutMs: number, stepMs = 20): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return cond();
}
