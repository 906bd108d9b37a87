/**
 * `npm run bench`: measures gateway-launcher against a bare ipykernel and the
 * response listener under load; prints a table and writes docs/benchmarks.md.
 *
 * 1. Launch latency, alternating launcher / bare runs.
 * 2. Shutdown latency (launcher: listener.control(id).shutdown() → launcher exit;
 *    bare: shutdown_request on control → python exit).
 * 3. Launcher peak RSS (VmHWM) while supervising a kernel.
 * 4. Listener with 1,000 simultaneous synthetic launches (senders in a child process),
 *    without and with 1,000 idle sockets held open.
 * 5. Proxy mode (bench/src/bench-proxy.ts): launch latency, relay round-trip
 *    overhead and iopub throughput direct vs proxied on one kernel, launcher CPU
 *    and RSS, experimental relay variants (bench/src/bench-relay.ts).
 *
 * Environment:
 * - `BENCH_SECTIONS=launch,modules,load,proxy` (default: all) runs only the named
 *   sections: `launch` = 1–3, `modules` = process start and module load, `load` = 4,
 *   `proxy` = 5, `fairness` = proxy fairness under a shell flood (bench-fairness.ts),
 *   `footprint` = direct vs handoff vs bare: info at host, ready, start-up vs `node -e 0`, CPU spawn→ready,
 *   VmHWM vs an idle node (bench-footprint.ts), `idle` = launcher context switches while the kernel idles (bench-idle.ts), `onecore` =
 *   launcher + kernel and bare kernel under `taskset -c 0` (bench-onecore.ts); the last four
 *   return target rows, spliced into docs/benchmarks.md between `<!-- bench:targets -->` markers. docs/benchmarks.md is rewritten in place: the part before
 *   "## Proxy mode" only when launch, modules and load all ran, the "## Proxy mode"
 *   section only when proxy ran; whatever did not run is kept from the existing file.
 * - `BENCH_LAUNCHER=bundle|dist` (bundle): the single-file launcher `npm run bundle` makes, or the unbundled tsc output.
 * - `BENCH_RUNS` (10) kernel runs per kind, also the proxy launch runs; `BENCH_LOAD` (1000);
 *   `BENCH_PROXY_RT` (1000) round trips per path; `BENCH_PROXY_REPS` (3) throughput
 *   repetitions; `BENCH_PROXY_VARIANTS` (mirror,loop,nowait,pyzmq; empty for none).
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { type ConnectionInfo, createLogger } from '@gateway-launchers/common';
import { ResponseListener } from '@gateway-launchers/listener';
import { KernelClient } from '../../demo/dist/jupyter-client.js';
import type { SenderJob, SenderResult } from './bench-senders.js';
import { fairnessSection } from './bench-fairness.js';
import { idleSection } from './bench-idle.js';
import { footprintSection } from './bench-footprint.js';
import { oneCoreSection } from './bench-onecore.js';
import { type TargetRow, rowsMarkdown, rowsText, spliceTargets } from './bench-rows.js';
import { proxyMarkdown, proxySection, proxyTargetRows, proxySummary, type ProxyResult } from './bench-proxy.js';
import { cpuMs, exitOf, f0, spawnBenchLauncher, f1, median, mmm, pct, procNetTcpLines, vmHwmKiB, withTimeout } from './bench-util.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Which launcher build is measured: `bundle` (default, what deployments ship) or `dist` (unbundled tsc output). */
const LAUNCHER_BUILD = process.env.BENCH_LAUNCHER === 'dist' ? 'dist' : 'bundle';
const LAUNCHER = LAUNCHER_BUILD === 'dist' ? join(ROOT, 'packages/launcher/dist/cli.js') : join(ROOT, 'bundle/gateway-launcher.mjs');
const SENDERS = join(ROOT, 'bench/dist/bench-senders.js');
const PYTHON = '/usr/bin/python3';
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const LOAD_N = Number(process.env.BENCH_LOAD ?? 1000);
const RELAY = join(ROOT, 'bench/dist/bench-relay.js');
const ALL_SECTIONS = ['launch', 'modules', 'load', 'proxy', 'footprint', 'fairness', 'idle', 'onecore'];
const SECTIONS = new Set((process.env.BENCH_SECTIONS ?? ALL_SECTIONS.join(',')).split(',').map((x) => x.trim()));
for (const s of SECTIONS) if (!ALL_SECTIONS.includes(s)) throw new Error(`BENCH_SECTIONS: unknown section ${s}`);
/** kernel_info round trips per fairness measurement (`BENCH_FAIR_ROUNDS`, 5). */
const FAIR_ROUNDS = Number(process.env.BENCH_FAIR_ROUNDS ?? 5);
/** Idle window of the idle section in ms (`BENCH_IDLE_MS`, 10000). */
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 10_000);

const quiet = createLogger({ name: 'bench-listener', level: 'warn' });

async function freePorts(n: number): Promise<number[]> {
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

// ---------------------------------------------------------------- kernel runs
interface LauncherRun {
  responseMs: number;
  readyMs: number;
  spawnedMs: number | undefined; // launcher's own kernel_spawned `ms`
  launcherReadyMs: number | undefined; // launcher's kernel_ready `ms`
  hwmReadyKiB: number;
  hwmAfterCellsKiB: number;
  cpuAtReadyMs: number; // launcher utime+stime when the kernel answered kernel_info
  cpuAtSpawnMs: number | undefined; // launcher utime+stime when its kernel_spawned line arrived
  shutdownMs: number;
  exitCode: number | null;
}
interface BareRun {
  readyMs: number;
  shutdownMs: number;
  exitCode: number | null;
}

async function launcherRun(listener: ResponseListener, i: number): Promise<LauncherRun> {
  const kernelId = `bench-${i}-${randomBytes(3).toString('hex')}`;
  const launch = listener.register(kernelId, { portRange: '0..0', timeoutMs: 30_000 });
  let cpuAtSpawnMs: number | undefined;
  const { child, exited, events, t0 } = spawnBenchLauncher(
    LAUNCHER,
    [...launch.argv, '--kernel-language', 'python', '--python', PYTHON],
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
      for (const code of [
        'x = sum(range(100000))',
        'print(x)',
        'import json; json.dumps({"a": list(range(1000))})',
        '[i * i for i in range(10000)][-1]',
      ])
        await client.execute(code);
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

async function bareRun(dir: string, i: number): Promise<BareRun> {
  const [shell, iopub, stdin, control, hb] = await freePorts(5);
  const info: ConnectionInfo = {
    shell_port: shell!,
    iopub_port: iopub!,
    stdin_port: stdin!,
    control_port: control!,
    hb_port: hb!,
    ip: '127.0.0.1',
    transport: 'tcp',
    key: randomBytes(16).toString('hex'),
    signature_scheme: 'hmac-sha256',
    kernel_name: 'python3',
  } as ConnectionInfo;
  const file = join(dir, `bare-${i}.json`);
  writeFileSync(file, JSON.stringify(info), { mode: 0o600 });
  const t0 = performance.now();
  const child = spawn(PYTHON, ['-m', 'ipykernel_launcher', '-f', file], { stdio: 'ignore' });
  const exited = exitOf(child);
  const client = new KernelClient(info, 20_000);
  try {
    await withTimeout(client.kernelInfo(), 20_000, 'bare kernel_info');
    const readyMs = performance.now() - t0;
    for (const code of [
      'x = sum(range(100000))',
      'print(x)',
      'import json; json.dumps({"a": list(range(1000))})',
      '[i * i for i in range(10000)][-1]',
    ])
      await client.execute(code);
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

// ---------------------------------------------------------------- module load
async function timeProcess(cmd: string, args: string[]): Promise<{ ms: number; out: string }> {
  const t0 = performance.now();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await exitOf(child);
  return { ms: performance.now() - t0, out };
}

async function moduleLoad(): Promise<{
  nodeBare: number[];
  launcherImport: number[];
  launcherImportWall: number[];
  pythonBare: number[];
  ipykernelImport: number[];
  nodeHwm: number[];
  importHwm: number[];
}> {
  const r = {
    nodeBare: [] as number[],
    launcherImport: [] as number[],
    launcherImportWall: [] as number[],
    pythonBare: [] as number[],
    ipykernelImport: [] as number[],
    nodeHwm: [] as number[],
    importHwm: [] as number[],
  };
  const url = new URL('../../packages/launcher/dist/cli.js', import.meta.url).href.replace('cli.js', 'index.js');
  for (let i = 0; i < 5; i++) {
    r.nodeBare.push((await timeProcess(process.execPath, ['-e', '0'])).ms);
    const imp = await timeProcess(process.execPath, [
      '--input-type=module',
      '-e',
      `const t = performance.now(); await import(${JSON.stringify(url)}); console.log(performance.now() - t);`,
    ]);
    r.launcherImportWall.push(imp.ms);
    r.launcherImport.push(Number(imp.out.trim()));
    const hwmOf = async (pre: string): Promise<number> =>
      Number(
        (
          await timeProcess(process.execPath, [
            '--input-type=module',
            '-e',
            `${pre} const s = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8'); console.log(/VmHWM:\\s+(\\d+)/.exec(s)[1] / 1024);`,
          ])
        ).out.trim(),
      );
    r.nodeHwm.push(await hwmOf(''));
    r.importHwm.push(await hwmOf(`await import(${JSON.stringify(url)});`));
    r.pythonBare.push((await timeProcess(PYTHON, ['-c', '0'])).ms);
    r.ipykernelImport.push((await timeProcess(PYTHON, ['-c', 'import ipykernel.kernelapp'])).ms);
  }
  return r;
}

// ---------------------------------------------------------------- load test
interface LoadResult {
  idle: number;
  accepted: number;
  rejected: number;
  allResolvedMs: number;
  sendP50: number;
  sendP99: number;
  sendMax: number;
  lagP99: number;
  lagMax: number;
  acks: Record<string, number>;
  errors: Record<string, number>;
  idleOpenAtEnd: number;
}

async function loadRun(n: number, idle: number): Promise<LoadResult> {
  const listener = await ResponseListener.start({ host: '127.0.0.1', port: 0, logger: quiet });
  try {
    const regs = Array.from({ length: n }, (_, i) => listener.register(`load-${i}`, { portRange: '0..0', timeoutMs: 60_000 }));
    let lastResolved = 0;
    const settled = Promise.allSettled(
      regs.map((r) => r.response.then((v) => ((lastResolved = performance.timeOrigin + performance.now()), v))),
    );
    const job: SenderJob = {
      host: '127.0.0.1',
      port: listener.address.port,
      publicKey: listener.publicKey,
      idle,
      launches: regs.map((r) => ({ kernelId: r.kernelId, token: r.launchToken! })),
    };
    const child = spawn(process.execPath, [SENDERS], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = exitOf(child);
    const lines = createInterface({ input: child.stdout! });
    const it = lines[Symbol.asyncIterator]();
    child.stdin!.end(`${JSON.stringify(job)}\n`);
    const h = monitorEventLoopDelay({ resolution: 1 });
    const ready = JSON.parse(((await withTimeout(it.next(), 60_000, 'senders ready')) as IteratorResult<string>).value) as { t: number };
    h.enable();
    const results = await withTimeout(settled, 70_000, 'all responses');
    h.disable();
    const out = JSON.parse(((await withTimeout(it.next(), 60_000, 'senders result')) as IteratorResult<string>).value) as SenderResult;
    await exited;
    const accepted = results.filter((r) => r.status === 'fulfilled').length;
    return {
      idle,
      accepted,
      rejected: n - accepted,
      allResolvedMs: lastResolved - ready.t,
      sendP50: pct(out.latenciesMs, 50),
      sendP99: pct(out.latenciesMs, 99),
      sendMax: Math.max(...out.latenciesMs),
      lagP99: h.percentile(99) / 1e6,
      lagMax: h.max / 1e6,
      acks: out.acks,
      errors: out.errors,
      idleOpenAtEnd: out.idleOpenAtEnd,
    };
  } finally {
    await listener.close();
  }
}

// ---------------------------------------------------------------- main
async function main(): Promise<void> {
  const started = new Date();
  const load0 = loadavg();
  const machine = {
    nproc: cpus().length,
    model: /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown',
    memGiB: totalmem() / 2 ** 30,
    node: process.version,
    python: (
      await timeProcess(PYTHON, ['-c', 'import sys, ipykernel; print(sys.version.split()[0], "ipykernel", ipykernel.__version__)'])
    ).out.trim(),
  };
  console.log(
    `machine: ${machine.nproc} CPUs (${machine.model}), ${machine.memGiB.toFixed(1)} GiB, node ${machine.node}, python ${machine.python}`,
  );
  console.log(`load average at start: ${load0.map((x) => x.toFixed(2)).join(' ')}`);

  // 1–3: kernel runs, alternating.
  const tcpLines = procNetTcpLines();
  const listener = await ResponseListener.start({ host: '127.0.0.1', port: 0, logger: quiet });
  const dir = mkdtempSync(join(tmpdir(), 'gl-bench-'));
  const lr: LauncherRun[] = [];
  const br: BareRun[] = [];
  const failures: string[] = [];
  // One warm-up pair (page cache, .pyc), not counted.
  if (SECTIONS.has('launch'))
    try {
      await launcherRun(listener, -1);
      await bareRun(dir, -1);
    } catch (e) {
      failures.push(`warm-up: ${(e as Error).message}`);
    }
  for (let i = 0; i < (SECTIONS.has('launch') ? RUNS : 0); i++) {
    try {
      lr.push(await launcherRun(listener, i));
    } catch (e) {
      failures.push(`launcher run ${i}: ${(e as Error).message}`);
    }
    try {
      br.push(await bareRun(dir, i));
    } catch (e) {
      failures.push(`bare run ${i}: ${(e as Error).message}`);
    }
    process.stdout.write(`\rkernel runs: ${i + 1}/${RUNS}`);
  }
  process.stdout.write('\n');
  let proxy: ProxyResult | undefined;
  if (SECTIONS.has('proxy')) {
    proxy = await proxySection({
      listener,
      launcher: LAUNCHER,
      relayJs: RELAY,
      python: PYTHON,
      runs: RUNS,
      progress: (s) => process.stdout.write(`\r${s}`.padEnd(60)),
    });
    process.stdout.write('\n');
  }
  // Sections that return target rows (one module each).
  const targetRows: TargetRow[] = proxy === undefined ? [] : proxyTargetRows(proxy);
  const rowSections: Array<[string, () => Promise<TargetRow[]>]> = [
    [
      'footprint',
      () =>
        footprintSection({
          listener,
          launcher: LAUNCHER,
          python: PYTHON,
          runs: Math.min(RUNS, 5),
          bareReady: async () => (await bareRun(dir, 0)).readyMs,
        }),
    ],
    ['fairness', () => fairnessSection({ listener, launcher: LAUNCHER, python: PYTHON, rounds: FAIR_ROUNDS })],
    ['idle', () => idleSection({ listener, launcher: LAUNCHER, python: PYTHON, windowMs: IDLE_MS })],
    ['onecore', () => oneCoreSection({ listener, launcher: LAUNCHER, python: PYTHON, dir, runs: Math.min(RUNS, 5) })],
  ];
  for (const [name, run] of rowSections) {
    if (!SECTIONS.has(name)) continue;
    process.stdout.write(`section ${name}…\n`);
    try {
      targetRows.push(...(await run()));
    } catch (e) {
      failures.push(`${name}: ${(e as Error).message}`);
    }
  }
  if (targetRows.length > 0) console.log(rowsText(targetRows));
  await listener.close();
  rmSync(dir, { recursive: true, force: true });

  const ml = SECTIONS.has('modules')
    ? await moduleLoad()
    : { nodeBare: [], launcherImport: [], launcherImportWall: [], pythonBare: [], ipykernelImport: [], nodeHwm: [], importHwm: [] };

  // 4: listener under load.
  const loadResults: LoadResult[] = [];
  if (SECTIONS.has('load'))
    try {
      await loadRun(Math.min(100, LOAD_N), 0); // warm-up (JIT of the listener's paths), not counted
    } catch (e) {
      failures.push(`load warm-up: ${(e as Error).message}`);
    }
  for (const idle of SECTIONS.has('load') ? [0, LOAD_N] : []) {
    try {
      loadResults.push(await loadRun(LOAD_N, idle));
    } catch (e) {
      failures.push(`load run (idle ${idle}): ${(e as Error).message}`);
    }
  }
  const load1 = loadavg();

  // ---- report
  const readyMed = median(lr.map((r) => r.readyMs));
  const bareMed = median(br.map((r) => r.readyMs));
  const shutMed = median(lr.map((r) => r.shutdownMs));
  const bareShutMed = median(br.map((r) => r.shutdownMs));
  const hwm = lr.map((r) => Math.max(r.hwmReadyKiB, r.hwmAfterCellsKiB) / 1024);
  const spawned = lr.map((r) => r.spawnedMs).filter((x): x is number => x !== undefined);
  const lready = lr.map((r) => r.launcherReadyMs).filter((x): x is number => x !== undefined);
  const spawnToReady = lr
    .filter((r) => r.spawnedMs !== undefined && r.launcherReadyMs !== undefined)
    .map((r) => r.launcherReadyMs! - r.spawnedMs!);
  const readyToResponse = lr.filter((r) => r.launcherReadyMs !== undefined).map((r) => r.responseMs - r.launcherReadyMs!);
  const responseToInfo = lr.map((r) => r.readyMs - r.responseMs);
  const cpuSpawn = lr.map((r) => r.cpuAtSpawnMs).filter((x): x is number => x !== undefined);
  const cpuWait = lr.filter((r) => r.cpuAtSpawnMs !== undefined).map((r) => r.cpuAtReadyMs - r.cpuAtSpawnMs!);
  const ok = (cond: boolean): string => (cond ? 'met' : '**missed**');

  const rows: Array<[string, string, string, string]> = !SECTIONS.has('launch')
    ? []
    : [
        ['launcher start → response resolved (ms)', mmm(lr.map((r) => r.responseMs)), '', ''],
        ['launcher start → kernel_info_reply (ms)', mmm(lr.map((r) => r.readyMs)), '', ''],
        ['bare ipykernel start → kernel_info_reply (ms)', mmm(br.map((r) => r.readyMs)), '', ''],
        ['ready overhead: launcher − bare, medians (ms)', f0(readyMed - bareMed), '≤ 40', ok(readyMed - bareMed <= 40)],
        ['shutdown → launcher exit (ms)', mmm(lr.map((r) => r.shutdownMs)), '', ''],
        ['bare shutdown_request → python exit (ms)', mmm(br.map((r) => r.shutdownMs)), '', ''],
        ['shutdown overhead: launcher − bare, medians (ms)', f0(shutMed - bareShutMed), '≤ 50', ok(shutMed - bareShutMed <= 50)],
        ['launcher VmHWM after ready + 4 cells (MiB)', mmm(hwm, f1), '≤ 50', ok(Math.max(...hwm) <= 50)],
      ];
  for (const l of loadResults) {
    const tag = `${LOAD_N} launches, ${l.idle} idle sockets`;
    rows.push([`${tag}: accepted`, `${l.accepted}/${LOAD_N}`, `${LOAD_N}`, ok(l.accepted === LOAD_N)]);
    rows.push([`${tag}: all resolved (ms)`, f0(l.allResolvedMs), '', '']);
    rows.push([`${tag}: send→ack p50 / p99 / max (ms)`, `${f0(l.sendP50)} / ${f0(l.sendP99)} / ${f0(l.sendMax)}`, '', '']);
    rows.push([`${tag}: host event-loop lag p99 / max (ms)`, `${f1(l.lagP99)} / ${f1(l.lagMax)}`, '', '']);
  }
  if (proxy !== undefined) rows.push(...proxySummary(proxy).rows);
  const w = [Math.max(...rows.map((r) => r[0].length)), Math.max(...rows.map((r) => r[1].length)), 8, 10];
  console.log(`\n${'measurement'.padEnd(w[0]!)}  ${'median (min–max)'.padEnd(w[1]!)}  ${'target'.padEnd(w[2]!)}  status`);
  for (const r of rows) console.log(`${r[0].padEnd(w[0]!)}  ${r[1].padEnd(w[1]!)}  ${r[2].padEnd(w[2]!)}  ${r[3].replaceAll('*', '')}`);
  console.log(
    `\nwhere the time goes (launcher runs, medians): launcher start → kernel_spawned ${f0(median(spawned))} ms; kernel_spawned → kernel_ready ${f0(median(spawnToReady))} ms; kernel_ready → response resolved at host ${f0(median(readyToResponse))} ms; response → kernel_info_reply ${f0(median(responseToInfo))} ms`,
  );
  console.log(
    `launcher CPU time (utime+stime) at kernel_spawned ${mmm(cpuSpawn)} ms, at kernel ready ${mmm(lr.map((r) => r.cpuAtReadyMs))} ms, spawn→ready ${mmm(cpuWait)} ms; /proc/net/tcp{,6} entries at start of kernel runs: ${tcpLines}`,
  );
  console.log(
    `module load (5 runs, medians): node -e 0 ${f0(median(ml.nodeBare))} ms; import launcher index ${f0(median(ml.launcherImport))} ms (process wall ${f0(median(ml.launcherImportWall))} ms); python -c 0 ${f0(median(ml.pythonBare))} ms; import ipykernel.kernelapp ${f0(median(ml.ipykernelImport))} ms (process wall); VmHWM node empty ${f1(median(ml.nodeHwm))} MiB, node + launcher modules ${f1(median(ml.importHwm))} MiB`,
  );
  for (const l of loadResults)
    console.log(
      `load (idle ${l.idle}): acks ${JSON.stringify(l.acks)} socket errors ${JSON.stringify(l.errors)} idle sockets still open at end ${l.idleOpenAtEnd}`,
    );
  console.log(`load average at end: ${load1.map((x) => x.toFixed(2)).join(' ')}`);
  if (failures.length > 0) console.log(`failures:\n  ${failures.join('\n  ')}`);

  const loaded = Math.max(load0[0]!, load1[0]!) > 0.5;
  const md = `# Benchmarks

Generated by \`npm run bench\` (bench/src/bench.ts) on ${started.toISOString()}. Re-run to refresh; the figures below are from that one run.

## Machine

| | |
|---|---|
| CPUs (\`nproc\`) | ${machine.nproc} |
| model | ${machine.model} |
| memory | ${machine.memGiB.toFixed(1)} GiB |
| node | ${machine.node} |
| python | ${machine.python} (\`${PYTHON}\`) |
| load average (1/5/15 min) at start | ${load0.map((x) => x.toFixed(2)).join(' / ')} |
| load average at end | ${load1.map((x) => x.toFixed(2)).join(' / ')} |
${loaded ? '\n**These figures are from a loaded machine** (1-minute load average above 0.5: other jobs were running at the same time). Absolute times are inflated and noisier than on an idle machine; the launcher/bare comparison is fairer because the runs alternate.\n' : ''}
## Results

${RUNS} launcher runs alternating with ${RUNS} bare runs (after one uncounted warm-up pair); direct port mode, TCP response transport, listener and client on 127.0.0.1. Figures are medians with min–max in parentheses.

| measurement | median (min–max) | target | status |
|---|---|---|---|
${rows.map((r) => `| ${r[0]} | ${r[1]} | ${r[2]} | ${r[3]} |`).join('\n')}
${failures.length > 0 ? `\nFailed runs (not counted): ${failures.map((f) => `\`${f}\``).join(', ')}\n` : ''}
How each figure is taken:

- **launcher start → response resolved**: from \`spawn(node ${LAUNCHER_BUILD === 'dist' ? 'packages/launcher/dist/cli.js' : 'bundle/gateway-launcher.mjs'} … --kernel-language python --python ${PYTHON})\` to the host's \`launch.response\` promise resolving (launcher build: ${LAUNCHER_BUILD}; \`BENCH_LAUNCHER=dist\` measures the unbundled one).
- **launcher start → kernel_info_reply**: same start, until the TypeScript client (demo/src/jupyter-client.ts, zeromq.js) connected to the returned connection info gets its first \`kernel_info_reply\`.
- **bare**: \`${PYTHON} -m ipykernel_launcher -f <file>\` with a connection file written by the bench (five free ports); the client connects right after spawn and sends one \`kernel_info_request\`, which zeromq delivers once the kernel has bound its shell port.
- **shutdown**: launcher — \`listener.control(id).shutdown()\` until the launcher process exits; bare — \`shutdown_request\` on the control channel until the python process exits. Both after the same four small cells.
- **VmHWM**: \`/proc/<launcher pid>/status\` read after the kernel is ready and after four cells; the larger of the two (the launcher process only, not the kernel).
- **listener under load**: ${LOAD_N} registrations (\`portRange: '0..0'\`, \`timeoutMs: 60000\`); a separate node process (bench/src/bench-senders.ts) seals ${LOAD_N} v2 responses beforehand, optionally opens ${LOAD_N} idle TCP connections to the listener, then opens ${LOAD_N} connections at once (after an uncounted 100-launch warm-up run on its own listener), each writing its sealed JSON line and reading the one-line ack. "all resolved" is from the moment the sender starts firing to the last \`response\` promise resolving in the host; send→ack is measured at the sender from \`connect()\` to the ack line; event-loop lag is \`perf_hooks.monitorEventLoopDelay\` (1 ms resolution) in the host over the same interval.

## Where the time goes

Launcher runs, medians:

| phase | ms |
|---|---|
| launcher process start → \`kernel_spawned\` log event (node startup, module load, option parsing, port selection, connection file) | ${f0(median(spawned))} |
| \`kernel_spawned\` → \`kernel_ready\` (python + ipykernel start until its five ports listen) | ${f0(median(spawnToReady))} |
| \`kernel_ready\` → response resolved at the host (seal, TCP send, listener validation, ack) | ${f0(median(readyToResponse))} |
| response resolved → first \`kernel_info_reply\` (client connect, kernel answers) | ${f0(median(responseToInfo))} |
| launcher's \`kernel_ready\` \`ms\` | ${f0(median(lready))} |
| launcher CPU time (utime + stime) when its \`kernel_spawned\` line reached the host | ${mmm(cpuSpawn)} |
| launcher CPU time (utime + stime) when the kernel answered kernel_info | ${mmm(lr.map((r) => r.cpuAtReadyMs))} |
| launcher CPU time from kernel_spawned to the host's first kernel_info_reply (mostly waiting for the kernel's ports) | ${mmm(cpuWait)} |

Socket table size (\`/proc/net/tcp\` + \`tcp6\` entries, which the launcher's direct-mode readiness check reads every poll) at the start of the kernel runs: ${tcpLines}.

Process start and module load (5 runs each, medians, wall time of a whole process unless stated):

| | ms |
|---|---|
| \`node -e 0\` | ${f0(median(ml.nodeBare))} |
| \`import()\` of packages/launcher/dist/index.js, measured inside node | ${f0(median(ml.launcherImport))} |
| node process that imports the launcher | ${f0(median(ml.launcherImportWall))} |
| \`python3 -c 0\` | ${f0(median(ml.pythonBare))} |
| \`python3 -c 'import ipykernel.kernelapp'\` | ${f0(median(ml.ipykernelImport))} |

Peak RSS (VmHWM) for scale: empty node process ${f1(median(ml.nodeHwm))} MiB; node process that only imports the launcher's modules ${f1(median(ml.importHwm))} MiB.

${analysis({ cpuWait: median(cpuWait), cpu: median(lr.map((r) => r.cpuAtReadyMs)), lready: median(lready), tcpLines, spawned: median(spawned), nodeBare: median(ml.nodeBare), imp: median(ml.launcherImport), spawnToReady: median(spawnToReady), bare: bareMed, readyToResponse: median(readyToResponse), responseToInfo: median(responseToInfo), overhead: readyMed - bareMed, shutOverhead: shutMed - bareShutMed, hwm: Math.max(...hwm), hwmMed: median(hwm), nodeHwm: median(ml.nodeHwm), importHwm: median(ml.importHwm), load: loadResults })}
`;
  const docPath = join(ROOT, 'docs/benchmarks.md');
  let existing = '';
  try {
    existing = readFileSync(docPath, 'utf8');
  } catch {
    // first run
  }
  const cut = existing.indexOf('\n## Proxy mode');
  const oldMain = cut < 0 ? existing : existing.slice(0, cut + 1);
  const oldProxy = cut < 0 ? '' : existing.slice(cut + 1);
  const fullMain = SECTIONS.has('launch') && SECTIONS.has('modules') && SECTIONS.has('load');
  const mainPart = fullMain || oldMain === '' ? md : oldMain;
  const proxyPart =
    proxy !== undefined
      ? proxyMarkdown(proxy, {
          date: started.toISOString(),
          machine: `${machine.nproc} CPUs (${machine.model}), ${machine.memGiB.toFixed(1)} GiB, node ${machine.node}, python ${machine.python}`,
          load0: load0.map((x) => x.toFixed(2)).join(' / '),
          load1: load1.map((x) => x.toFixed(2)).join(' / '),
        })
      : oldProxy;
  if (proxy !== undefined && proxy.failures.length > 0) console.log(`proxy failures:\n  ${proxy.failures.join('\n  ')}`);
  mkdirSync(join(ROOT, 'docs'), { recursive: true });
  let doc = `${mainPart.replace(/\n+$/, '\n')}${proxyPart === '' ? '' : `\n${proxyPart}`}`;
  const oldTargets = /<!-- bench:targets -->[\s\S]*?<!-- \/bench:targets -->/.exec(existing)?.[0];
  if (targetRows.length > 0) {
    const block = `## Targets (issue 12)\n\nRun ${started.toISOString()}, load average ${load0.map((x) => x.toFixed(2)).join(' / ')} at start, ${load1.map((x) => x.toFixed(2)).join(' / ')} at end; sections: ${[...SECTIONS].join(', ')}.\n\n${rowsMarkdown(targetRows)}\n`;
    doc = spliceTargets(doc, block);
  } else if (oldTargets !== undefined && !doc.includes(oldTargets)) {
    doc = `${doc.replace(/\n+$/, '')}\n\n${oldTargets}\n`;
  }
  writeFileSync(docPath, doc);
  console.log('\nwrote docs/benchmarks.md');
}

function analysis(a: {
  cpuWait: number;
  cpu: number;
  lready: number;
  tcpLines: number;
  spawned: number;
  nodeBare: number;
  imp: number;
  spawnToReady: number;
  bare: number;
  readyToResponse: number;
  responseToInfo: number;
  overhead: number;
  shutOverhead: number;
  hwm: number;
  hwmMed: number;
  nodeHwm: number;
  importHwm: number;
  load: LoadResult[];
}): string {
  const out: string[] = [];
  out.push(
    `- The launcher's own work before the kernel exists takes ${f0(a.spawned)} ms; a bare \`node -e 0\` takes ${f0(a.nodeBare)} ms and importing the launcher's modules ${f0(a.imp)} ms, measured in separate processes at other moments (so only roughly comparable on a loaded machine), node startup plus module load come to about ${f0(a.nodeBare + a.imp)} ms — most of the launcher's pre-spawn time. This time is serial: the kernel cannot start before it.`,
  );
  out.push(
    `- The kernel itself (spawn → its five ports listening, seen by the launcher) takes ${f0(a.spawnToReady)} ms, against ${f0(a.bare)} ms for a bare kernel to answer kernel_info — the bulk of both is python importing ipykernel.`,
  );
  const slower = a.spawnToReady - a.bare;
  out.push(
    `- While the kernel starts, the launcher polls readiness every 10 ms by reading \`/proc/net/tcp\` (and \`tcp6\` when the kernel binds IPv6) (${a.tcpLines} entries at the start of the kernel runs) and the kernel's fds. Between spawning the kernel and the host's first kernel_info_reply it used ${f0(a.cpuWait)} ms of CPU; spawn → kernel_ready took ${f0(a.spawnToReady)} ms (${f0((100 * a.cpuWait) / a.spawnToReady)}% of one core)${a.cpuWait > 0.2 * a.spawnToReady ? '; on a 2-core machine that CPU is taken from the starting kernel, a plausible part of why the kernel starts slower under the launcher than bare' : '; small, so the polling is not what slows the kernel'}.`,
  );
  out.push(
    `- Delivering the response (seal, send, validate, ack) costs ${f0(a.readyToResponse)} ms, and the client's first kernel_info round trip after that ${f0(a.responseToInfo)} ms.`,
  );
  out.push(
    `- Net: the launcher adds ${f0(a.overhead)} ms to kernel readiness (median vs median; target ≤ 40 ms, ${a.overhead <= 40 ? 'met' : 'missed'}). Roughly: ${f0(a.spawned)} ms of serial launcher startup before the kernel is spawned, ${f0(slower)} ms because the kernel under the launcher takes longer from spawn to ready than a bare kernel takes to answer, ${f0(a.readyToResponse)} ms response delivery and ${f0(a.responseToInfo)} ms first round trip (the phases are medians of different runs, so they do not add up exactly).`,
  );
  out.push(`- Shutdown adds ${f0(a.shutOverhead)} ms (target ≤ 50 ms, ${a.shutOverhead <= 50 ? 'met' : 'missed'}).`);
  out.push(
    `- Launcher peak RSS ${f1(a.hwmMed)} MiB median, ${f1(a.hwm)} MiB max (target ≤ 50 MiB, ${a.hwm <= 50 ? 'met' : 'missed'}). For scale: an empty node ${process.version} process peaks at ${f1(a.nodeHwm)} MiB and one that only imports the launcher's modules at ${f1(a.importHwm)} MiB on this machine, so most of the figure is the runtime and module load, not the supervision.`,
  );
  for (const l of a.load)
    out.push(
      `- Listener, ${l.idle} idle sockets: ${l.accepted} accepted, all resolved in ${f0(l.allResolvedMs)} ms, host event-loop lag p99 ${f1(l.lagP99)} ms (max ${f1(l.lagMax)} ms); sender send→ack p99 ${f0(l.sendP99)} ms.`,
    );
  return out.join('\n');
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`bench failed: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  },
);
