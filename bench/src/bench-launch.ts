/**
 * Bench section `launch`: launch latency, shutdown latency and peak RSS of
 * gateway-launcher in direct mode against a bare ipykernel, runs alternating
 * (after one uncounted warm-up pair). Returns the runs; the functions below
 * turn them into Results rows, console notes and the markdown of "Where the
 * time goes".
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { ResponseListener } from '@gateway-launchers/listener';
import { KernelClient } from '../../demo/dist/jupyter-client.js';
import { type ResultRow, status } from './bench-rows.js';
import {
  bareConnectionFile,
  cpuMs,
  exitOf,
  f0,
  f1,
  median,
  mmm,
  procNetTcpLines,
  spawnBenchLauncher,
  vmHwmKiB,
  withTimeout,
} from './bench-util.js';

/** The four small cells every kernel run executes before its shutdown. */
const CELLS = [
  'x = sum(range(100000))',
  'print(x)',
  'import json; json.dumps({"a": list(range(1000))})',
  '[i * i for i in range(10000)][-1]',
];

/** One launcher run, times from `performance.now()` just before its spawn. */
export interface LauncherRun {
  readonly responseMs: number;
  readonly readyMs: number;
  /** The launcher's own `kernel_spawned` `ms`. */
  readonly spawnedMs: number | undefined;
  /** The launcher's own `kernel_ready` `ms`. */
  readonly launcherReadyMs: number | undefined;
  readonly hwmReadyKiB: number;
  readonly hwmAfterCellsKiB: number;
  /** Launcher utime+stime when the kernel answered kernel_info. */
  readonly cpuAtReadyMs: number;
  /** Launcher utime+stime when its kernel_spawned line arrived. */
  readonly cpuAtSpawnMs: number | undefined;
  readonly shutdownMs: number;
  readonly exitCode: number | null;
}

/** One bare ipykernel run. */
export interface BareRun {
  readonly readyMs: number;
  readonly shutdownMs: number;
  readonly exitCode: number | null;
}

/** What the launch section measured. */
export interface LaunchResult {
  readonly launcher: readonly LauncherRun[];
  readonly bare: readonly BareRun[];
  /** `/proc/net/tcp{,6}` entries at the start of the runs (what direct-mode readiness reads). */
  readonly tcpLines: number;
  readonly failures: readonly string[];
}

async function launcherRun(listener: ResponseListener, launcher: string, python: string, i: number): Promise<LauncherRun> {
  const kernelId = `bench-${i}-${randomBytes(3).toString('hex')}`;
  const launch = listener.register(kernelId, { portRange: '0..0', timeoutMs: 30_000 });
  let cpuAtSpawnMs: number | undefined;
  const { child, exited, events, t0 } = spawnBenchLauncher(
    launcher,
    [...launch.argv, '--kernel-language', 'python', '--python', python],
    launch.env,
    (o) => {
      if (o.event === 'kernel_spawned' && cpuAtSpawnMs === undefined) {
        try {
          cpuAtSpawnMs = cpuMs(child.pid!);
        } catch {
          // exited
        }
      }
    },
  );
  try {
    const response = await launch.response;
    const responseMs = performance.now() - t0;
    const client = new KernelClient(response.connectionInfo, 20_000);
    let readyMs: number;
    let hwmReadyKiB: number;
    let hwmAfterCellsKiB: number;
    let cpuAtReadyMs: number;
    try {
      await withTimeout(client.kernelInfo(), 20_000, 'kernel_info');
      readyMs = performance.now() - t0;
      hwmReadyKiB = vmHwmKiB(child.pid!);
      cpuAtReadyMs = cpuMs(child.pid!);
      for (const code of CELLS) await client.execute(code);
      hwmAfterCellsKiB = vmHwmKiB(child.pid!);
    } finally {
      client.close();
    }
    const ts = performance.now();
    const ack = await listener.control(kernelId).shutdown();
    if (!ack.ok) throw new Error(`shutdown refused: ${ack.error.code}`);
    const exit = await withTimeout(exited, 15_000, 'launcher exit');
    return {
      responseMs,
      readyMs,
      spawnedMs: events.get('kernel_spawned'),
      launcherReadyMs: events.get('kernel_ready'),
      hwmReadyKiB,
      hwmAfterCellsKiB,
      cpuAtReadyMs,
      cpuAtSpawnMs,
      shutdownMs: exit.at - ts,
      exitCode: exit.code,
    };
  } catch (e) {
    child.kill('SIGTERM');
    await exited;
    throw e;
  }
}

/** Starts `python -m ipykernel_launcher` on a connection file in `dir`, runs the cells and shuts it down (also the footprint section's reference). */
export async function bareRun(python: string, dir: string, i: number): Promise<BareRun> {
  const { info, file } = await bareConnectionFile(dir, `bare-${i}.json`);
  const t0 = performance.now();
  const child = spawn(python, ['-m', 'ipykernel_launcher', '-f', file], { stdio: 'ignore' });
  const exited = exitOf(child);
  const client = new KernelClient(info, 20_000);
  try {
    await withTimeout(client.kernelInfo(), 20_000, 'bare kernel_info');
    const readyMs = performance.now() - t0;
    for (const code of CELLS) await client.execute(code);
    const ts = performance.now();
    await withTimeout(client.shutdown(), 10_000, 'bare shutdown_request');
    const exit = await withTimeout(exited, 15_000, 'bare kernel exit');
    return { readyMs, shutdownMs: exit.at - ts, exitCode: exit.code };
  } catch (e) {
    child.kill('SIGKILL');
    await exited;
    throw e;
  } finally {
    client.close();
    rmSync(file, { force: true });
  }
}

/** Runs the launch section: one uncounted warm-up pair, then `runs` launcher runs alternating with bare runs. */
export async function launchSection(opts: {
  listener: ResponseListener;
  launcher: string;
  python: string;
  /** Directory for the bare kernels' connection files. */
  dir: string;
  runs: number;
  progress: (s: string) => void;
}): Promise<LaunchResult> {
  const tcpLines = procNetTcpLines();
  const launcher: LauncherRun[] = [];
  const bare: BareRun[] = [];
  const failures: string[] = [];
  try {
    await launcherRun(opts.listener, opts.launcher, opts.python, -1);
    await bareRun(opts.python, opts.dir, -1);
  } catch (e) {
    failures.push(`warm-up: ${(e as Error).message}`);
  }
  for (let i = 0; i < opts.runs; i++) {
    try {
      launcher.push(await launcherRun(opts.listener, opts.launcher, opts.python, i));
    } catch (e) {
      failures.push(`launcher run ${i}: ${(e as Error).message}`);
    }
    try {
      bare.push(await bareRun(opts.python, opts.dir, i));
    } catch (e) {
      failures.push(`bare run ${i}: ${(e as Error).message}`);
    }
    opts.progress(`kernel runs: ${i + 1}/${opts.runs}`);
  }
  return { launcher, bare, tcpLines, failures };
}

/** The medians the report and the analysis use (NaN where nothing was measured). */
export interface LaunchSummary {
  readonly ready: number;
  readonly bareReady: number;
  readonly shutdown: number;
  readonly bareShutdown: number;
  /** Peak RSS per launcher run, MiB. */
  readonly hwmMiB: readonly number[];
  readonly spawned: number;
  readonly launcherReady: number;
  readonly spawnToReady: number;
  readonly readyToResponse: number;
  readonly responseToInfo: number;
  readonly cpuSpawn: readonly number[];
  readonly cpuReady: readonly number[];
  /** Launcher CPU from kernel_spawned to the first kernel_info_reply, per run. */
  readonly cpuWait: readonly number[];
  readonly tcpLines: number;
}

/** Summarises the runs (an absent section summarises as nothing measured). */
export function launchSummary(r: LaunchResult | undefined): LaunchSummary {
  const lr = r?.launcher ?? [];
  const br = r?.bare ?? [];
  const defined = (xs: Array<number | undefined>): number[] => xs.filter((x): x is number => x !== undefined);
  return {
    ready: median(lr.map((x) => x.readyMs)),
    bareReady: median(br.map((x) => x.readyMs)),
    shutdown: median(lr.map((x) => x.shutdownMs)),
    bareShutdown: median(br.map((x) => x.shutdownMs)),
    hwmMiB: lr.map((x) => Math.max(x.hwmReadyKiB, x.hwmAfterCellsKiB) / 1024),
    spawned: median(defined(lr.map((x) => x.spawnedMs))),
    launcherReady: median(defined(lr.map((x) => x.launcherReadyMs))),
    spawnToReady: median(
      lr.filter((x) => x.spawnedMs !== undefined && x.launcherReadyMs !== undefined).map((x) => x.launcherReadyMs! - x.spawnedMs!),
    ),
    readyToResponse: median(lr.filter((x) => x.launcherReadyMs !== undefined).map((x) => x.responseMs - x.launcherReadyMs!)),
    responseToInfo: median(lr.map((x) => x.readyMs - x.responseMs)),
    cpuSpawn: defined(lr.map((x) => x.cpuAtSpawnMs)),
    cpuReady: lr.map((x) => x.cpuAtReadyMs),
    cpuWait: lr.filter((x) => x.cpuAtSpawnMs !== undefined).map((x) => x.cpuAtReadyMs - x.cpuAtSpawnMs!),
    tcpLines: r?.tcpLines ?? NaN,
  };
}

/** The section's lines of the Results table, with the targets of issue 1 (≤ 40 ms ready, ≤ 50 ms shutdown overhead, ≤ 50 MiB). */
export function launchResultRows(r: LaunchResult): ResultRow[] {
  const s = launchSummary(r);
  return [
    ['launcher start → response resolved (ms)', mmm(r.launcher.map((x) => x.responseMs)), '', ''],
    ['launcher start → kernel_info_reply (ms)', mmm(r.launcher.map((x) => x.readyMs)), '', ''],
    ['bare ipykernel start → kernel_info_reply (ms)', mmm(r.bare.map((x) => x.readyMs)), '', ''],
    ['ready overhead: launcher − bare, medians (ms)', f0(s.ready - s.bareReady), '≤ 40', status(s.ready - s.bareReady <= 40)],
    ['shutdown → launcher exit (ms)', mmm(r.launcher.map((x) => x.shutdownMs)), '', ''],
    ['bare shutdown_request → python exit (ms)', mmm(r.bare.map((x) => x.shutdownMs)), '', ''],
    [
      'shutdown overhead: launcher − bare, medians (ms)',
      f0(s.shutdown - s.bareShutdown),
      '≤ 50',
      status(s.shutdown - s.bareShutdown <= 50),
    ],
    ['launcher VmHWM after ready + 4 cells (MiB)', mmm(s.hwmMiB, f1), '≤ 50', status(Math.max(...s.hwmMiB) <= 50)],
  ];
}

/** The console lines after the table: where the time goes, and the launcher's CPU. */
export function launchNotes(r: LaunchResult): string[] {
  const s = launchSummary(r);
  return [
    `where the time goes (launcher runs, medians): launcher start → kernel_spawned ${f0(s.spawned)} ms; kernel_spawned → kernel_ready ${f0(s.spawnToReady)} ms; kernel_ready → response resolved at host ${f0(s.readyToResponse)} ms; response → kernel_info_reply ${f0(s.responseToInfo)} ms`,
    `launcher CPU time (utime+stime) at kernel_spawned ${mmm(s.cpuSpawn)} ms, at kernel ready ${mmm(s.cpuReady)} ms, spawn→ready ${mmm(s.cpuWait)} ms; /proc/net/tcp{,6} entries at start of kernel runs: ${s.tcpLines}`,
  ];
}

/** How the section's figures are taken (markdown bullets). */
export function launchMethod(launcherBuild: 'bundle' | 'dist', python: string): string {
  return `- **launcher start → response resolved**: from \`spawn(node ${launcherBuild === 'dist' ? 'packages/launcher/dist/cli.js' : 'bundle/gateway-launcher.mjs'} … --kernel-language python --python ${python})\` to the host's \`launch.response\` promise resolving (launcher build: ${launcherBuild}; \`BENCH_LAUNCHER=dist\` measures the unbundled one).
- **launcher start → kernel_info_reply**: same start, until the TypeScript client (demo/src/jupyter-client.ts, zeromq.js) connected to the returned connection info gets its first \`kernel_info_reply\`.
- **bare**: \`${python} -m ipykernel_launcher -f <file>\` with a connection file written by the bench (five free ports); the client connects right after spawn and sends one \`kernel_info_request\`, which zeromq delivers once the kernel has bound its shell port.
- **shutdown**: launcher — \`listener.control(id).shutdown()\` until the launcher process exits; bare — \`shutdown_request\` on the control channel until the python process exits. Both after the same four small cells.
- **VmHWM**: \`/proc/<launcher pid>/status\` read after the kernel is ready and after four cells; the larger of the two (the launcher process only, not the kernel).`;
}

/** The "Where the time goes" table and the socket table size (markdown). */
export function launchPhasesMarkdown(s: LaunchSummary): string {
  return `Launcher runs, medians:

| phase | ms |
|---|---|
| launcher process start → \`kernel_spawned\` log event (node startup, module load, option parsing, port selection, connection file) | ${f0(s.spawned)} |
| \`kernel_spawned\` → \`kernel_ready\` (python + ipykernel start until its five ports listen) | ${f0(s.spawnToReady)} |
| \`kernel_ready\` → response resolved at the host (seal, TCP send, listener validation, ack) | ${f0(s.readyToResponse)} |
| response resolved → first \`kernel_info_reply\` (client connect, kernel answers) | ${f0(s.responseToInfo)} |
| launcher's \`kernel_ready\` \`ms\` | ${f0(s.launcherReady)} |
| launcher CPU time (utime + stime) when its \`kernel_spawned\` line reached the host | ${mmm(s.cpuSpawn)} |
| launcher CPU time (utime + stime) when the kernel answered kernel_info | ${mmm(s.cpuReady)} |
| launcher CPU time from kernel_spawned to the host's first kernel_info_reply (mostly waiting for the kernel's ports) | ${mmm(s.cpuWait)} |

Socket table size (\`/proc/net/tcp\` + \`tcp6\` entries, which the launcher's direct-mode readiness check reads every poll) at the start of the kernel runs: ${s.tcpLines}.`;
}
