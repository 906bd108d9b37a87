/**
 * Issue 11, flaw 4, with real kernels: a launcher killed outright (SIGKILL)
 * leaves nothing of the kernel's process tree and not its connection file
 * (the HMAC key), for ipykernel, IRkernel and a Toree-style JVM (a shell
 * script that execs `java`, whose program starts a child and hangs in its
 * shutdown hook). Each kernel starts a child first (`sleep 600`). The test
 * waits for events (the response, the child in /proc, the tree and the
 * directory gone) with generous bounds and asserts no duration; the time from
 * the SIGKILL to the last of the tree gone is logged as a comment (the figures
 * in docs/design.md §7.1 come from here).
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ConnectionInfo, type ResponseSuccess, isFailureResponse } from '@gateway-launchers/common';
import { Receiver } from './helpers/receiver.js';
import { GENEROUS_MS, IPYKERNEL_ARGV, type LauncherRun, kernelClient, runLauncher, waitFor } from './helpers/launcher-process.js';
import { alive, kernelTree, killSurvivors } from './helpers/process-tree.js';

const TOREE_STANDIN = fileURLToPath(new URL('./fixtures/toree-standin/run.sh', import.meta.url));

function works(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return r.status === 0;
}

const R_SKIP = works('Rscript', ['-e', 'quit(status = if (requireNamespace("IRkernel", quietly = TRUE)) 0 else 1)'])
  ? false
  : 'R with IRkernel is not installed (Debian: r-base-core r-cran-irkernel)';
const JAVA_SKIP = works('java', ['-version']) ? false : 'no java (Debian: openjdk-17-jdk-headless)';

interface Scenario {
  readonly kernelId: string;
  /** Launcher arguments after the response options: a preset or `-- argv`. */
  readonly kernelArgs: readonly string[];
  /** Makes the running kernel start a child (through a real client), if it does not by itself. */
  readonly startChild?: (info: ConnectionInfo) => Promise<void>;
}

/** Runs an execute request through the real jupyter_client and checks that the kernel answered it. */
async function execute(t: Test, info: ConnectionInfo, code: string): Promise<void> {
  const out = await kernelClient({ ...info, ip: '127.0.0.1' }, 'execute', code).result;
  t.equal(out.status, 'ok', 'the kernel ran the cell that starts a child');
}

/**
 * Launches the kernel, lets it start a `sleep` child, SIGKILLs the launcher,
 * then waits for the whole tree and the private directory to be gone.
 */
async function sigkillLeavesNothing(t: Test, scenario: Scenario): Promise<void> {
  const receiver = await Receiver.start();
  t.teardown(() => receiver.close());
  const run: LauncherRun = runLauncher(
    ['--kernel-id', scenario.kernelId, '--response-address', receiver.address, '--public-key', receiver.publicKey, ...scenario.kernelArgs],
    { KERNEL_LAUNCH_TOKEN: receiver.token },
  );
  t.teardown(() => run.stop());
  const { plaintext } = await receiver.next();
  if (isFailureResponse(plaintext)) {
    t.fail(`the kernel did not start: ${JSON.stringify(plaintext.failure)}`);
    return;
  }
  const info = (plaintext as ResponseSuccess).conn_info;
  const kernel = run.logs.find((l) => l.event === 'kernel_spawned')?.pid as number;
  const dir = dirname(run.logs.find((l) => l.event === 'ports_selected')?.connection_file as string);
  t.ok(existsSync(dir), 'the connection file is on disk while the launcher runs');
  await scenario.startChild?.(info);
  let tree: number[] = [];
  t.ok(
    await waitFor(
      () =>
        (tree = kernelTree(kernel)
          .filter((p) => p.comm === 'sleep')
          .map((p) => p.pid)).length > 0,
      GENEROUS_MS,
    ),
    'the kernel started its child',
  );
  tree = kernelTree(kernel).map((p) => p.pid);
  t.teardown(() => {
    killSurvivors(tree);
    rmSync(dir, { recursive: true, force: true });
  });

  const killedAt = performance.now();
  run.child.kill('SIGKILL');
  const gone = await waitFor(() => tree.every((pid) => !alive(pid)) && !existsSync(dir), GENEROUS_MS, 5);
  const ms = Math.round(performance.now() - killedAt);
  t.ok(gone, `every process of the kernel's tree (${tree.length}) and the connection file's directory are gone`);
  t.same(tree.filter(alive), [], 'no process of the tree survives');
  t.notOk(existsSync(dir), 'the connection file (the HMAC key) is removed');
  t.comment(`${scenario.kernelId}: ${tree.length} processes and the connection file gone ${ms} ms after the launcher's SIGKILL`);
  await run.exited;
}

t.test('ipykernel: a SIGKILLed launcher leaves neither the tree nor the key file', (t) =>
  sigkillLeavesNothing(t, {
    kernelId: 'k-sigkill-py',
    kernelArgs: IPYKERNEL_ARGV,
    startChild: (info) => execute(t, info, 'import subprocess\nsubprocess.Popen(["/bin/sh", "-c", "sleep 600 & wait"])'),
  }),
);

t.test('IRkernel: a SIGKILLed launcher leaves neither the tree nor the key file', { skip: R_SKIP }, (t) =>
  sigkillLeavesNothing(t, {
    kernelId: 'k-sigkill-r',
    kernelArgs: ['--kernel-language', 'r'],
    // wait = FALSE: R's shell backgrounds the sleep and exits, so init adopts it; only its process group ties it to the kernel.
    startChild: (info) => execute(t, info, 'system("sleep 600", wait = FALSE)'),
  }),
);

t.test('a Toree-style JVM (run.sh execs java) that hangs on SIGTERM: a SIGKILLed launcher leaves nothing', { skip: JAVA_SKIP }, (t) =>
  sigkillLeavesNothing(t, {
    kernelId: 'k-sigkill-jvm',
    // The JVM starts its `sleep` and its hanging shutdown hook by itself, before it listens on the kernel's ports.
    kernelArgs: ['--', '/bin/sh', TOREE_STANDIN, '--profile', '{connection_file}'],
  }),
);
