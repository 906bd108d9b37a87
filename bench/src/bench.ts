/**
 * `npm run bench`: measures gateway-launcher against a bare ipykernel and the
 * response listener under load; prints the tables and writes docs/benchmarks.md.
 * This module only chooses the sections, runs them in order and hands what they
 * return to the report (bench-doc.ts); each section is a module of its own:
 *
 * 1. Launch latency, alternating launcher / bare runs (bench-launch.ts).
 * 2. Shutdown latency (launcher: listener.control(id).shutdown() → launcher exit;
 *    bare: shutdown_request on control → python exit) (bench-launch.ts).
 * 3. Launcher peak RSS (VmHWM) while supervising a kernel (bench-launch.ts).
 * 4. Listener with 1,000 simultaneous synthetic launches (senders in a child process),
 *    without and with 1,000 idle sockets held open (bench-load.ts).
 * 5. Proxy mode (bench/src/bench-proxy.ts): launch latency, relay round-trip
 *    overhead and iopub throughput direct vs proxied on one kernel, launcher CPU
 *    and RSS, experimental relay variants (bench/src/bench-relay.ts).
 *
 * Environment:
 * - `BENCH_SECTIONS=launch,modules,load,proxy` (default: all) runs only the named
 *   sections: `launch` = 1–3, `modules` = process start and module load (bench-modules.ts), `load` = 4,
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
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '@gateway-launchers/common';
import { ResponseListener } from '@gateway-launchers/listener';
import { type BenchRun, machineInfo, machineLine, writeBenchDoc } from './bench-doc.js';
import { fairnessSection } from './bench-fairness.js';
import { footprintSection } from './bench-footprint.js';
import { idleSection } from './bench-idle.js';
import { type LaunchResult, bareRun, launchNotes, launchResultRows, launchSection } from './bench-launch.js';
import { type LoadSection, loadNotes, loadResultRows, loadSection } from './bench-load.js';
import { type ModuleLoad, NO_MODULE_LOAD, modulesNotes, modulesSection } from './bench-modules.js';
import { oneCoreSection } from './bench-onecore.js';
import { type ProxyResult, proxySection, proxySummary, proxyTargetRows } from './bench-proxy.js';
import { type ResultRow, type TargetRow, resultsText, rowsText } from './bench-rows.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Which launcher build is measured: `bundle` (default, what deployments ship) or `dist` (unbundled tsc output). */
const LAUNCHER_BUILD = process.env.BENCH_LAUNCHER === 'dist' ? 'dist' : 'bundle';
const LAUNCHER = LAUNCHER_BUILD === 'dist' ? join(ROOT, 'packages/launcher/dist/cli.js') : join(ROOT, 'bundle/gateway-launcher.mjs');
const SENDERS = join(ROOT, 'bench/dist/bench-senders.js');
const RELAY = join(ROOT, 'bench/dist/bench-relay.js');
const PYTHON = '/usr/bin/python3';
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const LOAD_N = Number(process.env.BENCH_LOAD ?? 1000);
const ALL_SECTIONS = ['launch', 'modules', 'load', 'proxy', 'footprint', 'fairness', 'idle', 'onecore'];
const SECTIONS = new Set((process.env.BENCH_SECTIONS ?? ALL_SECTIONS.join(',')).split(',').map((x) => x.trim()));
for (const s of SECTIONS) if (!ALL_SECTIONS.includes(s)) throw new Error(`BENCH_SECTIONS: unknown section ${s}`);
/** kernel_info round trips per fairness measurement (`BENCH_FAIR_ROUNDS`, 5). */
const FAIR_ROUNDS = Number(process.env.BENCH_FAIR_ROUNDS ?? 5);
/** Idle window of the idle section in ms (`BENCH_IDLE_MS`, 10000). */
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 10_000);

const quiet = createLogger({ name: 'bench-listener', level: 'warn' });
const progress = (s: string): void => void process.stdout.write(`\r${s}`.padEnd(60));

/** Runs `run` when its section was chosen; a section that throws is a failure, not the end of the bench. */
async function section<T>(name: string, failures: string[], run: () => Promise<T>): Promise<T | undefined> {
  if (!SECTIONS.has(name)) return undefined;
  process.stdout.write(`section ${name}…\n`);
  try {
    return await run();
  } catch (e) {
    failures.push(`${name}: ${(e as Error).message}`);
    return undefined;
  } finally {
    process.stdout.write('\n');
  }
}

async function main(): Promise<void> {
  const started = new Date();
  const load0 = loadavg();
  const machine = await machineInfo(PYTHON);
  console.log(`machine: ${machineLine(machine)}`);
  console.log(`load average at start: ${load0.map((x) => x.toFixed(2)).join(' ')}`);

  const failures: string[] = [];
  const targets: TargetRow[] = [];
  const listener = await ResponseListener.start({ host: '127.0.0.1', port: 0, logger: quiet });
  const dir = mkdtempSync(join(tmpdir(), 'gl-bench-'));
  const common = { listener, launcher: LAUNCHER, python: PYTHON };
  let launch: LaunchResult | undefined;
  let proxy: ProxyResult | undefined;
  try {
    // The sections that share the host's listener, in this order.
    launch = await section('launch', failures, () => launchSection({ ...common, dir, runs: RUNS, progress }));
    proxy = await section('proxy', failures, () => proxySection({ ...common, relayJs: RELAY, runs: RUNS, progress }));
    if (proxy !== undefined) targets.push(...proxyTargetRows(proxy));
    const rowSections: Array<[string, () => Promise<TargetRow[]>]> = [
      [
        'footprint',
        () => footprintSection({ ...common, runs: Math.min(RUNS, 5), bareReady: async () => (await bareRun(PYTHON, dir, 0)).readyMs }),
      ],
      ['fairness', () => fairnessSection({ ...common, rounds: FAIR_ROUNDS })],
      ['idle', () => idleSection({ ...common, windowMs: IDLE_MS })],
      ['onecore', () => oneCoreSection({ ...common, dir, runs: Math.min(RUNS, 5) })],
    ];
    for (const [name, run] of rowSections) targets.push(...((await section(name, failures, run)) ?? []));
  } finally {
    await listener.close();
    rmSync(dir, { recursive: true, force: true });
  }
  // The sections with processes of their own.
  const modules: ModuleLoad = (await section('modules', failures, () => modulesSection(PYTHON))) ?? NO_MODULE_LOAD;
  const load: LoadSection | undefined = await section('load', failures, () => loadSection({ senders: SENDERS, logger: quiet, n: LOAD_N }));
  const load1 = loadavg();

  const results: ResultRow[] = [
    ...(launch === undefined ? [] : launchResultRows(launch)),
    ...(load === undefined ? [] : loadResultRows(load)),
    ...(proxy === undefined ? [] : proxySummary(proxy).rows),
  ];
  const runFailures = [...failures, ...(launch?.failures ?? []), ...(load?.failures ?? [])];
  if (targets.length > 0) console.log(rowsText(targets));
  if (results.length > 0) console.log(`\n${resultsText(results)}`);
  const notes = [
    ...(launch === undefined ? [] : launchNotes(launch)),
    ...(SECTIONS.has('modules') ? modulesNotes(modules) : []),
    ...(load === undefined ? [] : loadNotes(load)),
  ];
  if (notes.length > 0) console.log(`\n${notes.join('\n')}`);
  console.log(`load average at end: ${load1.map((x) => x.toFixed(2)).join(' ')}`);
  if (runFailures.length > 0) console.log(`failures:\n  ${runFailures.join('\n  ')}`);
  if (proxy !== undefined && proxy.failures.length > 0) console.log(`proxy failures:\n  ${proxy.failures.join('\n  ')}`);

  const run: BenchRun = {
    started,
    machine,
    load0,
    load1,
    sections: SECTIONS,
    python: PYTHON,
    launcherBuild: LAUNCHER_BUILD,
    runs: RUNS,
    loadN: LOAD_N,
    launch,
    modules,
    load,
    proxy,
    results,
    targets,
    failures: runFailures,
  };
  writeBenchDoc(join(ROOT, 'docs/benchmarks.md'), run);
  console.log('\nwrote docs/benchmarks.md');
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`bench failed: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  },
);
