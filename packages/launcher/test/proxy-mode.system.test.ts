import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ResponseSuccess, isFailureResponse } from '@gateway-launchers/common';
import { fileURLToPath } from 'node:url';
import {
  CELL_STARTED,
  GENEROUS_MS,
  IPYKERNEL_ARGV,
  KERNEL_CLIENT,
  PYTHON,
  RESPONSE_WAIT_MS,
  SLEEPING_CELL,
  kernelClient,
  waitFor,
  writeConnectionFile,
} from './helpers/launcher-process.js';
import { launchKernel, reportedPorts, startLaunch } from './helpers/launched-kernel.js';
import { holdPortBlock } from './helpers/ports.js';
import { heartbeat } from './helpers/zmq-client.js';

const RANGE = '23000..24000';
const CLASH_ONCE = fileURLToPath(new URL('./fixtures/clash_once.py', import.meta.url));

/** Runs `cond` (each run a request and its answer) until it holds; false after {@link GENEROUS_MS}. */
async function waitUntil(cond: () => Promise<boolean>): Promise<boolean> {
  const end = performance.now() + GENEROUS_MS;
  while (performance.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** A kernel launched in proxy mode that listens behind the relay. */
function startProxied(t: Test, kernelId: string, extra: string[] = []) {
  return launchKernel(t, { kernelId, range: RANGE, args: ['--mode', 'proxy', ...extra, ...IPYKERNEL_ARGV], awaitKernelReady: true });
}

t.test('proxy mode relays every channel of a real ipykernel through public ports in range', async (t) => {
  const { run, response: r, info, control } = await startProxied(t, 'k-proxy');
  t.equal(r.mode, 'proxy');
  const ports = reportedPorts(r);
  t.equal(new Set(ports).size, 6);
  for (const p of ports) t.ok(p >= 23000 && p <= 24000, `public port ${p} in range`);
  const kernelPorts = run.logs.find((l) => l.event === 'kernel_spawned')?.kernel_ports as number[];
  t.ok(
    kernelPorts.every((p) => !ports.includes(p)),
    'the kernel itself is on other (loopback) ports',
  );

  await t.test('kernel_info and execute with its result on iopub', async (t) => {
    t.same(await kernelClient(info, 'kernel_info').result, { status: 'ok' });
    const out = await kernelClient(info, 'execute', 'print("via proxy"); 20+22').result;
    t.equal(out.result, '42');
    t.equal(out.stdout, 'via proxy\n');
  });

  await t.test('input() round trip over stdin', async (t) => {
    const out = await kernelClient(info, 'input', 'name = input("who? "); name.upper()', 'ada').result;
    t.same(out.prompts, ['who? ']);
    t.equal(out.result, "'ADA'");
  });

  await t.test('a 5,000-message iopub burst arrives complete and in order', async (t) => {
    const out = await kernelClient(info, 'outputs', 'from IPython.display import display\nfor i in range(5000): display(i)').result;
    t.equal(out.count, 5000);
    t.equal(out.first, '0');
    t.equal(out.last, '4999');
  });

  await t.test('a 10 MiB display output is relayed intact', async (t) => {
    const code =
      'import hashlib\nfrom IPython.display import display\ns = "".join(chr(97 + (i * 7) % 26) for i in range(10 * 1024 * 1024))\ndisplay({"text/plain": s}, raw=True)';
    const out = await kernelClient(info, 'outputs', code).result;
    t.equal(out.count, 1);
    t.equal(out.length, 10 * 1024 * 1024);
    const { createHash } = await import('node:crypto');
    const parts: string[] = [];
    for (let i = 0; i < 26; i++) parts.push(String.fromCharCode(97 + ((i * 7) % 26)));
    const chunk = parts.join('');
    const s = chunk.repeat(Math.ceil((10 * 1024 * 1024) / 26)).slice(0, 10 * 1024 * 1024);
    t.equal(out.digest, createHash('sha256').update(s).digest('hex'), 'same bytes as the kernel produced');
  });

  await t.test('heartbeat tells the truth: silent while the kernel is stopped, back after SIGCONT', async (t) => {
    t.ok(await heartbeat(info, GENEROUS_MS), 'answers while running');
    t.match(await control({ signal: 'SIGSTOP' }), { ok: true });
    // A stopped kernel cannot answer however long one waits: a slow machine can only make this check weaker.
    t.notOk(await heartbeat(info, 700), 'no answer while the kernel is stopped');
    t.match(await control({ signal: 'SIGCONT' }), { ok: true });
    t.ok(await heartbeat(info, GENEROUS_MS), 'answers again');
  });

  await t.test('interrupt by signal ends a running cell; replies carry last_activity and execution_state', async (t) => {
    const before = Date.now();
    const cell = kernelClient(info, 'execute_async', SLEEPING_CELL);
    await cell.printed(CELL_STARTED);
    const reply = await control({ interrupt: true });
    t.equal(reply.ok, true);
    t.equal(reply.execution_state, 'busy', 'the proxy saw the kernel busy');
    const activity = reply.last_activity as number;
    t.ok(
      typeof activity === 'number' && activity >= before - 1_000 && activity <= Date.now() + 1_000,
      "last_activity is the running cell's (after it was sent, before the reply)",
    );
    t.equal((await cell.result).ename, 'KeyboardInterrupt');
    // The kernel publishes status idle after the reply the client saw: ask until the proxy has relayed it.
    let after: Record<string, unknown> = {};
    t.ok(await waitUntil(async () => (after = await control({ signal: 'SIGCONT' })).execution_state === 'idle'), 'idle again afterwards');
    t.equal(after.execution_state, 'idle');
  });

  await t.test('restart in place keeps the client sockets: the same client sees status starting and a fresh kernel', async (t) => {
    const file = writeConnectionFile(info);
    const client = spawn(PYTHON, [KERNEL_CLIENT, file, 'restart_session'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    const ready = new Promise<void>((resolve) =>
      client.stdout.on('data', (c: Buffer) => ((out += c.toString()), out.includes('"ready"') && resolve())),
    );
    await ready;
    const oldPid = run.logs.filter((l) => l.event === 'kernel_spawned').at(-1)?.pid;
    const reply = await control({ restart: true });
    t.equal(reply.ok, true, 'restart acknowledged once the new kernel is spawned');
    await waitFor(() => run.logs.filter((l) => l.event === 'kernel_ready').length === 2, RESPONSE_WAIT_MS);
    client.stdin.end('go\n');
    await new Promise((resolve) => client.once('exit', resolve));
    const done = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    t.equal(done.saw_starting, true, 'status: starting of the new kernel on the old iopub socket');
    t.equal(done.old_state_gone, true, 'the old kernel state is gone (NameError)');
    t.equal(done.result, '42', 'the same sockets execute on the new kernel');
    const newPid = run.logs.filter((l) => l.event === 'kernel_spawned').at(-1)?.pid;
    t.not(newPid, oldPid, 'a new kernel process');
  });

  await t.test('shutdown ends the proxy and the launcher with the kernel status', async (t) => {
    t.match(await control({ shutdown: true }), { ok: true });
    t.equal((await run.exited).code, 0);
  });
});

t.test('proxy mode: interrupt by message and restart after a crash (--restart-on-crash)', async (t) => {
  const { run, info, control } = await startProxied(t, 'k-proxy-msg', ['--interrupt-mode', 'message', '--restart-on-crash', '1']);
  const cell = kernelClient(info, 'execute_async', SLEEPING_CELL);
  await cell.printed(CELL_STARTED);
  t.match(await control({ interrupt: true }), { ok: true });
  t.equal((await cell.result).ename, 'KeyboardInterrupt', 'interrupt_request on the control channel through the relay');

  t.match(await control({ signal: 'SIGKILL' }), { ok: true });
  t.ok(await waitFor(() => run.logs.some((l) => l.event === 'kernel_crash_restart'), RESPONSE_WAIT_MS), 'the crashed kernel is restarted');
  t.ok(await waitFor(() => run.logs.filter((l) => l.event === 'kernel_ready').length === 2, RESPONSE_WAIT_MS), 'and listens again');
  const out = await kernelClient(info, 'execute', '1+1').result;
  t.equal(out.result, '2', 'the same public ports serve the restarted kernel');
  t.match(await control({ signal: 'SIGKILL' }), { ok: true });
  const exit = await run.exited;
  t.equal(exit.code, 137, 'out of crash restarts: the launcher exits 128+SIGKILL');
});

t.test(
  'proxy mode: a kernel that dies of a loopback port clash before the host acknowledges is replaced, the launch goes on',
  async (t) => {
    const marker = join(mkdtempSync(join(tmpdir(), 'gl-clash-ack-')), 'marker');
    const { receiver, run } = await startLaunch(t, {
      kernelId: 'k-proxy-clash-ack',
      args: ['--mode', 'proxy', '--', PYTHON, CLASH_ONCE, marker, '{connection_file}'],
    });
    // Hold the acknowledgement until the first kernel has died of the clash: the launcher is still reporting.
    let release: () => void = () => {};
    receiver.ackGate = new Promise((resolve) => (release = resolve));
    const pid = (await run.waitLog((l) => l.event === 'kernel_spawned', 'kernel_spawned', RESPONSE_WAIT_MS)).pid as number;
    const { plaintext } = await receiver.next(RESPONSE_WAIT_MS);
    t.ok(await waitFor(() => !existsSync(`/proc/${pid}`), RESPONSE_WAIT_MS), 'the first kernel died of the clash before the ack');
    release();
    t.notOk(isFailureResponse(plaintext), 'the response reports the kernel behind the public ports');
    t.ok(
      await waitFor(() => run.logs.some((l) => l.event === 'port_clash_retry'), RESPONSE_WAIT_MS),
      'the kernel is restarted on fresh ports',
    );
    t.ok(await waitFor(() => run.logs.some((l) => l.event === 'kernel_ready'), RESPONSE_WAIT_MS), 'and listens');
    const out = await kernelClient({ ...(plaintext as ResponseSuccess).conn_info, ip: '127.0.0.1' }, 'execute', '2**10').result;
    t.equal(out.result, '1024', 'the acknowledged response is valid');
    t.equal(receiver.received.length, 0, 'no failure report followed');
    run.child.kill('SIGTERM');
    t.equal((await run.exited).code, 0);
  },
);

t.test('proxy mode skips public ports taken by others and survives a loopback port clash', async (t) => {
  // Ten ports held by this test; the first four stay taken, the other six are let go for the proxy.
  const block = await holdPortBlock(10);
  t.teardown(() => block.close());
  const base = block.base;
  await block.release([4, 5, 6, 7, 8, 9]);
  const marker = join(mkdtempSync(join(tmpdir(), 'gl-clash-')), 'marker');
  const {
    receiver,
    run,
    response: r,
    info,
  } = await launchKernel(t, {
    kernelId: 'k-proxy-clash',
    range: `${base}..${base + 9}`,
    args: ['--mode', 'proxy', '--', PYTHON, CLASH_ONCE, marker, '{connection_file}'],
    env: { MIN_PORT_RANGE_SIZE: '0' },
  });
  const used = reportedPorts(r).sort();
  t.same(used, [base + 4, base + 5, base + 6, base + 7, base + 8, base + 9], 'taken ports skipped, all in range');
  t.ok(
    await waitFor(() => run.logs.some((l) => l.event === 'port_clash_retry'), RESPONSE_WAIT_MS),
    'the kernel was restarted on fresh loopback ports',
  );
  t.ok(await waitFor(() => run.logs.some((l) => l.event === 'kernel_ready'), RESPONSE_WAIT_MS), 'and listens');
  const out = await kernelClient(info, 'execute', '2**10').result;
  t.equal(out.result, '1024', 'the response sent before the clash is still valid');
  t.equal(receiver.received.length, 0, 'no second response was needed');
  run.child.kill('SIGTERM');
  t.equal((await run.exited).code, 0);
});
