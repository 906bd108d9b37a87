/**
 * `npm run bench:handoff`: handoff mode's two response moments side by side
 * with direct mode, alternating runs of each kind on one listener:
 *
 * - `response`: launcher process start → the sealed response accepted by the listener;
 * - `kernel_info`: launcher process start → the first kernel_info_reply, a
 *   client sending kernel_info the moment the response arrives;
 * - `launcher CPU`: the launcher's utime+stime at that reply.
 *
 * Prints a Markdown table (pasted into docs/performance-notes.md by hand).
 * Environment: `BENCH_RUNS` (8) runs per kind.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg } from 'node:os';
import { createLogger } from '@gateway-launchers/common';
import { ResponseListener } from '@gateway-launchers/listener';
import { KernelClient } from '../../demo/dist/jupyter-client.js';
import { cpuMs, mmm, spawnBenchLauncher, withTimeout } from './bench-util.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LAUNCHER =
  process.env.BENCH_LAUNCHER === 'dist' ? join(ROOT, 'packages/launcher/dist/cli.js') : join(ROOT, 'bundle/gateway-launcher.mjs');
const PYTHON = '/usr/bin/python3';
const RUNS = Number(process.env.BENCH_RUNS ?? 8);

const KINDS = {
  direct: ['--mode', 'direct'],
  'handoff, heartbeat': ['--mode', 'handoff', '--handoff-ready', 'heartbeat'],
  'handoff, at-bind': ['--mode', 'handoff', '--handoff-ready', 'at-bind'],
} as const;
type Kind = keyof typeof KINDS;

interface Run {
  responseMs: number;
  kernelInfoMs: number;
  cpuMs: number;
}

async function run(listener: ResponseListener, kind: Kind, i: number): Promise<Run> {
  const kernelId = `bench-handoff-${i}-${randomBytes(3).toString('hex')}`;
  const launch = listener.register(kernelId, { portRange: '0..0', timeoutMs: 30_000 });
  const { child, exited, t0 } = spawnBenchLauncher(
    LAUNCHER,
    [...launch.argv, '--kernel-language', 'python', '--python', PYTHON, ...KINDS[kind]],
    launch.env,
  );
  try {
    const response = await launch.response;
    const responseMs = performance.now() - t0;
    const client = new KernelClient(response.connectionInfo, 30_000);
    try {
      await withTimeout(client.kernelInfo(), 30_000, 'kernel_info');
    } finally {
      client.close();
    }
    const kernelInfoMs = performance.now() - t0;
    const cpu = cpuMs(child.pid!);
    const ack = await listener.control(kernelId).shutdown();
    if (!ack.ok) throw new Error(`shutdown refused: ${ack.error.code}`);
    await withTimeout(exited, 15_000, 'launcher exit');
    return { responseMs, kernelInfoMs, cpuMs: cpu };
  } catch (e) {
    child.kill('SIGTERM');
    await exited;
    throw e;
  }
}

const listener = await ResponseListener.start({
  host: '127.0.0.1',
  port: 0,
  logger: createLogger({ name: 'bench-handoff', level: 'warn' }),
});
const results = new Map<Kind, Run[]>(Object.keys(KINDS).map((k) => [k as Kind, []]));
try {
  for (const kind of Object.keys(KINDS) as Kind[]) await run(listener, kind, -1); // warm the page cache
  for (let i = 0; i < RUNS; i++) for (const kind of Object.keys(KINDS) as Kind[]) results.get(kind)!.push(await run(listener, kind, i));
} finally {
  await listener.close();
}
console.log(
  `\n${RUNS} runs per kind, alternating; ${cpus().length} CPUs, load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}; medians (min–max)\n`,
);
console.log('| mode | response at host (ms) | first kernel_info_reply (ms) | launcher CPU at reply (ms) |');
console.log('|---|---|---|---|');
for (const [kind, rs] of results)
  console.log(`| ${kind} | ${mmm(rs.map((r) => r.responseMs))} | ${mmm(rs.map((r) => r.kernelInfoMs))} | ${mmm(rs.map((r) => r.cpuMs))} |`);
