/**
 * Bench section `load`: the response listener with `n` simultaneous
 * synthetic launches, sealed and sent by a separate node process
 * (bench-senders.ts), without and with `n` idle sockets held open; after an
 * uncounted warm-up run of 100 launches on its own listener.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import type { Logger } from '@gateway-launchers/common';
import { ResponseListener } from '@gateway-launchers/listener';
import type { SenderJob, SenderResult } from './bench-senders.js';
import { type ResultRow, status } from './bench-rows.js';
import { exitOf, f0, f1, pct, withTimeout } from './bench-util.js';

/** One load run. */
export interface LoadResult {
  readonly idle: number;
  readonly accepted: number;
  readonly rejected: number;
  readonly allResolvedMs: number;
  readonly sendP50: number;
  readonly sendP99: number;
  readonly sendMax: number;
  readonly lagP99: number;
  readonly lagMax: number;
  readonly acks: Record<string, number>;
  /** Deliveries the senders retried after a refusal at a connection cap (as launchers do). */
  readonly retries: number;
  readonly errors: Record<string, number>;
  readonly idleOpenAtEnd: number;
}

/** What the load section measured. */
export interface LoadSection {
  /** Launches per run. */
  readonly n: number;
  readonly runs: readonly LoadResult[];
  readonly failures: readonly string[];
}

async function loadRun(senders: string, logger: Logger, n: number, idle: number): Promise<LoadResult> {
  const listener = await ResponseListener.start({ host: '127.0.0.1', port: 0, logger });
  try {
    const regs = Array.from({ length: n }, (_, i) => listener.register(`load-${i}`, { portRange: '0..0', timeoutMs: 60_000 }));
    let lastResolved = 0;
    const settled = Promise.allSettled(
      regs.map((r) => r.response.then((v) => ((lastResolved = performance.timeOrigin + performance.now()), v))),
    );
    const job: SenderJob = {
      host: '127.0.0.1',
      port: listener.address.port,
      publicKey: listener.publicKey,
      idle,
      launches: regs.map((r) => ({ kernelId: r.kernelId, token: r.launchToken! })),
    };
    const child = spawn(process.execPath, [senders], { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = exitOf(child);
    const lines = createInterface({ input: child.stdout! });
    const it = lines[Symbol.asyncIterator]();
    child.stdin!.end(`${JSON.stringify(job)}\n`);
    const h = monitorEventLoopDelay({ resolution: 1 });
    const ready = JSON.parse(((await withTimeout(it.next(), 60_000, 'senders ready')) as IteratorResult<string>).value) as { t: number };
    h.enable();
    const results = await withTimeout(settled, 70_000, 'all responses');
    h.disable();
    const out = JSON.parse(((await withTimeout(it.next(), 60_000, 'senders result')) as IteratorResult<string>).value) as SenderResult;
    await exited;
    const accepted = results.filter((r) => r.status === 'fulfilled').length;
    return {
      idle,
      accepted,
      rejected: n - accepted,
      allResolvedMs: lastResolved - ready.t,
      sendP50: pct(out.latenciesMs, 50),
      sendP99: pct(out.latenciesMs, 99),
      sendMax: Math.max(...out.latenciesMs),
      lagP99: h.percentile(99) / 1e6,
      lagMax: h.max / 1e6,
      acks: out.acks,
      retries: out.retries,
      errors: out.errors,
      idleOpenAtEnd: out.idleOpenAtEnd,
    };
  } finally {
    await listener.close();
  }
}

/** Runs the load section: a warm-up, then `n` launches with 0 and with `n` idle sockets. */
export async function loadSection(opts: {
  /** bench-senders.js, the sender process. */
  senders: string;
  logger: Logger;
  n: number;
}): Promise<LoadSection> {
  const failures: string[] = [];
  const runs: LoadResult[] = [];
  try {
    await loadRun(opts.senders, opts.logger, Math.min(100, opts.n), 0); // warm-up (JIT of the listener's paths), not counted
  } catch (e) {
    failures.push(`load warm-up: ${(e as Error).message}`);
  }
  for (const idle of [0, opts.n]) {
    try {
      runs.push(await loadRun(opts.senders, opts.logger, opts.n, idle));
    } catch (e) {
      failures.push(`load run (idle ${idle}): ${(e as Error).message}`);
    }
  }
  return { n: opts.n, runs, failures };
}

/** The section's lines of the Results table (target: every launch accepted). */
export function loadResultRows(s: LoadSection): ResultRow[] {
  return s.runs.flatMap((l): ResultRow[] => {
    const tag = `${s.n} launches, ${l.idle} idle sockets`;
    return [
      [
        `${tag}: accepted (deliveries retried at a connection cap, as launchers do: ${l.retries})`,
        `${l.accepted}/${s.n}`,
        `${s.n}`,
        status(l.accepted === s.n),
      ],
      [`${tag}: all resolved (ms)`, f0(l.allResolvedMs), '', ''],
      [`${tag}: send→ack p50 / p99 / max (ms)`, `${f0(l.sendP50)} / ${f0(l.sendP99)} / ${f0(l.sendMax)}`, '', ''],
      [`${tag}: host event-loop lag p99 / max (ms)`, `${f1(l.lagP99)} / ${f1(l.lagMax)}`, '', ''],
    ];
  });
}

/** The console lines of the section: acks and socket errors per run. */
export function loadNotes(s: LoadSection): string[] {
  return s.runs.map(
    (l) =>
      `load (idle ${l.idle}): acks ${JSON.stringify(l.acks)} retries ${l.retries} socket errors ${JSON.stringify(l.errors)} idle sockets still open at end ${l.idleOpenAtEnd}`,
  );
}

/** How the section's figures are taken (a markdown bullet). */
export function loadMethod(n: number): string {
  return `- **listener under load**: ${n} registrations (\`portRange: '0..0'\`, \`timeoutMs: 60000\`); a separate node process (bench/src/bench-senders.ts) seals ${n} v2 responses beforehand, optionally opens ${n} idle TCP connections to the listener, then opens ${n} connections at once (after an uncounted 100-launch warm-up run on its own listener), each writing its sealed JSON line and reading the one-line ack. "all resolved" is from the moment the sender starts firing to the last \`response\` promise resolving in the host; send→ack is measured at the sender from \`connect()\` to the ack line; event-loop lag is \`perf_hooks.monitorEventLoopDelay\` (1 ms resolution) in the host over the same interval.`;
}

/** The analysis bullets of the section (markdown). */
export function loadAnalysis(s: LoadSection | undefined): string[] {
  return (s?.runs ?? []).map(
    (l) =>
      `- Listener, ${l.idle} idle sockets: ${l.accepted} accepted, all resolved in ${f0(l.allResolvedMs)} ms, host event-loop lag p99 ${f1(l.lagP99)} ms (max ${f1(l.lagMax)} ms); sender send→ack p99 ${f0(l.sendP99)} ms.`,
  );
}
