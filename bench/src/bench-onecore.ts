/**
 * Bench section `onecore` (issue 12 §5): launcher + kernel, and a bare
 * kernel, each pinned to one core (`taskset -c 0`, as in a pod limited to one
 * CPU); ready time (process start → first kernel_info_reply) and the
 * launcher's overhead over the bare kernel. Target: ≤ 40 ms, as unpinned.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import type { ConnectionInfo } from '@gateway-launchers/common';
import type { ResponseListener } from '@gateway-launchers/listener';
import { KernelClient } from '../../demo/dist/jupyter-client.js';
import type { TargetRow } from './bench-rows.js';
import { bareConnectionFile, exitOf, f0, median, withTimeout } from './bench-util.js';

const TASKSET = ['taskset', '-c', '0'] as const;
/** Readiness overhead target (ms), the same as unpinned. */
const TARGET_MS = 40;

async function readyOf(info: ConnectionInfo, t0: number): Promise<number> {
  const client = new KernelClient(info, 60_000, { iopub: false });
  try {
    await withTimeout(client.kernelInfo(), 60_000, 'kernel_info');
    return performance.now() - t0;
  } finally {
    client.close();
  }
}

async function launcherReady(listener: ResponseListener, launcher: string, python: string): Promise<number> {
  const kernelId = `bench-onecore-${randomBytes(3).toString('hex')}`;
  const launch = listener.register(kernelId, { portRange: '0..0', timeoutMs: 60_000 });
  const t0 = performance.now();
  const child = spawn(
    TASKSET[0],
    [...TASKSET.slice(1), process.execPath, launcher, ...launch.argv, '--kernel-language', 'python', '--python', python],
    {
      env: { ...process.env, ...launch.env, LOG_LEVEL: 'warn' },
      stdio: 'ignore',
    },
  );
  const exited = exitOf(child);
  try {
    const response = await withTimeout(launch.response, 60_000, 'response');
    return await readyOf(response.connectionInfo, t0);
  } finally {
    const ack = await withTimeout(listener.control(kernelId).shutdown(), 15_000, 'shutdown').catch(() => undefined);
    if (ack === undefined || !ack.ok) child.kill('SIGTERM');
    await withTimeout(exited, 20_000, 'exit').catch(() => child.kill('SIGKILL'));
  }
}

async function bareReady(dir: string, python: string): Promise<number> {
  const { info, file } = await bareConnectionFile(dir, `onecore-${randomBytes(3).toString('hex')}.json`);
  const t0 = performance.now();
  const child = spawn(TASKSET[0], [...TASKSET.slice(1), python, '-m', 'ipykernel_launcher', '-f', file], { stdio: 'ignore' });
  const exited = exitOf(child);
  try {
    return await readyOf(info, t0);
  } finally {
    child.kill('SIGTERM');
    await withTimeout(exited, 20_000, 'bare exit').catch(() => child.kill('SIGKILL'));
    rmSync(file, { force: true });
  }
}

/** Runs the one-core section (`runs` alternating pairs after one warm-up pair); returns its rows. */
export async function oneCoreSection(opts: {
  listener: ResponseListener;
  launcher: string;
  python: string;
  dir: string;
  runs: number;
}): Promise<TargetRow[]> {
  const launched: number[] = [];
  const bare: number[] = [];
  for (let i = -1; i < opts.runs; i++) {
    const l = await launcherReady(opts.listener, opts.launcher, opts.python);
    const b = await bareReady(opts.dir, opts.python);
    if (i >= 0) {
      launched.push(l);
      bare.push(b);
    }
  }
  const overhead = median(launched) - median(bare);
  return [
    {
      section: 'onecore',
      metric: 'ready, launcher (default mode) pinned to one core (ms, median)',
      value: f0(median(launched)),
      target: 'reference',
      met: undefined,
    },
    {
      section: 'onecore',
      metric: 'ready, bare kernel pinned to one core (ms, median)',
      value: f0(median(bare)),
      target: 'reference',
      met: undefined,
    },
    {
      section: 'onecore',
      metric: 'ready overhead on one core (ms, median − median)',
      value: f0(overhead),
      target: `≤ ${TARGET_MS}`,
      met: overhead <= TARGET_MS,
    },
  ];
}
