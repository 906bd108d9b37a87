/**
 * Every refusal path of the response port. Each test asserts the error code
 * the peer is answered with (and the `response-rejected` event), that the
 * registration is still pending, and that a real launch afterwards succeeds.
 */
import t, { type Test } from 'tap';
import { createPublicKey, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { generateKeyPair, generateV1KeyPair, sealV1, toBase64 } from '@gateway-launchers/common';
import type { ResponseListener, ResponseRejectedEvent } from '../src/response-listener.js';
import type { ListenerLimits } from '../src/listener-options.js';
import type { PendingLaunch } from '../src/launch-parameters.js';
import { addressOf, exchange, portsFor, sealFakeResponse, sendLine, sendValidResponse, startListener } from './fixtures/fake-launcher.js';

interface Setup {
  listener: ResponseListener;
  launch: PendingLaunch;
  rejected: ResponseRejectedEvent[];
}

async function setup(
  t: Test,
  options: { portRange?: string; limits?: Partial<ListenerLimits>; transport?: 'tcp' | 'ws' } = {},
): Promise<Setup> {
  const listener = await startListener(options.limits === undefined ? {} : { limits: options.limits });
  t.teardown(() => listener.close());
  const rejected: ResponseRejectedEvent[] = [];
  listener.on('response-rejected', (e) => rejected.push(e));
  const launch = listener.register('kernel-under-test', {
    portRange: options.portRange ?? '0..0',
    timeoutMs: 120_000,
    transport: options.transport ?? 'tcp',
  });
  return { listener, launch, rejected };
}

/** The common tail of every refusal test. */
async function assertUnharmed(t: Test, s: Setup, code: string): Promise<void> {
  t.equal(s.rejected.at(-1)?.code, code, `response-rejected event carries ${code}`);
  const event = JSON.stringify(s.rejected);
  t.notMatch(event, s.launch.launchToken ?? '(no token)', 'the event holds no token');
  t.notMatch(event, 'secret-hmac-key', 'the event holds no connection key');
  t.ok(s.listener.isPending('kernel-under-test'), 'the registration is still pending');
  t.same(await sendValidResponse(s.launch), { ok: true }, 'a real launch afterwards is acknowledged');
  const r = await s.launch.response;
  t.equal(r.kernelId, 'kernel-under-test', 'and resolves the registration');
  t.equal(s.listener.stats().pendingRegistrations, 0, 'and consumes it');
}

function answerOf(text: string): { ok: boolean; error?: string } {
  return JSON.parse(text.split('\n')[0] ?? '') as { ok: boolean; error?: string };
}

function sealed(s: Setup, overrides: Partial<Parameters<typeof sealFakeResponse>[0]> = {}): string {
  const { connInfo, commPort } = portsFor(s.launch.portRange);
  return sealFakeResponse({
    kernelId: s.launch.kernelId,
    token: s.launch.launchToken as string,
    publicKey: s.launch.publicKey,
    commPort,
    connInfo,
    ...overrides,
  }).text;
}

t.test('refuses random bytes with GL_ERR_PROTOCOL_UNKNOWN', async (t) => {
  const s = await setup(t);
  const junk = randomBytes(512);
  junk[0] = 0xff; // not `{`, not `G`, not base64
  t.same(answerOf(await exchange(s.launch.responseAddress, junk)), { ok: false, error: 'GL_ERR_PROTOCOL_UNKNOWN' });
  await assertUnharmed(t, s, 'GL_ERR_PROTOCOL_UNKNOWN');
});

t.test('refuses invalid JSON with GL_ERR_ENVELOPE_MALFORMED', async (t) => {
  const s = await setup(t);
  t.same(await sendLine(s.launch.responseAddress, '{"v":2, this is not json'), { ok: false, error: 'GL_ERR_ENVELOPE_MALFORMED' });
  await assertUnharmed(t, s, 'GL_ERR_ENVELOPE_MALFORMED');
});

t.test('refuses a 10 MB payload with GL_ERR_ENVELOPE_TOO_LARGE after reading at most the limit', async (t) => {
  const s = await setup(t);
  const huge = Buffer.alloc(10 * 1024 * 1024, 0x61);
  huge[0] = 0x7b; // `{`
  t.same(answerOf(await exchange(s.launch.responseAddress, huge)), { ok: false, error: 'GL_ERR_ENVELOPE_TOO_LARGE' });
  // The first 128 KiB of a payload that never ends: an answer can only come from a listener that stops at the limit.
  const { host, port } = addressOf(s.launch.responseAddress);
  const endless = connect({ host, port });
  endless.on('error', () => {});
  t.teardown(() => endless.destroy());
  const answer = new Promise<string>((resolve) => {
    let text = '';
    endless.on('data', (c: Buffer) => {
      text += c.toString();
      if (text.includes('\n')) resolve(text);
    });
    endless.on('close', () => resolve(text));
  });
  endless.write(huge.subarray(0, 128 * 1024));
  t.same(answerOf(await answer), { ok: false, error: 'GL_ERR_ENVELOPE_TOO_LARGE' }, 'answered without waiting for the whole payload');
  await assertUnharmed(t, s, 'GL_ERR_ENVELOPE_TOO_LARGE');
});

/** Connects and starts a response that it then only trickles, one byte every 50 ms, until the listener closes it. */
async function trickler(t: Test, responseAddress: string): Promise<{ closed: Promise<string>; since: number; isOpen: () => boolean }> {
  const { host, port } = addressOf(responseAddress);
  const since = performance.now(); // before the listener can have accepted it
  const slow = connect({ host, port });
  slow.on('error', () => {});
  const chunks: Buffer[] = [];
  slow.on('data', (c: Buffer) => chunks.push(c));
  let open = true;
  // Not events.once: a trickled byte racing the listener's close fails with EPIPE, which is expected here.
  const closed = new Promise<void>((resolve) => slow.once('close', () => resolve())).then(() => {
    open = false;
    return Buffer.concat(chunks).toString();
  });
  await once(slow, 'connect');
  slow.write('{"v":2,');
  const trickle = setInterval(() => slow.write(' '), 50);
  void closed.then(() => clearInterval(trickle));
  t.teardown(() => {
    clearInterval(trickle);
    slow.destroy();
  });
  return { closed, since, isOpen: () => open };
}

t.test('a trickling connection (slowloris) does not hold up a concurrent launch', async (t) => {
  // The slow peer's deadline is far beyond the test: the concurrent launch must be served while it is open.
  const s = await setup(t, { limits: { connectionTimeoutMs: 120_000 } });
  const slow = await trickler(t, s.launch.responseAddress);
  const other = s.listener.register('other-kernel', { timeoutMs: 60_000 });
  t.same(await sendValidResponse(other), { ok: true }, 'a concurrent launch is acknowledged');
  await other.response;
  t.ok(slow.isOpen(), 'while the slow peer is still connected and sending');
  t.same(s.rejected, [], 'nothing refused');
  t.same(await sendValidResponse(s.launch), { ok: true }, 'the registered launch is acknowledged too');
  t.equal((await s.launch.response).kernelId, 'kernel-under-test');
});

t.test('closes an idle, trickling connection (slowloris) with GL_ERR_READ_TIMEOUT at its deadline, not extended by activity', async (t) => {
  const s = await setup(t, { limits: { connectionTimeoutMs: 400 } });
  const slow = await trickler(t, s.launch.responseAddress);
  // It keeps sending until closed: were activity to extend the deadline, it would never close.
  const answer = await slow.closed;
  t.ok(performance.now() - slow.since >= 400 - 1, 'not closed before its deadline');
  t.same(answerOf(answer), { ok: false, error: 'GL_ERR_READ_TIMEOUT' });
  await assertUnharmed(t, s, 'GL_ERR_READ_TIMEOUT');
});

t.test('refuses a response sealed to another listener key with GL_ERR_ENVELOPE_OPEN_FAILED', async (t) => {
  const s = await setup(t);
  const other = toBase64(generateKeyPair().publicKey);
  t.same(await sendLine(s.launch.responseAddress, sealed(s, { publicKey: other })), { ok: false, error: 'GL_ERR_ENVELOPE_OPEN_FAILED' });
  await assertUnharmed(t, s, 'GL_ERR_ENVELOPE_OPEN_FAILED');
});

t.test('refuses a wrong launch token with GL_ERR_TOKEN_MISMATCH', async (t) => {
  const s = await setup(t);
  const forged = randomBytes(32).toString('base64url');
  t.same(await sendLine(s.launch.responseAddress, sealed(s, { token: forged })), { ok: false, error: 'GL_ERR_TOKEN_MISMATCH' });
  await assertUnharmed(t, s, 'GL_ERR_TOKEN_MISMATCH');
});

t.test('refuses a forged failure response (wrong token): the launch is not failed', async (t) => {
  const s = await setup(t);
  const text = sealed(s, { token: 'forged', failure: { exit_code: 1, signal: null, stderr_tail: 'boom' } });
  t.same(await sendLine(s.launch.responseAddress, text), { ok: false, error: 'GL_ERR_TOKEN_MISMATCH' });
  await assertUnharmed(t, s, 'GL_ERR_TOKEN_MISMATCH');
});

t.test('refuses a replay of an accepted response with GL_ERR_RESPONSE_REPLAYED, also after re-registration', async (t) => {
  const s = await setup(t);
  const first = sealed(s);
  t.same(await sendLine(s.launch.responseAddress, first), { ok: true }, 'the original is accepted');
  await s.launch.response;
  t.same(await sendLine(s.launch.responseAddress, first), { ok: false, error: 'GL_ERR_RESPONSE_REPLAYED' }, 'its replay is refused');
  // The host launches the same kernel id again (a restart by relaunch): the old response must not satisfy it.
  s.launch = s.listener.register('kernel-under-test', { timeoutMs: 120_000 });
  t.same(
    await sendLine(s.launch.responseAddress, first),
    { ok: false, error: 'GL_ERR_RESPONSE_REPLAYED' },
    'and still refused for the new registration',
  );
  await assertUnharmed(t, s, 'GL_ERR_RESPONSE_REPLAYED');
});

t.test('refuses an unknown kernel id with GL_ERR_UNKNOWN_KERNEL', async (t) => {
  const s = await setup(t);
  t.same(await sendLine(s.launch.responseAddress, sealed(s, { kernelId: 'never-registered' })), {
    ok: false,
    error: 'GL_ERR_UNKNOWN_KERNEL',
  });
  await assertUnharmed(t, s, 'GL_ERR_UNKNOWN_KERNEL');
});

t.test('refuses an inner kernel id that differs from the envelope with GL_ERR_KERNEL_ID_MISMATCH', async (t) => {
  const s = await setup(t);
  t.same(await sendLine(s.launch.responseAddress, sealed(s, { innerKernelId: 'someone-else' })), {
    ok: false,
    error: 'GL_ERR_KERNEL_ID_MISMATCH',
  });
  await assertUnharmed(t, s, 'GL_ERR_KERNEL_ID_MISMATCH');
});

t.test('refuses ports outside the registered range with GL_ERR_PORT_OUT_OF_RANGE', async (t) => {
  const s = await setup(t, { portRange: '40000..41000' });
  t.same(
    await sendLine(
      s.launch.responseAddress,
      sealed(s, { connInfo: { shell_port: 50001, iopub_port: 40002, stdin_port: 40003, control_port: 40004, hb_port: 40005 } }),
    ),
    {
      ok: false,
      error: 'GL_ERR_PORT_OUT_OF_RANGE',
    },
  );
  t.same(
    await sendLine(s.launch.responseAddress, sealed(s, { commPort: 39999 })),
    { ok: false, error: 'GL_ERR_PORT_OUT_OF_RANGE' },
    'the comm port too',
  );
  await assertUnharmed(t, s, 'GL_ERR_PORT_OUT_OF_RANGE');
});

t.test('refuses duplicate ports with GL_ERR_PORT_DUPLICATE', async (t) => {
  const s = await setup(t);
  t.same(await sendLine(s.launch.responseAddress, sealed(s, { connInfo: { iopub_port: 50001 } })), {
    ok: false,
    error: 'GL_ERR_PORT_DUPLICATE',
  });
  t.same(
    await sendLine(s.launch.responseAddress, sealed(s, { commPort: 50003 })),
    { ok: false, error: 'GL_ERR_PORT_DUPLICATE' },
    'the comm port too',
  );
  await assertUnharmed(t, s, 'GL_ERR_PORT_DUPLICATE');
});

t.test('refuses a bad ip with GL_ERR_IP_INVALID', async (t) => {
  const s = await setup(t);
  t.same(await sendLine(s.launch.responseAddress, sealed(s, { connInfo: { ip: 'evil host;rm -rf' } })), {
    ok: false,
    error: 'GL_ERR_IP_INVALID',
  });
  await assertUnharmed(t, s, 'GL_ERR_IP_INVALID');
});

t.test('refuses a bad transport with GL_ERR_TRANSPORT_INVALID', async (t) => {
  const s = await setup(t);
  t.same(await sendLine(s.launch.responseAddress, sealed(s, { connInfo: { transport: 'udp' } })), {
    ok: false,
    error: 'GL_ERR_TRANSPORT_INVALID',
  });
  await assertUnharmed(t, s, 'GL_ERR_TRANSPORT_INVALID');
});

t.test('refuses a v1 payload when not started with legacy, with GL_ERR_V1_NOT_ENABLED', async (t) => {
  const s = await setup(t);
  const rsa = await generateV1KeyPair(1024);
  const payload = sealV1(
    {
      ...portsFor('0..0').connInfo,
      ip: '127.0.0.1',
      key: 'k',
      transport: 'tcp',
      signature_scheme: 'hmac-sha256',
      kernel_name: '',
      pid: 1,
      pgid: 1,
      comm_port: 50006,
      kernel_id: 'kernel-under-test',
    },
    createPublicKey(rsa.privateKey),
  );
  t.same(answerOf(await exchange(s.launch.responseAddress, payload, { end: true })), { ok: false, error: 'GL_ERR_V1_NOT_ENABLED' });
  await assertUnharmed(t, s, 'GL_ERR_V1_NOT_ENABLED');
});

t.test('refuses a wrong token on the WebSocket: error in the first frame back, then closed', async (t) => {
  const s = await setup(t, { transport: 'ws' });
  t.match(s.launch.responseAddress, /^ws:\/\/127\.0\.0\.1:\d+\/$/);
  const ws = new WebSocket(s.launch.responseAddress);
  ws.on('error', () => {});
  await once(ws, 'open');
  const reply = once(ws, 'message');
  const closed = once(ws, 'close');
  ws.send(sealed(s, { token: 'forged' }));
  const [data] = (await reply) as [Buffer];
  t.same(JSON.parse(data.toString()), { ok: false, error: 'GL_ERR_TOKEN_MISMATCH' });
  const [code] = (await closed) as [number];
  t.equal(code, 1008, 'closed with policy violation');
  await assertUnharmed(t, s, 'GL_ERR_TOKEN_MISMATCH');
});

t.test('closes a WebSocket that sends no response in time with GL_ERR_READ_TIMEOUT', async (t) => {
  const s = await setup(t, { transport: 'ws', limits: { connectionTimeoutMs: 300 } });
  const ws = new WebSocket(s.launch.responseAddress);
  ws.on('error', () => {});
  const reply = once(ws, 'message');
  const closed = once(ws, 'close');
  await once(ws, 'open');
  const [data] = (await reply) as [Buffer];
  t.same(JSON.parse(data.toString()), { ok: false, error: 'GL_ERR_READ_TIMEOUT' });
  t.equal(((await closed) as [number])[0], 1008);
  await assertUnharmed(t, s, 'GL_ERR_READ_TIMEOUT');
});

t.test('refuses a malformed WebSocket upgrade with HTTP 400 and GL_ERR_UPGRADE_INVALID', async (t) => {
  const s = await setup(t);
  const answer = await exchange(s.launch.responseAddress, 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  t.match(answer, /^HTTP\/1\.1 400 /);
  t.match(answer, /GL_ERR_UPGRADE_INVALID/);
  const plain = await exchange(s.launch.responseAddress, 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n');
  t.match(plain, /^HTTP\/1\.1 400 /, 'a plain HTTP request is refused too');
  await assertUnharmed(t, s, 'GL_ERR_UPGRADE_INVALID');
});

t.test('at the connection cap, the oldest busy connection of the peer holding the most slots makes room', async (t) => {
  const s = await setup(t, { limits: { maxPendingConnections: 3, connectionTimeoutMs: 120_000 } });
  const { host, port } = addressOf(s.launch.responseAddress);
  const answers: string[] = [];
  const busy = await Promise.all(
    [1, 2, 3].map(async () => {
      const c = connect({ host, port, localAddress: '127.0.0.2' });
      c.on('error', () => {});
      c.on('data', (d: Buffer) => answers.push(d.toString()));
      await once(c, 'connect');
      c.write('{'); // started a response, never finishes it
      return c;
    }),
  );
  t.teardown(() => busy.forEach((c) => c.destroy()));
  while (s.listener.stats().unauthenticatedConnections < 3) await new Promise((r) => setTimeout(r, 5));
  t.same(await sendValidResponse(s.launch), { ok: true }, 'the real launch is accepted while busy peers fill the cap');
  await s.launch.response;
  while (answers.length === 0) await new Promise((r) => setTimeout(r, 5));
  t.same(
    answerOf(answers[0] as string),
    { ok: false, error: 'GL_ERR_READ_TIMEOUT' },
    'a busy connection of the flooding address was closed with GL_ERR_READ_TIMEOUT',
  );
  t.ok(
    s.rejected.every((e) => e.peer.startsWith('127.0.0.2:')),
    'only the flooding address lost a slot',
  );
});

t.test('at the connection cap, the oldest idle connection makes room for a launcher that sends', async (t) => {
  // Idle peers are closed at their deadline too: far beyond the test, so only the cap can act on them.
  const s = await setup(t, { limits: { maxPendingConnections: 3, connectionTimeoutMs: 120_000 } });
  const { host, port } = addressOf(s.launch.responseAddress);
  const answers: string[] = [];
  const idle = await Promise.all(
    [1, 2, 3].map(async () => {
      const c = connect({ host, port });
      c.on('error', () => {});
      c.on('data', (d: Buffer) => answers.push(d.toString()));
      await once(c, 'connect');
      return c;
    }),
  );
  t.teardown(() => idle.forEach((c) => c.destroy()));
  while (s.listener.stats().unauthenticatedConnections < 3) await new Promise((r) => setTimeout(r, 5));
  t.same(await sendValidResponse(s.launch), { ok: true }, 'the real launch is accepted while idle peers fill the cap');
  await s.launch.response;
  while (answers.length === 0) await new Promise((r) => setTimeout(r, 5));
  t.same(answerOf(answers[0] as string), { ok: false, error: 'GL_ERR_READ_TIMEOUT' }, 'an idle peer was closed with GL_ERR_READ_TIMEOUT');
});

t.test(
  "connection-info policy: an ip other than the response's own address is refused with GL_ERR_KERNEL_IP_NOT_ALLOWED unless its network is allowed",
  async (t) => {
    const s = await setup(t);
    t.same(
      await sendLine(s.launch.responseAddress, sealed(s, { connInfo: { ip: '203.0.113.5' } })),
      { ok: false, error: 'GL_ERR_KERNEL_IP_NOT_ALLOWED' },
      'a foreign address',
    );
    t.same(
      await sendLine(s.launch.responseAddress, sealed(s, { connInfo: { ip: 'kernel.example.org' } })),
      { ok: false, error: 'GL_ERR_KERNEL_IP_NOT_ALLOWED' },
      'a host name',
    );
    await assertUnharmed(t, s, 'GL_ERR_KERNEL_IP_NOT_ALLOWED');
    const open = await startListener({ allowedKernelNetworks: ['203.0.113.0/24'] });
    t.teardown(() => open.close());
    const launch = open.register('k-allowed');
    t.same(
      await sendLine(
        launch.responseAddress,
        sealFakeResponse({
          kernelId: 'k-allowed',
          token: launch.launchToken as string,
          publicKey: launch.publicKey,
          connInfo: { ip: '203.0.113.5' },
        }).text,
      ),
      { ok: true },
      'accepted inside allowedKernelNetworks',
    );
    t.equal((await launch.response).connectionInfo.ip, '203.0.113.5');
    const viaEnv = await startListener({ env: { GL_ALLOWED_KERNEL_NETWORKS: ' 198.51.100.0/24, * ' } });
    t.teardown(() => viaEnv.close());
    const named = viaEnv.register('k-named');
    t.same(
      await sendLine(
        named.responseAddress,
        sealFakeResponse({
          kernelId: 'k-named',
          token: named.launchToken as string,
          publicKey: named.publicKey,
          connInfo: { ip: 'kernel.example.org' },
        }).text,
      ),
      { ok: true },
      "'*' in GL_ALLOWED_KERNEL_NETWORKS accepts host names",
    );
    await t.rejects(
      startListener({ env: { GL_ALLOWED_KERNEL_NETWORKS: '10.0.0.0/33' } }),
      { code: 'GL_ERR_USAGE' },
      'a malformed network is a usage error',
    );
  },
);

t.test('connection-info policy: a response from loopback may report any loopback address (127/8 is local)', async (t) => {
  const s = await setup(t);
  const { host, port } = addressOf(s.launch.responseAddress);
  const answer = await new Promise<string>((resolve) => {
    const c = connect({ host, port, localAddress: '127.0.0.3' });
    c.on('error', () => resolve('error'));
    const chunks: Buffer[] = [];
    c.on('data', (d: Buffer) => chunks.push(d));
    c.on('close', () => resolve(Buffer.concat(chunks).toString()));
    c.write(`${sealed(s, { connInfo: { ip: '127.0.0.2' } })}\n`);
  });
  t.same(answerOf(answer), { ok: true });
  t.equal((await s.launch.response).connectionInfo.ip, '127.0.0.2');
});

t.test(
  'connection-info policy: transport ipc and signature schemes other than HMAC-SHA-2 (hmac-md5) are refused unless opted in',
  async (t) => {
    const s = await setup(t);
    t.same(await sendLine(s.launch.responseAddress, sealed(s, { connInfo: { transport: 'ipc' } })), {
      ok: false,
      error: 'GL_ERR_TRANSPORT_NOT_ALLOWED',
    });
    t.same(await sendLine(s.launch.responseAddress, sealed(s, { connInfo: { signature_scheme: 'hmac-md5' } })), {
      ok: false,
      error: 'GL_ERR_SIGNATURE_SCHEME_NOT_ALLOWED',
    });
    await assertUnharmed(t, s, 'GL_ERR_SIGNATURE_SCHEME_NOT_ALLOWED');
    const open = await startListener({ allowedSignatureSchemes: ['hmac-sha256', 'hmac-md5'] });
    t.teardown(() => open.close());
    const launch = open.register('k-md5');
    t.same(
      await sendLine(
        launch.responseAddress,
        sealFakeResponse({
          kernelId: 'k-md5',
          token: launch.launchToken as string,
          publicKey: launch.publicKey,
          connInfo: { signature_scheme: 'hmac-md5' },
        }).text,
      ),
      { ok: true },
      'accepted when opted in',
    );
  },
);
