/**
 * Issue 11, flaw 4: a launcher killed outright (SIGKILL) must not leave the
 * kernel's process tree (a shell, a `sleep`, a JVM-like launcher script with
 * its long-running child, as Toree's `run.sh` → `java` is) nor the connection
 * file with its HMAC key. Waits for events (processes gone from /proc, the
 * directory gone) with generous bounds; asserts no duration.
 */
import t from 'tap';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { PYTHON, waitFor } from './helpers/launcher-process.js';
import { startLaunch } from './helpers/launched-kernel.js';
import { alive, descendantsOf } from './helpers/process-tree.js';

/** A kernel that never becomes ready and starts a small process tree. */
const TREE_KERNEL = [
  'import subprocess, time',
  "subprocess.Popen(['/bin/sh', '-c', 'sleep 600; echo done'])",
  "subprocess.Popen(['sleep', '600'])",
  "subprocess.Popen(['/bin/sh', '-c', 'python3 -c \"import time; time.sleep(600)\" & wait'])",
  'time.sleep(600)',
].join('\n');

/** Pids of the live (not zombie) processes whose parent chain leads to `root`. */
const descendants = (root: number): number[] => descendantsOf(root).map((p) => p.pid);

t.test("a SIGKILLed launcher leaves neither the kernel's process tree nor its connection file", async (t) => {
  const { run } = await startLaunch(t, { kernelId: 'k-tree', args: ['--', PYTHON, '-c', TREE_KERNEL, '{connection_file}'] });
  t.ok(await waitFor(() => run.logs.some((l) => l.event === 'kernel_spawned'), 60_000), 'the kernel was spawned');
  const kernel = run.logs.find((l) => l.event === 'kernel_spawned')?.pid as number;
  const file = run.logs.find((l) => l.event === 'ports_selected')?.connection_file as string;
  t.ok(existsSync(file), 'the connection file exists while the launcher runs');
  let tree: number[] = [];
  // kernel → sh → sleep, kernel → sleep, kernel → sh → python
  t.ok(await waitFor(() => (tree = descendants(kernel)).length >= 5, 60_000), 'the kernel started its process tree');
  const all = [kernel, ...tree];
  t.teardown(() => {
    for (const pid of all) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dirname(file), { recursive: true, force: true });
  });

  run.child.kill('SIGKILL');
  await run.exited;
  t.ok(await waitFor(() => all.every((pid) => !alive(pid)), 30_000), "every process of the kernel's tree is gone");
  t.same(all.filter(alive), [], 'none survives');
  t.ok(await waitFor(() => !existsSync(dirname(file)), 30_000), 'the connection file and its private directory are removed');
});

/** Pids of watchdogs guarding `dir`. */
function watchdogsOf(dir: string): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        return readFileSync(`/proc/${n}/cmdline`, 'utf8').split('\u0000').includes(dir);
      } catch {
        return false;
      }
    })
    .map(Number)
    .filter(alive);
}

function sessionOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
}

t.test('the watchdog runs in its own session and stands down on a normal exit', async (t) => {
  const { run } = await startLaunch(t, {
    kernelId: 'k-calm',
    args: ['--', PYTHON, '-c', 'import time; time.sleep(600)', '{connection_file}'],
    // This kernel never answers shutdown_request: its grace is spent whatever the machine's speed, and a
    // short one lets the launcher finish its own stop before run.stop()'s SIGKILL (20 s) would.
    env: { KERNEL_SHUTDOWN_GRACE: '1' },
  });
  t.ok(await waitFor(() => run.logs.some((l) => l.event === 'kernel_spawned'), 60_000));
  const dir = dirname(run.logs.find((l) => l.event === 'ports_selected')?.connection_file as string);
  let dogs: number[] = [];
  t.ok(await waitFor(() => (dogs = watchdogsOf(dir)).length === 1, 30_000), 'one watchdog guards the directory');
  const dog = dogs[0] as number;
  t.not(sessionOf(dog), sessionOf(run.child.pid as number), "in a session of its own, out of reach of signals to the launcher's group");
  await run.stop();
  t.equal((await run.exited).signal, null, 'the launcher stopped by itself (a normal exit, not the SIGKILL of run.stop())');
  t.ok(await waitFor(() => !alive(dog), 30_000), 'it exits when the launcher exits normally');
  t.notOk(existsSync(dir), 'the launcher removed the directory itself');
});
