/**
 * Issue 11, flaw 2: the comm port served 64 connections and evicted only
 * connections that had sent nothing, so 70 connections that each sent one
 * byte kept every sealed request of the host out. A flood from 127.0.0.2–9
 * (one byte each, reconnecting whenever closed) must not stop the host's
 * authenticated requests from 127.0.0.1. Assertions on answers, not on time.
 */
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { IPYKERNEL_ARGV, waitFor } from './helpers/launcher-process.js';
import { launchKernel } from './helpers/launched-kernel.js';

const RANGE = '27200..28200';
/** Connections the flood opens in all before it gives up (a bound). */
const MAX_FLOOD_CONNECTS = 20_000;

t.test("a flood of busy comm-port connections from other addresses does not keep out the host's sealed requests", async (t) => {
  const { run, response: r, control } = await launchKernel(t, { kernelId: 'k-flood', range: RANGE, args: IPYKERNEL_ARGV });

  const open = new Set<Socket>();
  let connects = 0;
  let closedByLauncher = 0;
  let stopped = false;
  const spawn = (localAddress: string): void => {
    if (stopped || connects >= MAX_FLOOD_CONNECTS) return;
    connects++;
    const s = connect({ host: '127.0.0.1', port: r.comm_port, localAddress });
    open.add(s);
    s.on('error', () => {});
    s.on('connect', () => s.write('{')); // one byte: busy, never a request
    s.on('close', () => {
      open.delete(s);
      if (!stopped) closedByLauncher++;
      spawn(localAddress);
    });
  };
  const sources = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);
  for (const source of sources) for (let i = 0; i < 10; i++) spawn(source);
  t.teardown(() => {
    stopped = true;
    for (const s of open) s.destroy();
  });
  t.ok(
    await waitFor(() => connects >= 80 && closedByLauncher >= 16, 60_000),
    'the flood holds the comm port (80 busy connections offered for 64 slots)',
  );

  const answers: unknown[] = [];
  for (let i = 0; i < 10; i++) answers.push(await control({ signal: 'SIGCONT' }));
  t.same(
    answers,
    Array.from({ length: 10 }, () => ({ ok: true })),
    '10 of 10 sealed requests of the host were served during the flood',
  );
  stopped = true;
  for (const s of open) s.destroy();
  // The flood's connections are gone (the launcher has seen them close) before the shutdown request goes.
  t.ok(await waitFor(() => open.size === 0, 60_000), 'the flood has ended');
  t.same(await control({ shutdown: true }), { ok: true });
  t.equal((await run.exited).code, 0);
});
