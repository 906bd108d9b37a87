/**
 * Registrations: launch parameters, and every way a registration ends
 * (accepted, failed, timed out, aborted, closed), with no leaks and no
 * unhandled rejections.
 */
import t from 'tap';
import { isGatewayError, type PortRange } from '@gateway-launchers/common';
import { Registration } from '../src/registration.js';
import { FakeLauncher, sealFakeResponse, sendLine, sendValidResponse, startListener } from './fixtures/fake-launcher.js';

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return isGatewayError(e) ? e.code : `not a GatewayError: ${String(e)}`;
  }
}

function syncCodeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return isGatewayError(e) ? e.code : `not a GatewayError: ${String(e)}`;
  }
}

t.test('register returns the launch parameters: env with the token, argv without it', async (t) => {
  const l = await startListener();
  t.teardown(() => l.close());
  const a = l.register('kernel-a', { portRange: '40000..41000' });
  t.equal(a.protocol, 2);
  t.equal(a.transport, 'tcp');
  t.equal(a.responseAddress, l.responseAddress);
  t.match(a.responseAddress, /^127\.0\.0\.1:\d+$/);
  t.equal(a.publicKey, l.publicKey);
  t.equal(a.portRange, '40000..41000');
  t.match(a.launchToken, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
  t.same(a.env, {
    KERNEL_ID: 'kernel-a',
    KERNEL_RESPONSE_ADDRESS: a.responseAddress,
    KERNEL_PUBLIC_KEY: l.publicKey,
    KERNEL_PORT_RANGE: '40000..41000',
    KERNEL_LAUNCH_TOKEN: a.launchToken,
  });
  t.same(a.argv, [
    '--kernel-id',
    'kernel-a',
    '--response-address',
    a.responseAddress,
    '--public-key',
    l.publicKey,
    '--port-range',
    '40000..41000',
  ]);
  t.notOk(a.argv.join(' ').includes(a.launchToken as string), 'the token is never on argv');
  const b = l.register('kernel-b', { transport: 'ws' });
  t.not(b.launchToken, a.launchToken, 'every registration gets a fresh token');
  t.match(b.responseAddress, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
  t.equal(b.portRange, '0..0');
  t.equal(l.stats().pendingRegistrations, 2);
});

t.test('a registration that times out rejects with GL_ERR_REGISTRATION_TIMEOUT, emits launch-timeout and is removed', async (t) => {
  const l = await startListener();
  t.teardown(() => l.close());
  const events: unknown[] = [];
  l.on('launch-timeout', (e) => events.push(e));
  const launch = l.register('slow-kernel', { timeoutMs: 50 });
  t.equal(await codeOf(launch.response), 'GL_ERR_REGISTRATION_TIMEOUT');
  t.same(events, [{ kernelId: 'slow-kernel', timeoutMs: 50 }]);
  t.equal(l.stats().pendingRegistrations, 0, 'removed');
  t.notOk(l.isPending('slow-kernel'));
  t.same(await sendValidResponse(launch), { ok: false, error: 'GL_ERR_UNKNOWN_KERNEL' }, 'a late response is refused');
});

t.test('an aborted registration rejects with GL_ERR_REGISTRATION_ABORTED and is removed', async (t) => {
  const l = await startListener();
  t.teardown(() => l.close());
  const ac = new AbortController();
  const launch = l.register('aborted-kernel', { signal: ac.signal });
  ac.abort(new Error('user cancelled'));
  const error = await launch.response.catch((e: unknown) => e);
  t.ok(isGatewayError(error, 'GL_ERR_REGISTRATION_ABORTED'));
  t.match((error as Error).cause, { message: 'user cancelled' }, 'the abort reason is the cause');
  t.equal(l.stats().pendingRegistrations, 0);
  const pre = AbortSignal.abort();
  t.equal(await codeOf(l.register('pre-aborted', { signal: pre }).response), 'GL_ERR_REGISTRATION_ABORTED', 'an already aborted signal');
  t.equal(l.stats().pendingRegistrations, 0);
});

t.test('close rejects pending registrations with GL_ERR_LISTENER_CLOSED and later ones at once', async (t) => {
  const l = await startListener();
  const one = l.register('k1');
  const two = l.register('k2', { transport: 'ws' });
  await l.close();
  t.equal(await codeOf(one.response), 'GL_ERR_LISTENER_CLOSED');
  t.equal(await codeOf(two.response), 'GL_ERR_LISTENER_CLOSED');
  t.equal(await codeOf(l.register('k3').response), 'GL_ERR_LISTENER_CLOSED', 'registering on a closed listener');
  t.same(l.stats(), { pendingRegistrations: 0, unauthenticatedConnections: 0, sessions: 0, webSockets: 0 });
  await l.close(); // idempotent
  t.ok(l.closed);
});

t.test('a failure response rejects with GL_ERR_KERNEL_FAILED carrying exit code, signal and stderr tail', async (t) => {
  const l = await startListener();
  t.teardown(() => l.close());
  const failed: unknown[] = [];
  l.on('launch-failed', (e) => failed.push(e));
  const launch = l.register('doomed');
  const { text } = sealFakeResponse({
    kernelId: 'doomed',
    token: launch.launchToken as string,
    publicKey: launch.publicKey,
    failure: { exit_code: 1, signal: null, stderr_tail: "ModuleNotFoundError: No module named 'ipykernel'\n" },
  });
  t.same(await sendLine(launch.responseAddress, text), { ok: true }, 'the failure report is acknowledged');
  const error = await launch.response.catch((e: unknown) => e);
  t.ok(isGatewayError(error, 'GL_ERR_KERNEL_FAILED'));
  t.match((error as { details: unknown }).details, {
    kernel_id: 'doomed',
    exit_code: 1,
    signal: null,
    stderr_tail: /No module named 'ipykernel'/,
  });
  t.same(failed, [{ kernelId: 'doomed', exitCode: 1, signal: null }]);
  t.equal(l.stats().pendingRegistrations, 0);
  t.same(await sendLine(launch.responseAddress, text), { ok: false, error: 'GL_ERR_UNKNOWN_KERNEL' }, 'the registration is consumed');
});

t.test('an un-awaited registration that rejects is not an unhandled rejection', async (t) => {
  const l = await startListener();
  t.teardown(() => l.close());
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => process.off('unhandledRejection', onUnhandled));
  const timedOut = new Promise((resolve) => l.once('launch-timeout', resolve));
  l.register('forgotten-1', { timeoutMs: 10 });
  l.register('forgotten-2', { signal: AbortSignal.abort() });
  const third = l.register('forgotten-3');
  await timedOut; // forgotten-1 settled by its timeout, forgotten-2 by its abort; forgotten-3 by the close below
  await l.close();
  await new Promise((r) => setTimeout(r, 20));
  t.same(unhandled, [], 'no unhandled rejection');
  t.equal(await codeOf(third.response), 'GL_ERR_LISTENER_CLOSED', 'a host that awaits still sees the rejection');
});

t.test('register refuses a faulty call synchronously with a typed code', async (t) => {
  const l = await startListener();
  t.teardown(() => l.close());
  t.equal(
    syncCodeOf(() => l.register('bad id!')),
    'GL_ERR_KERNEL_ID_INVALID',
  );
  t.equal(
    syncCodeOf(() => l.register('../etc')),
    'GL_ERR_KERNEL_ID_INVALID',
  );
  t.equal(
    syncCodeOf(() => l.register('k', { portRange: '40000..40010' })),
    'GL_ERR_PORT_RANGE_TOO_SMALL',
  );
  t.equal(
    syncCodeOf(() => l.register('k', { portRange: 'lots' })),
    'GL_ERR_PORT_RANGE_SYNTAX',
  );
  t.equal(
    syncCodeOf(() => l.register('k', { timeoutMs: -1 })),
    'GL_ERR_USAGE',
  );
  t.equal(
    syncCodeOf(() => l.register('k', { protocol: 1 })),
    'GL_ERR_V1_NOT_ENABLED',
    'v1 needs legacy',
  );
  t.equal(
    syncCodeOf(() => l.register('k', { protocol: 3 as 2 })),
    'GL_ERR_USAGE',
  );
  l.register('dup');
  t.equal(
    syncCodeOf(() => l.register('dup')),
    'GL_ERR_ALREADY_REGISTERED',
  );
  t.equal(l.stats().pendingRegistrations, 1, 'faulty calls leave nothing behind');
  const range: PortRange = { lo: 40000, hi: 41000, any: false };
  t.equal(l.register('with-range-object', { portRange: range }).portRange, '40000..41000', 'a parsed range is accepted');
});

t.test('a kernel id can be registered again once its registration settled', async (t) => {
  const l = await startListener();
  t.teardown(() => l.close());
  const first = l.register('again', { timeoutMs: 10 });
  await codeOf(first.response);
  const second = l.register('again');
  t.same(await sendValidResponse(second), { ok: true });
  t.equal((await second.response).kernelId, 'again');
  const third = l.register('again');
  t.same(await sendValidResponse(third), { ok: true }, 'also after an accepted launch (restart by relaunch)');
  await third.response;
});

t.test('emits registered and connection-info; connection-info never carries the key', async (t) => {
  const l = await startListener();
  t.teardown(() => l.close());
  const registered: unknown[] = [];
  const infos: unknown[] = [];
  l.on('registered', (e) => registered.push(e));
  l.on('connection-info', (e) => infos.push(e));
  const launch = l.register('evented', { timeoutMs: 5_000 });
  t.same(registered, [{ kernelId: 'evented', protocol: 2, transport: 'tcp', portRange: '0..0', timeoutMs: 5_000 }]);
  await sendValidResponse(launch);
  const r = await launch.response;
  t.equal(r.connectionInfo.key, 'secret-hmac-key', 'the promise carries the key');
  t.equal(infos.length, 1);
  t.match(infos[0], {
    kernelId: 'evented',
    protocol: 2,
    transport: 'tcp',
    commPort: 50006,
    pid: 4242,
    mode: 'direct',
    connectionInfo: { key: '[Redacted]', shell_port: 50001 },
  });
  t.notMatch(JSON.stringify(infos), 'secret-hmac-key');
});

t.test('a host event listener that throws does not break the listener', async (t) => {
  const l = await startListener();
  t.teardown(() => l.close());
  l.on('connection-info', () => {
    throw new Error('host bug');
  });
  l.on('registered', () => {
    throw new Error('host bug');
  });
  const launch = l.register('robust');
  t.same(await sendValidResponse(launch), { ok: true });
  t.equal((await launch.response).kernelId, 'robust');
});

t.test('the resolved connection info is the validated copy: unknown fields dropped, a wildcard ip replaced by the peer', async (t) => {
  const l = await startListener();
  t.teardown(() => l.close());
  const launch = l.register('gp-style');
  const fake = await FakeLauncher.start({
    kernelId: 'gp-style',
    token: launch.launchToken as string,
    publicKey: launch.publicKey,
    responseAddress: launch.responseAddress,
    connInfo: { ip: '0.0.0.0', extra: 'dropped', signature_scheme: 'hmac-sha512' },
  });
  t.teardown(() => fake.close());
  const r = await launch.response;
  t.equal(r.connectionInfo.ip, '127.0.0.1', 'wildcard replaced by the address the response came from');
  t.equal(r.connectionInfo.signature_scheme, 'hmac-sha512');
  t.notOk('extra' in r.connectionInfo);
  t.same(Object.keys(r.connectionInfo).sort(), [
    'control_port',
    'hb_port',
    'iopub_port',
    'ip',
    'kernel_name',
    'key',
    'shell_port',
    'signature_scheme',
    'stdin_port',
    'transport',
  ]);
  t.match(r, {
    protocol: 2,
    transport: 'tcp',
    commPort: fake.commPort,
    pid: 4242,
    pgid: 4242,
    mode: 'direct',
    launcherVersion: '0.1.0-fake',
  });
  t.match(r.peer, /^127\.0\.0\.1:\d+$/);
  t.same(r.control, {
    kernelId: 'gp-style',
    protocol: 2,
    host: '127.0.0.1',
    commPort: fake.commPort,
    launcherPublicKey: r.control.launcherPublicKey,
  });
});

t.test('Registration is a state machine: only pending changes, and settling releases its timer', async (t) => {
  let settled = 0;
  const r = new Registration({
    kernelId: 'sm',
    protocol: 2,
    transport: 'tcp',
    portRange: { lo: 0, hi: 0, any: true },
    timeoutMs: 60_000,
    token: 'tok',
    onSettled: () => settled++,
  });
  t.equal(r.state, 'pending');
  t.ok(r.tokenMatches('tok'));
  t.notOk(r.tokenMatches('tok2'));
  t.notOk(r.tokenMatches(undefined));
  t.ok(r.close());
  t.equal(r.state, 'closed');
  t.notOk(r.fail({ exit_code: 1, signal: null, stderr_tail: '' }), 'no transition out of a final state');
  t.notOk(r.close());
  t.equal(settled, 1);
  t.equal(await codeOf(r.response), 'GL_ERR_LISTENER_CLOSED');
  t.notOk(process.getActiveResourcesInfo().includes('Timeout'), 'its timer is gone');
});
