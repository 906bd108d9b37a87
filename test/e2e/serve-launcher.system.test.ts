/**
 * End to end: a host drives `gateway-listener serve` over JSON-RPC, starts
 * the real `gateway-launcher` with the environment `register` returned, and
 * runs a real ipykernel through it: connection info (the key included) that
 * a real jupyter_client uses, interrupt of a running cell, shutdown, and the
 * kernel-exit notification over the launcher's WebSocket.
 */
import t from 'tap';
import { ServeProcess } from '../../packages/listener/test/fixtures/serve-process.js';
import { runCell, startLauncher, stopLauncher } from './fixtures/real-launcher.js';

t.test('register, launch, connection-info, interrupt a running cell, shutdown, kernel-exit (transport ws)', async (t) => {
  const serve = await ServeProcess.start();
  t.teardown(() => serve.kill());
  const reg = await serve.request('register', { kernel_id: 'k-e2e', transport: 'ws', timeout_ms: 90_000 });
  const params = reg.result as { env: Record<string, string>; argv: string[]; response_address: string };
  t.match(params.response_address, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
  const launcher = startLauncher(params.env);
  t.teardown(() => stopLauncher(launcher));

  const info = await serve.notification('connection-info', 'k-e2e');
  const p = info.params as {
    connection_info: Record<string, unknown>;
    transport: string;
    mode: string;
    control_target: Record<string, unknown>;
  };
  t.equal(p.transport, 'ws');
  t.match(p.connection_info.key, /^[0-9a-f-]{36}$/, 'the connection key is included');
  t.same(
    (await serve.request('controlTarget', { kernel_id: 'k-e2e' })).result,
    { control_target: p.control_target },
    'controlTarget is the one in the notification',
  );
  t.match((await serve.request('stats')).result, { pending_registrations: 0, sessions: 1, web_sockets: 1 });

  const cell = runCell(p.connection_info, 'import time\nprint("cell-running", flush=True)\ntime.sleep(60)');
  await cell.running;
  const interrupt = await serve.request('control', { kernel_id: 'k-e2e', action: 'interrupt' });
  t.match(interrupt.result, { ok: true, route: 'websocket' });
  t.equal((await cell.done).ename, 'KeyboardInterrupt', 'the running cell was interrupted');

  const sum = runCell(p.connection_info, 'sum(range(10))');
  t.equal((await sum.done).result, '45', 'the kernel still executes');

  const down = await serve.request('control', { kernel_id: 'k-e2e', action: 'shutdown' });
  t.match(down.result, { ok: true, route: 'websocket' });
  const exit = await serve.notification('kernel-exit', 'k-e2e');
  t.same(exit.params, { kernel_id: 'k-e2e', exit_code: 0, signal: null });
  t.equal(await launcher.exited, 0, 'the launcher exited 0');

  await serve.end();
  const token = params.env.KERNEL_LAUNCH_TOKEN as string;
  t.notOk(serve.stderr.includes(token), "the token is not in serve's log");
  t.notOk(serve.stderr.includes(String(p.connection_info.key)), 'nor the connection key');
  t.notOk(launcher.log().includes(token), "nor in the launcher's");
  t.same(serve.schemaErrors, [], 'every message serve wrote validates against its schema');
});
