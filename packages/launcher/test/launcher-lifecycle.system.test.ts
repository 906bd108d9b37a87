import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isFailureResponse, type ResponseFailure } from '@gateway-launchers/common';
import { launchKernel, reportedPorts, startLaunch } from './helpers/launched-kernel.js';
import { Receiver } from './helpers/receiver.js';
import { shellRequest } from './helpers/zmq-client.js';
import {
  GENEROUS_MS,
  IPYKERNEL_ARGV,
  PYTHON,
  PYTHON_PRESET,
  RESPONSE_WAIT_MS,
  type LauncherRun,
  groupAlive,
  kernelClient,
  runLauncher,
  waitFor,
} from './helpers/launcher-process.js';
import { closedPort, holdPortBlock } from './helpers/ports.js';

const CLASH_ONCE = fileURLToPath(new URL('./fixtures/clash_once.py', import.meta.url));
const LISTEN_ONLY = fileURLToPath(new URL('./fixtures/listen_only.py', import.meta.url));

t.test('SIGTERM to the launcher stops the kernel group, removes the file and exits with the kernel status', async (t) => {
  const { run } = await launchKernel(t, { kernelId: 'k-term', args: IPYKERNEL_ARGV });
  const pgid = run.logs.find((l) => l.event === 'kernel_spawned')?.pid as number;
  const file = run.logs.find((l) => l.event === 'ports_selected')?.connection_file as string;
  t.ok(existsSync(file));
  const mode = readFileSync(file) && (await import('node:fs')).statSync(file).mode & 0o777;
  t.equal(mode, 0o600, 'connection file mode is 0600');
  run.child.kill('SIGTERM');
  const exit = await run.exited;
  t.equal(exit.code, 0, 'ipykernel shut down by shutdown_request exits 0 (not escalated to SIGTERM/SIGKILL)');
  t.notOk(groupAlive(pgid), 'kernel process group is gone');
  t.notOk(existsSync(file), 'connection file removed');
});

t.test('a kernel that cannot start sends a failure response naming the error', async (t) => {
  const { receiver, run } = await startLaunch(t, {
    kernelId: 'k-bad',
    args: ['--', PYTHON, '-m', 'no_such_module', '-f', '{connection_file}'],
  });
  const { plaintext } = await receiver.next();
  t.ok(isFailureResponse(plaintext));
  const f = (plaintext as ResponseFailure).failure;
  t.equal(f.exit_code, 1);
  t.match(f.stderr_tail, /No module named no_such_module/);
  const exit = await run.exited;
  t.equal(exit.code, 1, 'launcher exits with the kernel status');
});

t.test('a missing kernel executable is reported as a failure, not a hang', async (t) => {
  const { receiver, run } = await startLaunch(t, { kernelId: 'k-noexe', args: ['--', '/nonexistent/kernel', '{connection_file}'] });
  const { plaintext } = await receiver.next();
  t.ok(isFailureResponse(plaintext));
  t.match((plaintext as ResponseFailure).failure.stderr_tail, /ENOENT|cannot start kernel|No such file or directory/);
  t.not((await run.exited).code, 0);
});

t.test('a response address that starts listening only after a refused attempt still gets the response by retry', async (t) => {
  const port = await closedPort();
  const receiver = new Receiver();
  const run = runLauncher(
    ['--kernel-id', 'k-late', '--response-address', `127.0.0.1:${port}`, '--public-key', receiver.publicKey, ...IPYKERNEL_ARGV],
    {
      KERNEL_LAUNCH_TOKEN: receiver.token,
    },
  );
  t.teardown(() => run.stop());
  // Listen only once the launcher has seen the address refuse: no guess at how long it takes to get there.
  await run.waitLog((l) => l.event === 'response_retry', 'response_retry (a refused delivery attempt)', RESPONSE_WAIT_MS);
  await receiver.listen(port);
  t.teardown(() => receiver.close());
  const { plaintext } = await receiver.next();
  t.notOk(isFailureResponse(plaintext), 'the success response arrived');
  const acked = await run.waitLog((l) => l.event === 'response_acked', 'response_acked');
  t.ok((acked.attempts as number) > 1, `delivered after ${String(acked.attempts)} attempts`);
  run.child.kill('SIGTERM');
  t.equal((await run.exited).code, 0);
});

t.test('a kernel that dies because its port was taken is restarted on fresh ports', async (t) => {
  const marker = join(mkdtempSync(join(tmpdir(), 'gl-clash-')), 'marker');
  // Ready after the retry (a failure response rejects here).
  const {
    run,
    response: r,
    info,
  } = await launchKernel(t, {
    kernelId: 'k-clash',
    args: ['--', PYTHON, CLASH_ONCE, marker, '{connection_file}'],
  });
  const selections = run.logs.filter((l) => l.event === 'ports_selected');
  t.equal(selections.length, 2, 'ports were selected twice');
  const first = selections[0]?.ports as number[];
  t.notOk(first.includes(r.conn_info.shell_port), 'the clashed port is not reused');
  const out = await kernelClient(info, 'execute', '6*7').result;
  t.equal(out.result, '42', 'the restarted kernel works');
  run.child.kill('SIGTERM');
  await run.exited;
});

t.test('a range with only a few free ports still works, and an exhausted range fails clearly', async (t) => {
  // Ten ports held by this test; six are let go for the kernel, the other four stay taken.
  const block = await holdPortBlock(10);
  t.teardown(() => block.close());
  const base = block.base;
  await block.release([1, 3, 5, 7, 8, 9]);
  const range = `${base}..${base + 9}`; // 10 ports, 4 taken: exactly 6 free
  const env = { MIN_PORT_RANGE_SIZE: '0' };
  const { run, response } = await launchKernel(t, { kernelId: 'k-few', range, args: IPYKERNEL_ARGV, env });
  t.same(reportedPorts(response).sort(), [base + 1, base + 3, base + 5, base + 7, base + 8, base + 9], 'launched with the six free ports');

  // Now every port of the range is taken: by the blockers and the running kernel.
  const { receiver: receiver2, run: run2 } = await startLaunch(t, { kernelId: 'k-none', range, args: IPYKERNEL_ARGV, env });
  const failed = await receiver2.next();
  t.ok(isFailureResponse(failed.plaintext), 'failure response');
  t.match((failed.plaintext as ResponseFailure).failure.stderr_tail, /only \d of the 6 ports needed are free/);
  t.equal((await run2.exited).code, 1);
  run.child.kill('SIGTERM');
  await run.exited;
});

t.test('--ip ::1 works end to end over IPv6', async (t) => {
  const { run, response: r, info } = await launchKernel(t, { kernelId: 'k-v6', args: ['--ip', '::1', ...PYTHON_PRESET], host: '::1' });
  t.equal(r.conn_info.ip, '::1');
  const reply = await shellRequest(info, 'kernel_info_request', {});
  t.equal(reply.header.msg_type, 'kernel_info_reply', 'kernel_info over IPv6 with a zeromq.js client');
  t.equal(reply.content.status, 'ok');
  run.child.kill('SIGTERM');
  t.equal((await run.exited).code, 0);
});

t.test('the launch token file is read when KERNEL_LAUNCH_TOKEN is absent', async (t) => {
  const tokenFile = join(mkdtempSync(join(tmpdir(), 'gl-token-')), 'token');
  const { receiver, run } = await startLaunch(t, {
    kernelId: 'k-tokfile',
    args: ['--launch-token-file', tokenFile, '--', PYTHON, '-m', 'no_such_module', '{connection_file}'],
    // The token file, written once the receiver (which issues the token) exists.
    env: (receiver) => {
      writeFileSync(tokenFile, `${receiver.token}\n`, { mode: 0o600 });
      // Left out of the launcher's environment (spawn skips a variable set to undefined).
      return { KERNEL_LAUNCH_TOKEN: undefined };
    },
  });
  const { plaintext } = await receiver.next();
  t.equal(plaintext.token, receiver.token);
  await run.exited;
});

t.test('a response no listener acknowledges within --launch-timeout ends the launch: non-zero exit, kernel stopped', async (t) => {
  const port = await closedPort();
  const receiver = new Receiver(); // keys and token only: nothing listens on the port
  // What must run out is the delivery, not the kernel start: a stand-in kernel that is ready as soon as Python is
  // up, and, on a machine so loaded that even that took the whole launch timeout, the launch again with twice the
  // timeout (which the launcher logged as kernel_not_ready, a different test's subject).
  let run: LauncherRun | undefined;
  for (let timeoutS = 10; timeoutS <= 160; timeoutS *= 2) {
    const attempt = runLauncher(
      [
        '--kernel-id',
        'k-nolistener',
        '--response-address',
        `127.0.0.1:${port}`,
        '--public-key',
        receiver.publicKey,
        '--launch-timeout',
        String(timeoutS),
        '--shutdown-grace',
        '0.5',
        '--',
        PYTHON,
        LISTEN_ONLY,
        '{connection_file}',
      ],
      {
        KERNEL_LAUNCH_TOKEN: receiver.token,
      },
    );
    t.teardown(() => attempt.stop());
    await attempt.exited;
    run = attempt;
    if (attempt.logs.some((l) => l.event === 'kernel_ready')) break;
    t.comment(`the stand-in kernel was not ready within ${timeoutS} s; again with ${timeoutS * 2} s`);
  }
  if (run === undefined) throw new Error('unreachable');
  t.ok(
    run.logs.some((l) => l.event === 'kernel_ready'),
    'the kernel was ready: the delivery is what ran out of time',
  );
  const exit = await run.exited;
  t.equal(exit.code, 1, 'exit status 1');
  const failed = run.logs.find((l) => l.event === 'launcher_failed');
  t.equal(failed?.code, 'GL_ERR_RESPONSE_UNDELIVERED', 'the reason is logged with its code');
  t.match(String(failed?.err), /not acknowledged by 127\.0\.0\.1:\d+ before the launch timeout/);
  const pgid = run.logs.find((l) => l.event === 'kernel_spawned')?.pid as number;
  t.notOk(groupAlive(pgid), 'the kernel was stopped');
});

t.test(
  'a launcher killed outright (SIGKILL) takes its kernel with it',
  { skip: existsSync('/usr/bin/setpriv') ? false : 'util-linux setpriv is not installed' },
  async (t) => {
    const { run } = await startLaunch(t, {
      kernelId: 'k-sigkill',
      args: ['--', PYTHON, '-c', 'import time; time.sleep(60)', '{connection_file}'],
    });
    const pid = (await run.waitLog((l) => l.event === 'kernel_spawned', 'kernel_spawned', RESPONSE_WAIT_MS)).pid as number;
    // Killed at once: the kernel starts only once the watchdog knows its group (the start gate), so no moment
    // after the spawn leaves it behind (sigkill-at-spawn.system.test.ts hits the worst one on purpose).
    run.child.kill('SIGKILL');
    await run.exited;
    t.ok(await waitFor(() => !groupAlive(pid), GENEROUS_MS), 'the kernel died with its launcher');
    // A SIGKILLed launcher cannot remove its private directory; the test does.
    const file = run.logs.find((l) => l.event === 'ports_selected')?.connection_file as string;
    rmSync(dirname(file), { recursive: true, force: true });
  },
);

t.test('a kernel that dumps binary junk on stderr still gets its failure response through the size limit', async (t) => {
  const { receiver } = await startLaunch(t, {
    kernelId: 'k-junk',
    args: [
      '--',
      PYTHON,
      '-c',
      'import sys; sys.stderr.write("\\x1b" * 9000 + "\\x00" * 9000 + "the end"); sys.exit(3)',
      '{connection_file}',
    ],
  });
  const { plaintext } = await receiver.next();
  t.ok(isFailureResponse(plaintext), 'failure response accepted by a receiver enforcing the 64 KiB limit');
  const f = (plaintext as ResponseFailure).failure;
  t.equal(f.exit_code, 3);
  t.match(f.stderr_tail, /the end$/, 'the end of stderr is kept');
  t.notMatch(f.stderr_tail, /[\u0000-\u0008\u000b-\u001f]/, 'control characters replaced');
  t.same(receiver.refusals, [], 'nothing refused as too large');
});

t.test('a launcher that fails before the kernel exists still sends a failure response naming why', async (t) => {
  const { receiver, run } = await startLaunch(t, {
    kernelId: 'k-nodir',
    args: ['--connection-dir', '/nonexistent/gl-dir', ...IPYKERNEL_ARGV],
  });
  const { plaintext } = await receiver.next();
  t.ok(isFailureResponse(plaintext));
  t.match((plaintext as ResponseFailure).failure.stderr_tail, /ENOENT.*\/nonexistent\/gl-dir/);
  t.equal((await run.exited).code, 1);
});
