/**
 * Control of launched kernels against an in-test fake launcher (built from
 * packages/common): over the comm port and over the launcher's WebSocket,
 * boxed v2 requests with a strictly increasing `seq`, typed failures, and
 * kernel-exit events.
 */
import t, { type Test } from 'tap';
import { createServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { SeqGuard, decodeBoxPublicKey, generateKeyPair, openControlRequest, sealControlReply } from '@gateway-launchers/common';
import type { ResponseListener } from '../src/response-listener.js';
import type { ListenerLimits } from '../src/listener-options.js';
import type { KernelControl } from '../src/control-client.js';
import { FakeLauncher, type FakeLauncherOptions, sealFakeResponse, sendLine, startListener } from './fixtures/fake-launcher.js';

async function launched(
  t: Test,
  transport: 'tcp' | 'ws',
  options: { limits?: Partial<ListenerLimits>; reply?: FakeLauncherOptions['reply']; listener?: ResponseListener; kernelId?: string } = {},
): Promise<{ l: ResponseListener; fake: FakeLauncher; kernelId: string }> {
  const l = options.listener ?? (await startListener(options.limits === undefined ? {} : { limits: options.limits }));
  if (options.listener === undefined) t.teardown(() => l.close());
  const kernelId = options.kernelId ?? `kernel-${transport}`;
  const launch = l.register(kernelId, { transport });
  const fake = await FakeLauncher.start({
    kernelId,
    token: launch.launchToken as string,
    publicKey: launch.publicKey,
    responseAddress: launch.responseAddress,
    ...(options.reply === undefined ? {} : { reply: options.reply }),
  });
  t.teardown(() => fake.close());
  t.same(fake.ack, { ok: true }, 'response acknowledged');
  await launch.response;
  return { l, fake, kernelId };
}

t.test('interrupt, signal and shutdown over the comm port, boxed with an increasing seq', async (t) => {
  const { l, fake, kernelId } = await launched(t, 'tcp');
  const control = l.control(kernelId);
  t.equal(control.kernelId, kernelId);
  const results = [await control.interrupt(), await control.signal('SIGUSR2'), await control.shutdown()];
  for (const r of results) t.same(r, { ok: true, value: { ok: true, route: 'comm-port' } });
  t.same(
    fake.requests.map((r) => [r.route, r.request.request]),
    [
      ['comm-port', { interrupt: true }],
      ['comm-port', { signal: 'SIGUSR2' }],
      ['comm-port', { shutdown: true }],
    ],
  );
  const seqs = fake.requests.map((r) => r.request.seq);
  t.ok(
    seqs.every((s, i) => i === 0 || s > (seqs[i - 1] as number)),
    'seq strictly increases',
  );
  t.ok(Math.abs((seqs[0] as number) / 1000 - Date.now()) < 60_000, 'seq is the wall clock in µs');
  t.same(fake.refusals, []);
  t.equal(l.stats().sessions, 0, 'after a shutdown without WebSocket the session is released');
});

t.test('interrupt and shutdown over the WebSocket; kernel-exit arrives when the launcher reports exit', async (t) => {
  const { l, fake, kernelId } = await launched(t, 'ws');
  t.equal(l.stats().webSockets, 1, 'the launcher WebSocket stays open after the ack');
  t.equal(l.stats().unauthenticatedConnections, 0, 'and no longer counts as unauthenticated');
  const control = l.control(kernelId);
  t.same(await control.interrupt(), { ok: true, value: { ok: true, route: 'websocket' } });
  t.same(await control.restart(), { ok: true, value: { ok: true, route: 'websocket' } });
  t.same(await control.shutdown(), { ok: true, value: { ok: true, route: 'websocket' } });
  t.same(
    fake.requests.map((r) => [r.route, r.request.request]),
    [
      ['websocket', { interrupt: true }],
      ['websocket', { restart: true }],
      ['websocket', { shutdown: true }],
    ],
  );
  const exit = new Promise((resolve) => l.once('kernel-exit', resolve));
  fake.reportExit(null, 'SIGTERM');
  t.same(await exit, { kernelId, exitCode: null, signal: 'SIGTERM' });
  fake.ws?.close();
  while (l.stats().sessions > 0) await new Promise((r) => setTimeout(r, 5));
  t.pass('the session is released once the exited launcher closes its WebSocket');
});

t.test('a forged event on the WebSocket (wrong key) is ignored', async (t) => {
  const { l, fake, kernelId } = await launched(t, 'ws');
  const exits: unknown[] = [];
  l.on('kernel-exit', (e) => exits.push(e));
  const { sealEvent, decodeBoxPublicKey } = await import('@gateway-launchers/common');
  const forger = generateKeyPair();
  fake.ws?.send(
    sealEvent(
      { event: 'kernel_exit', kernel_id: kernelId, exit_code: 0, signal: null },
      decodeBoxPublicKey(l.publicKey) as Uint8Array,
      forger.secretKey,
    ),
  );
  // A real request afterwards proves the forged frame was processed (in order) and ignored.
  t.same(await l.control(kernelId).interrupt(), { ok: true, value: { ok: true, route: 'websocket' } });
  t.same(exits, []);
});

t.test('falls back to the comm port when the WebSocket is gone', async (t) => {
  const { l, fake, kernelId } = await launched(t, 'ws');
  fake.ws?.terminate();
  while (l.stats().webSockets > 0) await new Promise((r) => setTimeout(r, 5));
  t.same(await l.control(kernelId).interrupt(), { ok: true, value: { ok: true, route: 'comm-port' } });
  t.equal(fake.requests.at(-1)?.route, 'comm-port');
});

t.test('a launcher refusal is a typed result carrying the launcher code', async (t) => {
  const { l, kernelId } = await launched(t, 'tcp', { reply: () => ({ ok: false, error: 'GL_ERR_CONTROL_REQUEST_INVALID' }) });
  const r = await l.control(kernelId).restart();
  t.equal(r.ok, false);
  if (!r.ok) {
    t.equal(r.error.code, 'GL_ERR_CONTROL_FAILED');
    t.match(r.error.details, { route: 'comm-port', launcher_error: 'GL_ERR_CONTROL_REQUEST_INVALID' });
  }
});

t.test('an unanswered request times out with GL_ERR_CONTROL_TIMEOUT (comm port)', async (t) => {
  const { l, kernelId } = await launched(t, 'tcp', { limits: { controlTimeoutMs: 200 }, reply: () => null });
  const r = await l.control(kernelId).interrupt();
  t.equal(!r.ok && r.error.code, 'GL_ERR_CONTROL_TIMEOUT');
});

t.test('an unanswered request times out on the WebSocket, which is then dropped for the comm port', async (t) => {
  let answer = false;
  const { l, kernelId } = await launched(t, 'ws', { limits: { controlTimeoutMs: 200 }, reply: () => (answer ? { ok: true } : null) });
  const r = await l.control(kernelId).interrupt();
  t.equal(!r.ok && r.error.code, 'GL_ERR_CONTROL_TIMEOUT');
  while (l.stats().webSockets > 0) await new Promise((res) => setTimeout(res, 5));
  answer = true;
  t.same(
    await l.control(kernelId).interrupt(),
    { ok: true, value: { ok: true, route: 'comm-port' } },
    'the next request uses the comm port',
  );
});

t.test('an unreachable comm port is GL_ERR_CONTROL_FAILED, never a rejection', async (t) => {
  const { l, fake, kernelId } = await launched(t, 'tcp');
  await fake.close();
  const r = await l.control(kernelId).interrupt();
  t.equal(!r.ok && r.error.code, 'GL_ERR_CONTROL_FAILED');
  t.match(!r.ok && r.error.details, { errno: 'ECONNREFUSED' });
});

t.test('control without a route, with a bad signal, or after close is a typed result', async (t) => {
  const l = await startListener();
  const unknown = await l.control('never-launched').interrupt();
  t.equal(!unknown.ok && unknown.error.code, 'GL_ERR_CONTROL_UNAVAILABLE');
  const { kernelId } = await launched(t, 'tcp', { listener: l });
  // What a JavaScript caller (or a name from configuration) can pass despite the type.
  const untypedSignal = l.control(kernelId).signal as (name: string) => ReturnType<KernelControl['signal']>;
  const bad = await untypedSignal('SIGNOPE');
  t.equal(!bad.ok && bad.error.code, 'GL_ERR_CONTROL_REQUEST_INVALID');
  await l.close();
  const closed = await l.control(kernelId).interrupt();
  t.equal(!closed.ok && closed.error.code, 'GL_ERR_LISTENER_CLOSED');
});

t.test('a host restarted with its persisted key pair keeps control of a running launcher', async (t) => {
  const keyPair = generateKeyPair();
  const first = await startListener({ keyPair });
  const { fake, kernelId } = await launched(t, 'tcp', { listener: first });
  t.same(await first.control(kernelId).interrupt(), { ok: true, value: { ok: true, route: 'comm-port' } });
  const target = first.controlTarget(kernelId);
  t.ok(target);
  const persisted = JSON.parse(JSON.stringify(target)) as NonNullable<typeof target>;
  await first.close();

  const second = await startListener({ keyPair });
  t.teardown(() => second.close());
  const control = second.adopt(persisted);
  t.same(await control.interrupt(), { ok: true, value: { ok: true, route: 'comm-port' } });
  t.same(fake.refusals, [], 'the launcher accepted the new host: same key, seq still increasing');
  t.equal(fake.requests.length, 2);

  const stranger = await startListener();
  t.teardown(() => stranger.close());
  const r = await stranger.adopt(persisted).interrupt();
  t.equal(!r.ok && r.error.code, 'GL_ERR_CONTROL_FAILED', 'a host with another key pair is refused by the launcher');
  t.same(fake.refusals, ['GL_ERR_ENVELOPE_OPEN_FAILED']);
});

t.test('concurrent control calls go out one at a time, so a slow first request is not overtaken and refused as a replay', async (t) => {
  const l = await startListener();
  t.teardown(() => l.close());
  const launch = l.register('kernel-serial', { transport: 'tcp' });
  // A comm port that sits on its first request for 300 ms, as a slow network path would.
  const seen: Array<{ seq: number; action: string }> = [];
  const arrived: number[] = [];
  const answered: number[] = [];
  let first = true;
  let ephemeralSecret: Uint8Array = new Uint8Array(32);
  const listenerPk = decodeBoxPublicKey(launch.publicKey) as Uint8Array;
  const guard = new SeqGuard();
  const server = createServer((socket) => {
    const delay = first ? 300 : 0;
    first = false;
    let buf = '';
    socket.on('data', (c: Buffer) => {
      buf += c.toString();
      if (!buf.includes('\n')) return;
      arrived.push(performance.now());
      setTimeout(() => {
        const req = openControlRequest(buf.trim(), listenerPk, ephemeralSecret);
        if (!req.ok || !guard.accept(req.value.seq))
          return void socket.end(`${JSON.stringify({ ok: false, error: req.ok ? 'GL_ERR_REPLAY' : req.error.code })}\n`);
        seen.push({ seq: req.value.seq, action: Object.keys(req.value.request)[0] as string });
        answered.push(performance.now());
        socket.end(
          `${sealControlReply({ kernel_id: 'kernel-serial', seq: req.value.seq, reply: { ok: true } }, listenerPk, ephemeralSecret)}\n`,
        );
      }, delay);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise((r) => server.close(r)));
  const sealed = sealFakeResponse({
    kernelId: 'kernel-serial',
    token: launch.launchToken as string,
    publicKey: launch.publicKey,
    commPort: (server.address() as AddressInfo).port,
  });
  ephemeralSecret = sealed.ephemeral.secretKey;
  t.same(await sendLine(launch.responseAddress, sealed.text), { ok: true });
  await launch.response;
  const control = l.control('kernel-serial');
  const results = await Promise.all([control.interrupt(), control.signal('SIGCONT'), control.signal('SIGUSR1')]);
  for (const r of results) t.equal(r.ok, true, 'every call succeeded');
  t.ok(
    arrived.every((at, i) => i === 0 || at >= (answered[i - 1] as number)),
    'each request went out only after the previous one was answered',
  );
  t.same(
    seen.map((s) => s.action),
    ['interrupt', 'signal', 'signal'],
    'in call order',
  );
  t.ok(
    seen.every((s, i) => i === 0 || s.seq > (seen[i - 1] as { seq: number }).seq),
    'seq increases in arrival order',
  );
});

t.test('a process bound on a freed comm port answering {"ok":true,…} is refused with GL_ERR_CONTROL_FAILED (issue 11.5)', async (t) => {
  const { l, fake, kernelId } = await launched(t, 'tcp');
  const port = fake.commPort;
  await fake.close(); // the launcher is gone (SIGKILLed): its comm port is free
  const impostor = createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => s.end(`${JSON.stringify({ ok: true, last_activity: Date.now(), execution_state: 'idle' })}\n`));
  });
  impostor.listen(port, '127.0.0.1');
  await once(impostor, 'listening');
  t.teardown(() => impostor.close());
  const results = [await l.control(kernelId).interrupt(), await l.control(kernelId).shutdown()];
  for (const r of results) {
    t.equal(r.ok, false, 'the forged success is not believed');
    if (!r.ok) {
      t.equal(r.error.code, 'GL_ERR_CONTROL_FAILED');
      t.match(r.error.details, { reply_error: 'GL_ERR_REPLY_UNSEALED' });
    }
  }
  t.equal(l.stats().sessions, 1, 'a shutdown that did not succeed keeps the session');
});
