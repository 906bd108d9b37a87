import t from 'tap';
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { Receiver } from './helpers/receiver.js';
import {
  CELL_STARTED,
  GENEROUS_MS,
  IPYKERNEL_ARGV,
  SLEEPING_CELL,
  controlText,
  groupAlive,
  kernelClient,
  replyOf,
  sendComm,
  waitFor,
} from './helpers/launcher-process.js';
import { launchKernel, reportedPorts } from './helpers/launched-kernel.js';

const RANGE = '25000..26000';

t.test('a real ipykernel started by the launcher executes code with the sealed connection info', async (t) => {
  const {
    receiver,
    run,
    response: r,
    epk,
    info,
    control,
  } = await launchKernel(t, { kernelId: 'k-exec', range: RANGE, args: IPYKERNEL_ARGV });
  const ports = reportedPorts(r);
  t.equal(new Set(ports).size, 6, 'six distinct ports');
  for (const p of ports) t.ok(p >= 25000 && p <= 26000, `port ${p} inside ${RANGE}`);
  t.equal(r.mode, 'direct');
  const exec = kernelClient(info, 'execute', 'print("hi"); 1+1');
  const out = await exec.result;
  t.equal(out.status, 'ok');
  t.equal(out.result, '2');
  t.equal(out.stdout, 'hi\n');

  await t.test('a v2 interrupt request ends a running cell with KeyboardInterrupt; bad requests do not', async (t) => {
    const cell = kernelClient(info, 'execute_async', SLEEPING_CELL);
    await cell.printed(CELL_STARTED); // the cell runs: an interrupt now can only end it
    const forged = await sendComm(r.comm_port, controlText('k-exec', { interrupt: true }, epk, new Receiver().keys.secretKey));
    t.match(
      replyOf(forged, epk, receiver.keys.secretKey),
      { ok: false, error: 'GL_ERR_ENVELOPE_OPEN_FAILED' },
      'a request sealed with another key is refused',
    );
    const other = await sendComm(r.comm_port, controlText('k-other', { interrupt: true }, epk, receiver.keys.secretKey));
    t.match(
      replyOf(other, epk, receiver.keys.secretKey),
      { ok: false, error: 'GL_ERR_KERNEL_ID_MISMATCH' },
      'a request for another kernel is refused',
    );
    const good = controlText('k-exec', { signal: 'SIGCONT' }, epk, receiver.keys.secretKey);
    t.same(
      replyOf(await sendComm(r.comm_port, good), epk, receiver.keys.secretKey),
      { ok: true },
      'an authentic harmless request is accepted',
    );
    t.match(
      replyOf(await sendComm(r.comm_port, good), epk, receiver.keys.secretKey),
      { ok: false, error: 'GL_ERR_REPLAY' },
      'its replay is refused',
    );
    const garbage = await sendComm(r.comm_port, '{"signum": 2}');
    t.match(replyOf(garbage, epk, receiver.keys.secretKey), { ok: false }, 'a v1 request is refused in v2 mode');
    // One more authentic request: once its log line is in, so are the lines of everything before it.
    t.same(await control({ signal: 'SIGCONT' }), { ok: true });
    const acted = (): unknown[] => run.logs.filter((l) => l.event === 'control_request').map((l) => l.action);
    await waitFor(() => acted().length >= 2, GENEROUS_MS);
    t.same(acted(), ['signal', 'signal'], 'only the authentic requests were acted on');
    t.equal(cell.child.exitCode, null, 'the cell is still running after the refused requests');
    // Idle peers hold comm-port connections open without a byte: the interrupt is not delayed by them.
    // More idle peers than the comm port's connection cap (64): the oldest make room.
    const idle = await Promise.all(
      Array.from(
        { length: 70 },
        () =>
          new Promise<Socket>((resolve) => {
            const s = connect({ host: '127.0.0.1', port: r.comm_port }, () => resolve(s));
            s.on('error', () => {});
          }),
      ),
    );
    t.teardown(() => idle.forEach((s) => s.destroy()));
    const closedIdle = new Set<Socket>();
    for (const s of idle) s.once('close', () => closedIdle.add(s));
    const reply = await sendComm(r.comm_port, controlText('k-exec', { interrupt: true }, epk, receiver.keys.secretKey));
    // Waiting on the idle peers would have meant waiting for their idle timeout, which closes them all.
    t.ok(
      closedIdle.size < idle.length,
      `answered while idle peers still hold connections (${idle.length - closedIdle.size} of ${idle.length} open)`,
    );
    t.same(replyOf(reply, epk, receiver.keys.secretKey), { ok: true });
    const result = await cell.result;
    t.equal(result.status, 'error');
    t.equal(result.ename, 'KeyboardInterrupt');
  });

  await t.test('a shutdown request stops kernel and launcher and removes the connection file', async (t) => {
    const spawned = run.logs.find((l) => l.event === 'kernel_spawned');
    const pgid = spawned?.pid as number;
    t.ok(pgid > 0, 'kernel pid logged');
    const file = run.logs.find((l) => l.event === 'ports_selected')?.connection_file as string;
    t.ok(existsSync(file), 'connection file exists while the kernel runs');
    t.same(await control({ shutdown: true }), { ok: true });
    const exit = await run.exited;
    t.equal(exit.code, 0, 'launcher exits with the kernel status (the kernel answered shutdown_request: no signal needed)');
    t.notOk(groupAlive(pgid), 'kernel process group is gone');
    t.notOk(existsSync(file), 'connection file removed');
  });

  await t.test('the launcher logs phases with kernel_id and never the token or the connection key', async (t) => {
    const log = run.stderr();
    t.notOk(log.includes(receiver.token), 'launch token absent from the logs');
    t.notOk(log.includes(r.conn_info.key), 'connection key absent from the logs');
    const events = run.logs.filter((l) => l.kernel_id === 'k-exec').map((l) => l.event);
    for (const e of [
      'ports_selected',
      'kernel_spawned',
      'kernel_ready',
      'response_acked',
      'control_request',
      'stopping',
      'kernel_exited',
      'launcher_exit',
    ])
      t.ok(events.includes(e), `${e} logged with kernel_id`);
    t.ok(
      run.logs.filter((l) => l.event === 'kernel_ready').every((l) => typeof l.ms === 'number'),
      'phases carry ms',
    );
  });
});
