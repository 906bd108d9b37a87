/**
 * Bench section `idle` (issue 12 §3): the launcher's context switches
 * (voluntary + involuntary, /proc/<pid>/status) over an idle window while its
 * kernel idles, in direct and handoff mode. The launcher has no periodic
 * timer, so the target is zero wake-ups from timers; the count is reported
 * as measured (a wake-up the kernel's or the listener's traffic causes would
 * show here too).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import type { ResponseListener } from '@gateway-launchers/listener';
import { KernelClient } from '../../demo/dist/jupyter-client.js';
import type { TargetRow } from './bench-rows.js';
import { sleep, spawnBenchLauncher, withTimeout } from './bench-util.js';

/** Voluntary + involuntary context switches of one task's status file. */
function switchesOf(file: string): number {
  const status = readFileSync(file, 'utf8');
  const n = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return n('voluntary_ctxt_switches') + n('nonvoluntary_ctxt_switches');
}

/**
 * Context switches of `pid` so far: its main thread, and all its threads
 * (/proc/<pid>/status counts the main thread only; V8's and zmq's threads
 * are in /proc/<pid>/task/*). A thread that exits in the window drops out of
 * the sum, so `all` is a lower bound.
 */
export function contextSwitches(pid: number): { main: number; all: number } {
  let all = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      all += switchesOf(`/proc/${pid}/task/${task}/status`);
    } catch {
      // thread gone
    }
  }
  return { main: switchesOf(`/proc/${pid}/status`), all };
}

/** Runs the idle section; returns its rows. */
export async function idleSection(opts: {
  listener: ResponseListener;
  launcher: string;
  python: string;
  windowMs: number;
}): Promise<TargetRow[]> {
  const rows: TargetRow[] = [];
  for (const mode of ['direct', 'handoff'] as const) {
    const kernelId = `bench-idle-${mode}-${randomBytes(3).toString('hex')}`;
    const launch = opts.listener.register(kernelId, { portRange: '0..0', timeoutMs: 60_000 });
    const { child, exited } = spawnBenchLauncher(
      opts.launcher,
      [...launch.argv, '--kernel-language', 'python', '--python', opts.python, '--mode', mode],
      launch.env,
    );
    try {
      const response = await withTimeout(launch.response, 60_000, 'response');
      const client = new KernelClient(response.connectionInfo, 60_000, { iopub: false });
      try {
        await client.kernelInfo();
      } finally {
        client.close();
      }
      await sleep(1_000); // let the start's last callbacks run
      // Two windows: the first starts 1 s after ready (V8's memory reducer runs one GC within it, a one-off
      // whose main-thread/worker hand-offs count as many switches); the second shows whether anything repeats.
      for (const window of ['first', 'second'] as const) {
        const before = contextSwitches(child.pid!);
        // The measured window itself: nothing talks to the launcher while it lasts.
        await sleep(opts.windowMs);
        const after = contextSwitches(child.pid!);
        const main = after.main - before.main;
        const all = after.all - before.all;
        rows.push({
          section: 'idle',
          metric: `launcher context switches over the ${window} ${opts.windowMs / 1000} idle s, ${mode} mode: main thread (all threads)`,
          value: `${main} (${all})`,
          target: window === 'first' ? 'reference (includes one-off start-up GC)' : '0 on the main thread (no timer wake-ups)',
          met: window === 'first' ? undefined : main === 0,
        });
      }
    } finally {
      const ack = await withTimeout(opts.listener.control(kernelId).shutdown(), 15_000, 'shutdown').catch(() => undefined);
      if (ack === undefined || !ack.ok) child.kill('SIGTERM');
      await withTimeout(exited, 20_000, 'exit').catch(() => child.kill('SIGKILL'));
    }
  }
  return rows;
}
