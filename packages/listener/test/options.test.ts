/**
 * Listener options: Gateway Provisioners' environment variables as defaults,
 * bind vs advertised address (IPv4, IPv6, wildcards), port retries.
 */
import t from 'tap';
import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';
import { ResponseListener } from '../src/response-listener.js';
import { DEFAULT_LIMITS, candidatePorts, resolveListenerOptions } from '../src/listener-options.js';
import { firstNonLoopbackIPv4 as selectLocalIp, isGatewayError, parseProhibitedIps } from '@gateway-launchers/common';
import { sendValidResponse, silent, startListener } from './fixtures/fake-launcher.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (e) {
    return isGatewayError(e) ? e.code : `not a GatewayError: ${String(e)}`;
  }
}

t.test('defaults without environment: port 8877, 10 retries, 30 s timeout, design §6 limits', async (t) => {
  const r = resolveListenerOptions({ host: '127.0.0.1' }, {});
  t.match(r, {
    host: '127.0.0.1',
    advertisedHost: '127.0.0.1',
    port: 8877,
    portRetries: 10,
    legacy: false,
    defaultTimeoutMs: 30_000,
    minPortRangeSize: 1000,
  });
  t.same(r.limits, DEFAULT_LIMITS);
  t.match(DEFAULT_LIMITS, {
    maxResponseBytes: 65_536,
    connectionTimeoutMs: 5_000,
    maxPendingConnections: 4096,
    backlog: 4096,
    maxControlReplyBytes: 4096,
  });
});

t.test('honours GP_RESPONSE_IP, GP_RESPONSE_PORT, GP_RESPONSE_PORT_RETRIES, GP_RESPONSE_ADDR_ANY, KERNEL_LAUNCH_TIMEOUT', async (t) => {
  const env = {
    GP_RESPONSE_IP: '10.1.2.3',
    GP_RESPONSE_PORT: '9999',
    GP_RESPONSE_PORT_RETRIES: '3',
    KERNEL_LAUNCH_TIMEOUT: '90',
    MIN_PORT_RANGE_SIZE: '10',
  };
  t.match(resolveListenerOptions({}, env), {
    host: '10.1.2.3',
    advertisedHost: '10.1.2.3',
    port: 9999,
    portRetries: 3,
    defaultTimeoutMs: 90_000,
    minPortRangeSize: 10,
  });
  t.match(
    resolveListenerOptions({}, { ...env, GP_RESPONSE_ADDR_ANY: 'True' }),
    { host: '0.0.0.0', advertisedHost: '10.1.2.3' },
    'ADDR_ANY binds every address, advertises GP_RESPONSE_IP',
  );
  t.match(
    resolveListenerOptions({ port: 1234, host: '::1' }, env),
    { host: '::1', advertisedHost: '::1', port: 1234 },
    'options win over the environment',
  );
  t.match(resolveListenerOptions({ host: '::', advertisedHost: 'gateway.example.com' }, {}), {
    host: '::',
    advertisedHost: 'gateway.example.com',
  });
});

t.test('a malformed variable or option is GL_ERR_USAGE', async (t) => {
  t.equal(
    codeOf(() => resolveListenerOptions({}, { GP_RESPONSE_PORT: 'eighty' })),
    'GL_ERR_USAGE',
  );
  t.equal(
    codeOf(() => resolveListenerOptions({}, { GP_RESPONSE_PORT: '70000' })),
    'GL_ERR_USAGE',
  );
  t.equal(
    codeOf(() => resolveListenerOptions({}, { GP_RESPONSE_IP: 'not an ip!' })),
    'GL_ERR_USAGE',
  );
  t.equal(
    codeOf(() => resolveListenerOptions({}, { GP_PROHIBITED_LOCAL_IPS: '(' })),
    'GL_ERR_USAGE',
  );
  t.equal(
    codeOf(() => resolveListenerOptions({ host: '127.0.0.1', limits: { connectionTimeoutMs: -5 } }, {})),
    'GL_ERR_USAGE',
  );
  t.equal(
    codeOf(() => resolveListenerOptions({ host: '0.0.0.0', advertisedHost: '0.0.0.0' }, {})),
    'GL_ERR_USAGE',
    'a wildcard cannot be advertised',
  );
  const error = await ResponseListener.start({ logger: silent, env: { GP_RESPONSE_PORT: 'x' } }).catch((e: unknown) => e);
  t.ok(isGatewayError(error, 'GL_ERR_USAGE'), 'start rejects (never throws synchronously)');
});

t.test('the advertised address skips GP_PROHIBITED_LOCAL_IPS patterns (matched at the start, like re.match)', async (t) => {
  const addrs = ['172.17.0.1', '10.0.0.5', '192.168.1.9'];
  t.equal(selectLocalIp(parseProhibitedIps(''), addrs), '172.17.0.1');
  t.equal(selectLocalIp(parseProhibitedIps('172.17.*'), addrs), '10.0.0.5');
  t.equal(selectLocalIp(parseProhibitedIps('172\\.17\\..*, 10\\.'), addrs), '192.168.1.9');
  t.equal(selectLocalIp(parseProhibitedIps('0\\.0\\.5'), addrs), '172.17.0.1', 'anchored at the start');
  t.equal(selectLocalIp(parseProhibitedIps('.*'), addrs), '172.17.0.1', 'all prohibited: the first one');
  t.equal(selectLocalIp([], []), '127.0.0.1', 'no public address: loopback');
  t.equal(resolveListenerOptions({ host: '0.0.0.0' }, { GP_PROHIBITED_LOCAL_IPS: '.*' }).advertisedHost === '0.0.0.0', false);
});

t.test('ports tried: the port, the next four, then random ones nearby', async (t) => {
  t.same(candidatePorts(0, 10), [0]);
  t.same(candidatePorts(8877, 2), [8877, 8878, 8879]);
  const ports = candidatePorts(8877, 10, () => 0.5);
  t.equal(ports.length, 11);
  t.same(ports.slice(0, 5), [8877, 8878, 8879, 8880, 8881]);
  t.ok(ports.slice(5).every((p) => Math.abs(p - 8877) <= 22));
});

t.test('retries another port when the port is in use (EADDRINUSE)', async (t) => {
  const blocker = createServer();
  blocker.listen(0, '127.0.0.1');
  await once(blocker, 'listening');
  t.teardown(() => blocker.close());
  const taken = (blocker.address() as AddressInfo).port;
  const l = await startListener({ port: taken, portRetries: 10 });
  t.teardown(() => l.close());
  t.not(l.address.port, taken);
  t.ok(Math.abs(l.address.port - taken) <= 22, `bound ${l.address.port} near ${taken}`);
  const launch = l.register('retry-kernel');
  t.same(await sendValidResponse(launch), { ok: true });
  const none = await startListener({ port: taken, portRetries: 0 }).catch((e: unknown) => e);
  t.ok(isGatewayError(none, 'GL_ERR_BIND_FAILED'), 'no retries left: GL_ERR_BIND_FAILED');
});

t.test('binds IPv6 ::1 and advertises a bracketed address', async (t) => {
  const l = await startListener({ host: '::1' });
  t.teardown(() => l.close());
  t.equal(l.address.family, 'IPv6');
  t.match(l.responseAddress, /^\[::1\]:\d+$/);
  t.match(l.webSocketUrl, /^ws:\/\/\[::1\]:\d+\/$/);
  const launch = l.register('v6-kernel');
  t.same(await sendValidResponse(launch), { ok: true });
  t.match((await launch.response).peer, /^\[::1\]:\d+$/);
});

t.test('binds a wildcard and advertises the given address (0.0.0.0 and ::)', async (t) => {
  for (const host of ['0.0.0.0', '::']) {
    const l = await startListener({ host, advertisedHost: '127.0.0.1' });
    t.equal(l.address.host, host);
    const launch = l.register('wild-kernel');
    t.match(launch.responseAddress, /^127\.0\.0\.1:\d+$/);
    t.same(await sendValidResponse(launch), { ok: true }, `reached through ${host}`);
    await l.close();
  }
  const env = await ResponseListener.start({ host: '::', port: 0, logger: silent, env: { GP_RESPONSE_IP: '127.0.0.1' } });
  t.equal(env.responseAddress, `127.0.0.1:${env.address.port}`, 'a wildcard bind advertises GP_RESPONSE_IP');
  await env.close();
});
