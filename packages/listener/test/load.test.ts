/**
 * Embedding costs: an idle listener runs no timer; 1,000 concurrent launches
 * while 1,000 slow sockets are held open are all accepted, and the host's
 * event-loop delay is reported (t.comment; not asserted as a time).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { startListener } from './fixtures/fake-launcher.js';
import type { LaunchResponse } from '../src/registration.js';

const LOAD_GENERATOR = fileURLToPath(new URL('./fixtures/load-generator.ts', import.meta.url));
const N = 1000;

const RESOLUTION_MS = 2;

/** Delay beyond the sampling interval (what the host's callbacks actually waited). */
function summary(h: IntervalHistogram): string {
  const ms = (ns: number): string => Math.max(0, ns / 1e6 - RESOLUTION_MS).toFixed(2);
  return `mean ${ms(h.mean)} ms, p50 ${ms(h.percentile(50))} ms, p99 ${ms(h.percentile(99))} ms, max ${ms(h.max)} ms (${h.count} samples at ${RESOLUTION_MS} ms)`;
}

function resourceCounts(): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) m.set(r, (m.get(r) ?? 0) + 1);
  return m;
}

function added(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of after) if (v > (before.get(k) ?? 0)) out[k] = v - (before.get(k) ?? 0);
  return out;
}

t.test('an idle listener runs no timer; a registration holds exactly one until it settles', async (t) => {
  await new Promise((r) => setTimeout(r, 10));
  const before = resourceCounts();
  const l = await startListener();
  t.same(added(before, resourceCounts()), { TCPServerWrap: 1 }, 'only the listening socket');
  const launch = l.register('timed', { timeoutMs: 60_000 });
  t.same(added(before, resourceCounts()), { TCPServerWrap: 1, Timeout: 1 }, 'one timer per registration');
  const ac = new AbortController();
  const aborted = l.register('aborted', { signal: ac.signal, timeoutMs: 60_000 });
  ac.abort();
  await aborted.response.catch(() => {});
  t.same(added(before, resourceCounts()), { TCPServerWrap: 1, Timeout: 1 }, 'a settled registration releases its timer');
  await l.close();
  await launch.response.catch(() => {});
  // The server handle goes a loop turn or so after close: wait for that, not for a time.
  for (let turn = 0; turn < 1_000 && Object.keys(added(before, resourceCounts())).length > 0; turn++)
    await new Promise((r) => setImmediate(r));
  t.same(added(before, resourceCounts()), {}, 'nothing left after close');
});

t.test(`${N} concurrent sealed responses while ${N} idle sockets are held open: all accepted, none lost`, async (t) => {
  // A capacity test from one address (127.0.0.1): lift the per-address share,
  // which would otherwise (rightly) make this one peer give up its oldest slots.
  const l = await startListener({ limits: { connectionTimeoutMs: 60_000, maxConnectionsPerAddress: 2 * N } });
  t.teardown(() => l.close());
  const launches = Array.from({ length: N }, (_, i) => l.register(`burst-${i}`, { timeoutMs: 120_000 }));
  const idleLag = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  idleLag.enable();
  let resolved = 0;
  const all = Promise.all(
    launches.map((p) =>
      p.response.then((r: LaunchResponse) => {
        resolved++;
        return r;
      }),
    ),
  );
  await new Promise((r) => setTimeout(r, 1_000));
  idleLag.disable();
  t.comment(`event-loop delay, idle with ${N} pending registrations: ${summary(idleLag)}`);

  const child = spawn(process.execPath, [...process.execArgv, LOAD_GENERATOR], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => {
    child.kill();
  });
  const out = createInterface({ input: child.stdout });
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  out.on('line', (line) => {
    lines.push(line);
    for (const w of waiters.splice(0)) w();
  });
  const nextLine = async (): Promise<string> => {
    while (lines.length === 0) await new Promise<void>((r) => waiters.push(r));
    return lines.shift() as string;
  };
  child.stdin.write(
    `${JSON.stringify({ address: l.responseAddress, publicKey: l.publicKey, idle: N, launches: launches.map((x) => ({ kernelId: x.kernelId, token: x.launchToken })) })}\n`,
  );

  t.equal(await nextLine(), 'idle-ready');
  while (l.stats().unauthenticatedConnections < N) await new Promise((r) => setTimeout(r, 10));
  t.equal(l.stats().unauthenticatedConnections, N, `${N} idle sockets held open by the listener`);
  child.stdin.write('go\n');

  const loadLag = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  loadLag.enable();
  const started = Date.now();
  const results = await all;
  const elapsed = Date.now() - started;
  loadLag.disable();
  const report = JSON.parse(await nextLine()) as { acked: number; answers: Record<string, number>; idleOpen: number };
  t.comment(
    `event-loop delay during the burst of ${N} launches with ${N} idle sockets: ${summary(loadLag)}; all resolved in ${elapsed} ms`,
  );

  t.equal(resolved, N, `all ${N} registrations resolved`);
  t.equal(new Set(results.map((r) => r.kernelId)).size, N, 'each with its own kernel');
  t.same(report.answers, { '{"ok":true}': N }, `all ${N} launchers acknowledged, none lost or refused`);
  t.equal(report.idleOpen, N, 'the idle sockets were still open when the burst completed');
  while (l.stats().unauthenticatedConnections > N) await new Promise((r) => setTimeout(r, 10));
  t.equal(l.stats().unauthenticatedConnections, N, 'once the answered launchers are gone, only the idle sockets remain');
  t.equal(l.stats().pendingRegistrations, 0);

  child.stdin.end();
  await once(child, 'exit');
  while (l.stats().unauthenticatedConnections > 0) await new Promise((r) => setTimeout(r, 10));
  t.pass('the idle sockets are released when their peer goes');
});
