/**
 * End to end: a host restart. `serve` is killed (SIGKILL, as when its host
 * crashes) while a real launcher runs; a new `serve` with the same key file
 * and port adopts the control target the host had persisted, and controls
 * the kernel: interrupt, then (once the launcher has re-attached its
 * WebSocket) shutdown, with kernel-exit reported to the new process.
 */
import t from 'tap';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServeProcess } from '../../packages/listener/test/fixtures/serve-process.js';
import { startLauncher, stopLauncher } from './fixtures/real-launcher.js';

t.test('a restarted serve with the same key file adopts a running launcher; interrupt, shutdown and kernel-exit work', async (t) => {
  const keyFile = join(mkdtempSync(join(tmpdir(), 'gl-serve-adopt-')), 'keys.json');
  const first = await ServeProcess.start({ args: ['--host', '127.0.0.1', '--port', '0', '--key-file', keyFile] });
  t.teardown(() => first.kill());
  const reg = await first.request('register', { kernel_id: 'k-adopt', transport: 'ws', timeout_ms: 90_000 });
  const launcher = startLauncher((reg.result as { env: Record<string, string> }).env);
  t.teardown(() => stopLauncher(launcher));
  const info = await first.notification('connection-info', 'k-adopt');
  const target = (info.params as { control_target: Record<string, unknown> }).control_target;
  t.equal(target.protocol, 2);
  await launcher.logged('response_acked');

  first.child.kill('SIGKILL');
  t.equal((await first.exited).signal, 'SIGKILL', 'the first serve died without closing anything');
  t.same(first.schemaErrors, []);

  const port = String(first.ready.response_address).split(':')[1] as string;
  const second = await ServeProcess.start({ args: ['--host', '127.0.0.1', '--port', port, '--port-retries', '0', '--key-file', keyFile] });
  t.teardown(() => second.kill());
  t.equal(second.ready.public_key, first.ready.public_key, 'the same key pair, from the key file');
  t.same((await second.request('adopt', { control_target: target })).result, { ok: true });

  const interrupt = await second.request('control', { kernel_id: 'k-adopt', action: 'interrupt' });
  t.match(interrupt.result, { ok: true }, 'interrupt reaches the adopted launcher');

  // The launcher keeps reconnecting to the same address; the new serve knows it now.
  await launcher.logged('ws_reattached');
  t.match((await second.request('stats')).result, { sessions: 1, web_sockets: 1 }, 'its WebSocket is attached to the new serve');
  const down = await second.request('control', { kernel_id: 'k-adopt', action: 'shutdown' });
  t.match(down.result, { ok: true, route: 'websocket' });
  t.same((await second.notification('kernel-exit', 'k-adopt')).params, { kernel_id: 'k-adopt', exit_code: 0, signal: null });
  t.equal(await launcher.exited, 0, 'the launcher exited 0');
  await second.end();
  t.same(second.schemaErrors, []);
});
