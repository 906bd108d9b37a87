/**
 * Issue 11, flaw 1: one peer (or a few) filling the listener's connection cap
 * with trickling, reconnecting connections must not keep a launcher on another
 * address out. The flood comes from 127.0.0.2–127.0.0.4 (all of 127/8 is local
 * on Linux); the genuine launch from 127.0.0.1. Assertions are on acceptance,
 * never on time (the timing figure is in `npm run bench`).
 */
import t from 'tap';
import { connect, type Socket } from 'node:net';
import type { ResponseRejectedEvent } from '../src/response-listener.js';
import { addressOf, sendValidResponse, startListener } from './fixtures/fake-launcher.js';

/** Connections a flood opens in all before it gives up (a bound, not a target). */
const MAX_FLOOD_CONNECTS = 20_000;

interface Flood {
  /** Connections opened so far. */
  readonly connects: () => number;
  /** Connections the listener answered (refused or evicted) and closed. */
  readonly answered: () => number;
  stop(): void;
}

/**
 * Keeps `perAddress` connections open from each of `sources`: each sends `{`
 * (a v2 response begins), then a byte every 100 ms, and is replaced as soon
 * as the listener closes it.
 */
function startFlood(responseAddress: string, sources: readonly string[], perAddress: number): Flood {
  const { host, port } = addressOf(responseAddress);
  const open = new Set<Socket>();
  let connects = 0;
  let answered = 0;
  let stopped = false;
  const spawn = (localAddress: string): void => {
    if (stopped || connects >= MAX_FLOOD_CONNECTS) return;
    connects++;
    const s = connect({ host, port, localAddress });
    open.add(s);
    s.on('error', () => {});
    s.on('connect', () => s.write('{'));
    s.on('data', () => {});
    s.on('end', () => answered++);
    s.on('close', () => {
      open.delete(s);
      spawn(localAddress);
    });
  };
  for (const source of sources) for (let i = 0; i < perAddress; i++) spawn(source);
  const trickle = setInterval(() => {
    for (const s of open) if (s.writable && !s.connecting) s.write(' ');
  }, 100);
  return {
    connects: () => connects,
    answered: () => answered,
    stop: () => {
      stopped = true;
      clearInterval(trickle);
      for (const s of open) s.destroy();
    },
  };
}

async function until(what: string, check: () => boolean, boundMs = 60_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('a flood from one address holding the connection cap does not keep out a launch from another address', async (t) => {
  const cap = 32;
  const listener = await startListener({ limits: { maxPendingConnections: cap, maxConnectionsPerAddress: 8 } });
  t.teardown(() => listener.close());
  const rejected: ResponseRejectedEvent[] = [];
  listener.on('response-rejected', (e) => rejected.push(e));
  const launch = listener.register('genuine-kernel', { timeoutMs: 60_000 });
  const flood = startFlood(launch.responseAddress, ['127.0.0.2'], cap + 8);
  t.teardown(() => flood.stop());
  // The flood has opened more than the cap and the listener has had to answer some of it.
  await until('the flood to saturate', () => flood.connects() >= cap + 8 && flood.answered() >= 8);
  t.ok(
    rejected.every((e) => e.peer.startsWith('127.0.0.2:')),
    'so far only the flood was refused',
  );
  const answer = await sendValidResponse(launch);
  t.same(answer, { ok: true }, 'the genuine launcher is acknowledged at its first attempt');
  if (!answer.ok) return;
  t.equal((await launch.response).peer.split(':')[0], '127.0.0.1', 'and the registration resolves with its response');
  t.notOk(
    rejected.some((e) => e.peer.startsWith('127.0.0.1:')),
    "no connection from the launcher's address was refused or evicted",
  );
});

t.test('at the global cap, a flood from several addresses gives up its own slots to a launch from another address', async (t) => {
  const cap = 24;
  const listener = await startListener({ limits: { maxPendingConnections: cap, maxConnectionsPerAddress: 8 } });
  t.teardown(() => listener.close());
  const rejected: ResponseRejectedEvent[] = [];
  listener.on('response-rejected', (e) => rejected.push(e));
  const launch = listener.register('genuine-kernel', { timeoutMs: 60_000 });
  const sources = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
  const flood = startFlood(launch.responseAddress, sources, 12);
  t.teardown(() => flood.stop());
  await until('the flood to fill the global cap', () => flood.answered() >= 12 && listener.stats().unauthenticatedConnections === cap);
  const answer = await sendValidResponse(launch);
  t.same(answer, { ok: true }, 'the genuine launcher is acknowledged at its first attempt');
  if (!answer.ok) return;
  await launch.response;
  const evicted = rejected.filter((e) => e.code === 'GL_ERR_READ_TIMEOUT' || e.code === 'GL_ERR_TOO_MANY_CONNECTIONS');
  t.ok(evicted.length > 0, 'the flood was pushed back');
  t.ok(
    evicted.every((e) => sources.includes(e.peer.split(':')[0] as string)),
    'only the flooding addresses lost slots',
  );
});
