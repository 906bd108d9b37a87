/**
 * Bench section `footprint` (issue 12 §1–§3): in direct and handoff mode,
 * alternating with a bare kernel and with `node` baselines in the same run —
 * connection info at the host and ready time vs bare and vs direct, launcher
 * start → kernel spawned vs `node -e 0`, launcher CPU from kernel spawn to
 * ready, and launcher peak RSS (VmHWM) after ready + 4 cells vs an idle node.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { ResponseListener } from '@gateway-launchers/listener';
import { KernelClient } from '../../demo/dist/jupyter-client.js';
import type { TargetRow } from './bench-rows.js';
import { cpuMs, exitOf, f0, f1, median, spawnBenchLauncher, vmHwmKiB, withTimeout } from './bench-util.js';

const CELLS = [
  'x = sum(range(100000))',
  'print(x)',
  'import json; json.dumps({"a": list(range(1000))})',
  '[i * i for i in range(10000)][-1]',
];
/** `handoff-at-bind`: handoff mode with `--handoff-ready at-bind` (the response goes once the sockets are bound, before any heartbeat). */
type Mode = 'direct' | 'handoff' | 'handoff-at-bind';

interface Run {
  infoMs: number;
  readyMs: number;
  spawnedMs: number;
  cpuStartMs: number;
  hwmMiB: number;
}

async function launcherRun(listener: ResponseListener, launcher: string, python: string, mode: Mode): Promise<Run> {
  const kernelId = `bench-fp-${mode}-${randomBytes(3).toString('hex')}`;
  const launch = listener.register(kernelId, { portRange: '0..0', timeoutMs: 60_000 });
  let spawnedAt = NaN;
  // The launcher's own clock (`ms`, from its process start) at the spawn: the line itself reaches us later,
  // after the launcher loaded pino (deferred past the spawn) and the pipe delivered it.
  let spawnedMs = NaN;
  let cpuAtSpawn = NaN;
  const { child, exited, t0 } = spawnBenchLauncher(
    launcher,
    [
      ...launch.argv,
      '--kernel-language',
      'python',
      '--python',
      python,
      ...(mode === 'handoff-at-bind' ? ['--mode', 'handoff', '--handoff-ready', 'at-bind'] : ['--mode', mode]),
    ],
    launch.env,
    (o) => {
      if (o.event === 'kernel_spawned' && Number.isNaN(spawnedAt)) {
        spawnedAt = performance.now();
        if (typeof o.ms === 'number') spawnedMs = o.ms;
        try {
          cpuAtSpawn = cpuMs(child.pid!);
        } catch {
          // exited
        }
      }
    },
  );
  try {
    const response = await withTimeout(launch.response, 60_000, 'response');
    const infoMs = performance.now() - t0;
    const client = new KernelClient(response.connectionInfo, 60_000);
    try {
      await withTimeout(client.kernelInfo(), 60_000, 'kernel_info');
      const readyMs = performance.now() - t0;
      const cpuStartMs = cpuMs(child.pid!) - cpuAtSpawn;
      for (const code of CELLS) await client.execute(code);
      return { infoMs, readyMs, spawnedMs, cpuStartMs, hwmMiB: vmHwmKiB(child.pid!) / 1024 };
    } finally {
      client.close();
    }
  } finally {
    const ack = await withTimeout(listener.control(kernelId).shutdown(), 15_000, 'shutdown').catch(() => undefined);
    if (ack === undefined || !ack.ok) child.kill('SIGTERM');
    await withTimeout(exited, 20_000, 'exit').catch(() => child.kill('SIGKILL'));
  }
}

/** Wall time of `node -e 0` and the VmHWM of a node process that has started and gone idle. */
async function nodeBaseline(): Promise<{ ms: number; hwmMiB: number }> {
  const t0 = performance.now();
  await exitOf(spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' }));
  const ms = performance.now() - t0;
  const idle = spawn(
    process.execPath,
    [
      '-e',
      "setTimeout(() => process.stdout.write(require('fs').readFileSync('/proc/self/status','utf8').match(/VmHWM:\\s+(\\d+)/)[1]), 200)",
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let out = '';
  idle.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await exitOf(idle);
  return { ms, hwmMiB: Number(out) / 1024 };
}

/** Runs the footprint section; `bareReady` starts one bare kernel and returns its ready ms. Returns rows. */
export async function footprintSection(opts: {
  listener: ResponseListener;
  launcher: string;
  python: string;
  runs: number;
  bareReady: () => Promise<number>;
}): Promise<TargetRow[]> {
  const runs: Record<Mode, Run[]> = { direct: [], handoff: [], 'handoff-at-bind': [] };
  const bare: number[] = [];
  const node: Array<{ ms: number; hwmMiB: number }> = [];
  for (let i = -1; i < opts.runs; i++) {
    const d = await launcherRun(opts.listener, opts.launcher, opts.python, 'direct');
    const h = await launcherRun(opts.listener, opts.launcher, opts.python, 'handoff');
    const a = await launcherRun(opts.listener, opts.launcher, opts.python, 'handoff-at-bind');
    const b = await opts.bareReady();
    const n = await nodeBaseline();
    if (i < 0) continue; // warm-up
    runs.direct.push(d);
    runs.handoff.push(h);
    runs['handoff-at-bind'].push(a);
    bare.push(b);
    node.push(n);
  }
  const m = (mode: Mode, k: keyof Run): number => median(runs[mode].map((r) => r[k]));
  const bareMs = median(bare);
  const nodeMs = median(node.map((n) => n.ms));
  const nodeHwm = median(node.map((n) => n.hwmMiB));
  const rows: TargetRow[] = [
    { section: 'footprint', metric: 'bare kernel ready (ms, median)', value: f0(bareMs), target: 'reference', met: undefined },
    { section: 'footprint', metric: '`node -e 0` wall time (ms, median)', value: f0(nodeMs), target: 'reference', met: undefined },
    { section: 'footprint', metric: 'idle node VmHWM (MiB, median)', value: f1(nodeHwm), target: 'reference', met: undefined },
    {
      section: 'footprint',
      metric: 'handoff (--handoff-ready at-bind) info at host vs direct (ms, median)',
      value: `${f0(m('handoff-at-bind', 'infoMs'))} vs ${f0(m('direct', 'infoMs'))}`,
      target: 'handoff earlier',
      met: m('handoff-at-bind', 'infoMs') < m('direct', 'infoMs'),
    },
    {
      section: 'footprint',
      metric: 'handoff (default: after one heartbeat echo) info at host vs direct (ms, median)',
      value: `${f0(m('handoff', 'infoMs'))} vs ${f0(m('direct', 'infoMs'))}`,
      target: 'reference: by design ≈ its ready time',
      met: undefined,
    },
    {
      section: 'footprint',
      metric: 'handoff (at-bind) ready (ms, median) and overhead over bare',
      value: `${f0(m('handoff-at-bind', 'readyMs'))} (+${f0(m('handoff-at-bind', 'readyMs') - bareMs)})`,
      target: 'reference',
      met: undefined,
    },
  ];
  for (const mode of ['direct', 'handoff'] as const) {
    const over = m(mode, 'readyMs') - bareMs;
    rows.push({
      section: 'footprint',
      metric: `${mode}: ready (ms, median) and overhead over bare`,
      value: `${f0(m(mode, 'readyMs'))} (+${f0(over)})`,
      target: '≤ bare + 40',
      met: over <= 40,
    });
    rows.push({
      section: 'footprint',
      metric: `${mode}: launcher start → kernel spawned (ms, median)`,
      value: f0(m(mode, 'spawnedMs')),
      target: `≤ node -e 0 + 10 (${f0(nodeMs + 10)})`,
      met: m(mode, 'spawnedMs') <= nodeMs + 10,
    });
    rows.push({
      section: 'footprint',
      metric: `${mode}: launcher CPU, spawn → ready (ms, median)`,
      value: f0(m(mode, 'cpuStartMs')),
      target: '≤ 20',
      met: m(mode, 'cpuStartMs') <= 20,
    });
    rows.push({
      section: 'footprint',
      metric: `${mode}: launcher VmHWM after ready + 4 cells (MiB, median)`,
      value: f1(m(mode, 'hwmMiB')),
      target: `≤ idle node + 6 (${f1(nodeHwm + 6)})`,
      met: m(mode, 'hwmMiB') <= nodeHwm + 6,
    });
  }
  rows.push({
    section: 'footprint',
    metric: 'handoff ready vs direct (ms, median)',
    value: `${f0(m('handoff', 'readyMs'))} vs ${f0(m('direct', 'readyMs'))}`,
    target: 'handoff ≤ direct',
    met: m('handoff', 'readyMs') <= m('direct', 'readyMs'),
  });
  return rows;
}
