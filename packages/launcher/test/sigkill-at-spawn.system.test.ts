/**
 * Issue 11, flaw 4, the spawn window: a launcher killed outright between
 * spawning the kernel and telling its watchdog the kernel's process group.
 * `setpriv --pdeathsig KILL` arms the parent-death signal only a moment after
 * the spawn returns, so a kernel started at once could outlive such a launcher
 * with nobody to stop it. The kernel now waits behind a start gate until the
 * watchdog knows its group. The fixture (fixtures/die-at-spawn.mjs) runs the
 * launcher's own KernelProcess and watchdog and SIGKILLs itself at exactly
 * that instant, so the window is hit on every run, not by chance.
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GENEROUS_MS, waitFor } from './helpers/launcher-process.js';
import { kernelTree, killSurvivors } from './helpers/process-tree.js';

const DIE_AT_SPAWN = fileURLToPath(new URL('./fixtures/die-at-spawn.mjs', import.meta.url));

interface Killed {
  /** The kernel's pid (and process group). */
  readonly pid: number;
  /** The private directory that held the connection file. */
  readonly dir: string;
  /** How the fixture ended. */
  readonly signal: NodeJS.Signals | null;
}

/** Runs the fixture; resolves once it has printed its line and died. */
function dieAtSpawn(when: 'before-watchdog' | 'after-gate', kernelArgv: readonly string[]): Promise<Killed> {
  const child = spawn(process.execPath, [DIE_AT_SPAWN, when, '--', ...kernelArgv], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  // The kernel inherits the fixture's stdout: wait for the first line, not for the end of the stream.
  const line = new Promise<{ pid: number; dir: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`die-at-spawn printed no line: ${out}`)), GENEROUS_MS);
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      resolve(JSON.parse(out.slice(0, nl)) as { pid: number; dir: string });
    });
    child.stdout.once('end', () => {
      clearTimeout(timer);
      reject(new Error(`die-at-spawn ended without its line: ${out}`));
    });
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  return Promise.all([line, exited]).then(([{ pid, dir }, signal]) => ({ pid, dir, signal }));
}

/** A kernel that leaves a mark when it runs at all, and a process tree (sh → sleep, then sleep itself). */
function markingKernel(marker: string): string[] {
  return ['/bin/sh', '-c', 'echo started > "$0"; sleep 600 & exec sleep 600', marker];
}

function markerIn(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'gl-spawn-window-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'started');
}

/** What a SIGKILLed launcher must leave: no process of the kernel's group, no connection file. */
async function assertNothingLeft(t: Test, killed: Killed): Promise<void> {
  t.teardown(() => {
    killSurvivors(kernelTree(killed.pid).map((p) => p.pid));
    rmSync(killed.dir, { recursive: true, force: true });
  });
  t.equal(killed.signal, 'SIGKILL', 'the launcher was killed outright');
  t.ok(await waitFor(() => kernelTree(killed.pid).length === 0, GENEROUS_MS), "nothing of the kernel's process group is left");
  t.ok(await waitFor(() => !existsSync(killed.dir), GENEROUS_MS), 'the watchdog removed the connection file');
}

t.test('a launcher killed before its watchdog knows the kernel: the kernel never starts, the key file is removed', async (t) => {
  const marker = markerIn(t);
  const killed = await dieAtSpawn('before-watchdog', markingKernel(marker));
  await assertNothingLeft(t, killed);
  // The gate has exited (above), so the kernel can no longer start: the marker's absence is final.
  t.notOk(existsSync(marker), 'the kernel itself never ran');
});

t.test('a launcher killed the instant after it let the kernel start: the watchdog takes the whole group', async (t) => {
  const marker = markerIn(t);
  const killed = await dieAtSpawn('after-gate', markingKernel(marker));
  await assertNothingLeft(t, killed);
});
