/**
 * Shared helpers of `npm run bench`: statistics, formatting, timeouts and /proc readers.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { ConnectionInfo } from '@gateway-launchers/common';
import { createInterface } from 'node:readline';
import { readFileSync, writeFileSync } from 'node:fs';

// ---------------------------------------------------------------- statistics
export function sorted(xs: readonly number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}
export function pct(xs: readonly number[], p: number): number {
  const s = sorted(xs);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
export function median(xs: readonly number[]): number {
  const s = sorted(xs);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
export const f0 = (x: number): string => (Number.isFinite(x) ? x.toFixed(0) : 'n/a');
export const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
export const mmm = (xs: readonly number[], fmt = f0): string =>
  xs.length === 0 ? 'n/a' : `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

export function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: string | null; at: number }> {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() })));
}

/** utime + stime of a process, in ms (from /proc/<pid>/stat, USER_HZ = 100). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

export function procNetTcpLines(): number {
  let n = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      n += readFileSync(file, 'latin1').split('\n').length - 2;
    } catch {
      // absent
    }
  }
  return n;
}

export function vmHwmKiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? NaN : Number(m[1]);
}

/** A benchmarked launcher process: its exit, and the `ms` of the first log line of each phase event. */
export interface BenchLauncher {
  readonly child: ChildProcess;
  readonly exited: ReturnType<typeof exitOf>;
  readonly events: Map<string, number>;
  /** `performance.now()` just before the spawn. */
  readonly t0: number;
}

/**
 * Spawns `node launcher …argv` with the launch's environment and LOG_LEVEL=info,
 * records phase events from its JSON log lines, and hands every parsed line to `onLog`.
 */
export function spawnBenchLauncher(
  launcher: string,
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
  onLog: (line: Record<string, unknown>) => void = () => {},
): BenchLauncher {
  const events = new Map<string, number>();
  const t0 = performance.now();
  const child = spawn(process.execPath, [launcher, ...argv], {
    env: { ...process.env, ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = exitOf(child);
  createInterface({ input: child.stderr! }).on('line', (line) => {
    if (!line.startsWith('{')) return;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // kernel output
    }
    if (typeof o.event === 'string' && typeof o.ms === 'number' && !events.has(o.event)) events.set(o.event, o.ms);
    onLog(o);
  });
  return { child, exited, events, t0 };
}

/** Runs `cmd args` to its exit; resolves with its wall time (spawn → exit) and its stdout. */
export async function timeProcess(cmd: string, args: readonly string[]): Promise<{ ms: number; out: string }> {
  const t0 = performance.now();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await exitOf(child);
  return { ms: performance.now() - t0, out };
}

/** `n` loopback ports that were free a moment ago (bound to port 0, then closed). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve) => {
          const s = createServer();
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Connection info on free loopback ports with a fresh key, written (mode 0600) to `dir/name` for a bare kernel. */
export async function bareConnectionFile(dir: string, name: string): Promise<{ info: ConnectionInfo; file: string }> {
  const [shell, iopub, stdin, control, hb] = (await freePorts(5)) as [number, number, number, number, number];
  const info = {
    shell_port: shell,
    iopub_port: iopub,
    stdin_port: stdin,
    control_port: control,
    hb_port: hb,
    ip: '127.0.0.1',
    transport: 'tcp',
    key: randomBytes(16).toString('hex'),
    signature_scheme: 'hmac-sha256',
    kernel_name: 'python3',
  } as ConnectionInfo;
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(info), { mode: 0o600 });
  return { info, file };
}
