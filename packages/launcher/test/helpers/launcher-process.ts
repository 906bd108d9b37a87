/** Spawning the real `gateway-launcher` (built JS) and talking to it, for tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClockSeq, type ControlAction, type ConnectionInfo, openControlReply, sealControlRequest } from '@gateway-launchers/common';

export const LAUNCHER_CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
export const KERNEL_CLIENT = fileURLToPath(new URL('../fixtures/kernel_client.py', import.meta.url));
/** Debian's interpreter: the only one with ipykernel and jupyter_client. */
export const PYTHON = '/usr/bin/python3';
export const IPYKERNEL_ARGV = ['--', PYTHON, '-m', 'ipykernel_launcher', '-f', '{connection_file}'];

export interface LauncherRun {
  child: ChildProcess;
  /** Parsed JSON log lines so far. */
  logs: Array<Record<string, unknown>>;
  /** Raw output so far (stderr, and stdout when captured). */
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  /** Ends the process as an operator would: SIGTERM (a launcher stops its kernel), SIGKILL after 5 s. */
  stop: () => Promise<void>;
}

/**
 * Spawns `argv` with pipes, keeps its output and parses the JSON log lines
 * (pino) it writes; stdout is parsed too with `captureStdout`.
 */
export function spawnWithLogs(argv: readonly string[], env: NodeJS.ProcessEnv, options: { cwd?: string; captureStdout?: boolean } = {}): LauncherRun {
  const t0 = performance.now();
  const child = spawn(argv[0] as string, argv.slice(1), { env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Array<Record<string, unknown>> = [];
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
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // kernel output that happens to start with {
        }
      }
    }
  };
  child.stderr!.on('data', onData);
  if (options.captureStdout === true) child.stdout!.on('data', onData);
  else child.stdout!.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, ms: performance.now() - t0 })),
  );
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  return { child, logs, stderr: () => raw, exited, stop };
}

export function runLauncher(args: readonly string[], env: NodeJS.ProcessEnv = {}): LauncherRun {
  return spawnWithLogs([process.execPath, LAUNCHER_CLI, ...args], { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'debug', ...env });
}

/** Writes `info` as a connection file (0600) in a new temp directory; returns its path. */
export function writeConnectionFile(info: ConnectionInfo): string {
  const dir = mkdtempSync(join(tmpdir(), 'gl-test-'));
  const file = join(dir, 'conn.json');
  writeFileSync(file, JSON.stringify(info), { mode: 0o600 });
  return file;
}

/** Runs kernel_client.py (real jupyter_client); resolves its last JSON line and removes its connection file. */
export function kernelClient(info: ConnectionInfo, command: string, ...args: string[]): { result: Promise<Record<string, unknown>>; sent: Promise<void>; child: ChildProcess } {
  const file = writeConnectionFile(info);
  const child = spawn(PYTHON, [KERNEL_CLIENT, file, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let onSent: () => void = () => {};
  const sent = new Promise<void>((resolve) => (onSent = resolve));
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
    if (out.includes('"sent"')) onSent();
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
  return { result, sent, child };
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
    s.setTimeout(10_000, () => s.destroy());
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
export function controlText(kernelId: string, action: ControlAction, launcherEpk: Uint8Array, listenerSecretKey: Uint8Array, fixedSeq?: number): string {
  return sealControlRequest({ kernel_id: kernelId, seq: fixedSeq ?? seq.next(), request: action }, launcherEpk, listenerSecretKey);
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

export async function waitFor(cond: () => boolean, timeoutMs: number, stepMs = 20): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return cond();
}
