import t from 'tap';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PYTHON_PRESET, groupAlive, kernelClient, waitFor } from './helpers/launcher-process.js';
import { launchKernel, reportedPorts } from './helpers/launched-kernel.js';
import { heartbeat } from './helpers/zmq-client.js';

const RANGE = '29000..30000';

t.test('the python preset runs in handoff mode by default: a real ipykernel serves the sockets the launcher bound', async (t) => {
  const { run, response: r, info, control } = await launchKernel(t, { kernelId: 'k-handoff', range: RANGE, args: PYTHON_PRESET });
  t.equal(r.mode, 'handoff');
  const ports = reportedPorts(r);
  t.equal(new Set(ports).size, 6, 'six distinct ports');
  for (const p of ports) t.ok(p >= 29000 && p <= 30000, `port ${p} inside ${RANGE}`);
  t.ok(await waitFor(() => run.logs.some((l) => l.event === 'response_acked'), 30_000), 'response acknowledged');
  const events = run.logs.map((l) => l.event);
  t.ok(
    events.indexOf('kernel_ready') >= 0 && events.indexOf('kernel_ready') < events.indexOf('response_acked'),
    'heartbeat readiness (the default) comes before the response',
  );
  t.ok(
    await waitFor(() => run.logs.some((l) => l.event === 'handoff_adopted' && l.sockets === 5), 30_000),
    'the bootstrap reports all five sockets adopted',
  );
  t.notOk(
    run.logs.some((l) => l.event === 'handoff_fallback'),
    'no fallback',
  );

  await t.test('execute (jupyter_client, wait_for_ready) and heartbeat', async (t) => {
    const out = await kernelClient(info, 'execute', 'print("handed"); 6*7').result;
    t.equal(out.status, 'ok');
    t.equal(out.result, '42');
    t.equal(out.stdout, 'handed\n');
    t.ok(await heartbeat(info, 10_000), 'the hb socket echoes');
  });

  await t.test('input() round trip over the handed stdin socket', async (t) => {
    const out = await kernelClient(info, 'input', 'name = input("who? "); name.upper()', 'ada').result;
    t.same(out.prompts, ['who? ']);
    t.equal(out.result, "'ADA'");
  });

  await t.test('an interrupt request ends a running cell with KeyboardInterrupt', async (t) => {
    const marker = join(mkdtempSync(join(tmpdir(), 'gl-cell-')), 'running');
    t.teardown(() => rmSync(dirname(marker), { recursive: true, force: true }));
    const cell = kernelClient(info, 'execute_async', `import time\nopen(${JSON.stringify(marker)}, "w").close()\ntime.sleep(60)`);
    // The cell is running once it has written the marker: the interrupt must find it there.
    t.ok(await waitFor(() => existsSync(marker), 30_000), 'the cell runs');
    t.same(await control({ interrupt: true }), { ok: true });
    const result = await cell.result;
    t.equal(result.status, 'error');
    t.equal(result.ename, 'KeyboardInterrupt');
  });

  await t.test('restart in place is refused: the sockets went to the kernel', async (t) => {
    t.match(await control({ restart: true }), { ok: false, error: 'GL_ERR_CONTROL_REQUEST_INVALID' });
    t.equal((await kernelClient(info, 'execute', '1+1').result).result, '2', 'the kernel runs on');
  });

  await t.test('a shutdown request stops kernel and launcher and frees the ports', async (t) => {
    const pgid = run.logs.find((l) => l.event === 'kernel_spawned')?.pid as number;
    const file = run.logs.find((l) => l.event === 'ports_selected')?.connection_file as string;
    t.ok(existsSync(file), 'connection file exists while the kernel runs');
    t.same(await control({ shutdown: true }), { ok: true });
    const exit = await run.exited;
    t.equal(exit.code, 0, 'launcher exits with the kernel status');
    t.notOk(groupAlive(pgid), 'kernel process group is gone');
    t.notOk(existsSync(file), 'connection file removed');
    t.notOk(run.stderr().includes(r.conn_info.key), 'connection key absent from the logs');
  });
});
