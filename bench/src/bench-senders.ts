/**
 * Child process of `npm run bench` (listener under load): synthetic launchers.
 * Reads one JSON line on stdin ({@link SenderJob}), seals one v2 response per
 * registration, optionally opens idle sockets to the listener, prints
 * `{"ready":true,"t":<epoch ms>}`, then fires every response at once over raw
 * TCP (JSON + "\n", one-line ack) and prints one JSON line of results.
 * Runs apart from the host so the host's event-loop lag is the listener's only.
 *
 * @module
 */
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { fromBase64, sealResponse } from '@gateway-launchers/common';

/** What the host sends. */
export interface SenderJob {
  readonly host: string;
  readonly port: number;
  readonly publicKey: string;
  readonly idle: number;
  readonly launches: ReadonlyArray<{ readonly kernelId: string; readonly token: string }>;
}

/** What the child prints at the end. */
export interface SenderResult {
  readonly tStart: number;
  readonly tEnd: number;
  /** Send → final answer per launch, retries included. */
  readonly latenciesMs: number[];
  /** Deliveries retried after a refusal launchers retry (at a connection cap), summed over launches. */
  readonly retries: number;
  readonly acks: Record<string, number>;
  readonly errors: Record<string, number>;
  readonly idleOpenAtEnd: number;
}

const now = (): number => performance.timeOrigin + performance.now();

function openIdle(host: string, port: number, n: number): Promise<Socket[]> {
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const s = connect({ host, port });
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        }),
    ),
  );
}

/** Refusals a launcher answers by retrying its delivery (packages/launcher/src/response-delivery.ts). */
const RETRYABLE = ['"GL_ERR_TOO_MANY_CONNECTIONS"', '"GL_ERR_READ_TIMEOUT"'];
/** Retries per launch, a bound only: a launcher retries until its launch timeout. */
const MAX_RETRIES = 20;

/** Delivers `text` as a launcher does: again, after a short jittered back-off, when the listener refuses it at a cap. */
async function deliver(host: string, port: number, text: string): Promise<{ ms: number; ack: string; retries: number }> {
  const t0 = now();
  for (let attempt = 0; ; attempt++) {
    const { ack } = await send(host, port, text);
    if (attempt === MAX_RETRIES || !RETRYABLE.some((code) => ack.includes(code))) return { ms: now() - t0, ack, retries: attempt };
    await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 1_000) * (0.5 + Math.random())));
  }
}

function send(host: string, port: number, text: string): Promise<{ ms: number; ack: string }> {
  return new Promise((resolve) => {
    const t0 = now();
    const s = connect({ host, port, noDelay: true });
    let buf = '';
    let done = false;
    const finish = (ack: string): void => {
      if (done) return;
      done = true;
      s.destroy();
      resolve({ ms: now() - t0, ack });
    };
    s.once('connect', () => s.write(`${text}\n`));
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) finish(buf.slice(0, nl));
    });
    s.once('end', () => finish(buf === '' ? 'EOF' : buf));
    s.once('error', (e: NodeJS.ErrnoException) => finish(`socket:${e.code ?? e.message}`));
  });
}

async function main(): Promise<void> {
  const rl = createInterface({ input: process.stdin });
  const line = await new Promise<string>((resolve) => rl.once('line', resolve));
  rl.close();
  const job = JSON.parse(line) as SenderJob;
  const pk = fromBase64(job.publicKey);
  if (pk === undefined) throw new Error('bad public key');
  const texts = job.launches.map((l, i) => {
    const base = 10_000 + i * 6;
    return sealResponse(
      {
        kernel_id: l.kernelId,
        token: l.token,
        conn_info: {
          shell_port: base,
          iopub_port: base + 1,
          stdin_port: base + 2,
          control_port: base + 3,
          hb_port: base + 4,
          ip: '127.0.0.1',
          transport: 'tcp',
          key: randomBytes(16).toString('hex'),
          signature_scheme: 'hmac-sha256',
          kernel_name: 'python3',
        },
        comm_port: base + 5,
        pid: process.pid,
        pgid: process.pid,
        mode: 'direct',
        launcher_version: '0.0.0-bench',
      },
      pk,
    ).text;
  });
  const idle = await openIdle(job.host, job.port, job.idle);
  let idleOpen = idle.length;
  for (const s of idle) {
    s.on('error', () => {});
    s.once('close', () => idleOpen--);
  }
  const tStart = now();
  process.stdout.write(`${JSON.stringify({ ready: true, t: tStart })}\n`);
  const results = await Promise.all(texts.map((t) => deliver(job.host, job.port, t)));
  const tEnd = now();
  const acks: Record<string, number> = {};
  const errors: Record<string, number> = {};
  for (const r of results) {
    let key = r.ack;
    try {
      const parsed = JSON.parse(r.ack) as { ok?: boolean; error?: unknown };
      key = parsed.ok === true ? 'ok' : `error:${JSON.stringify(parsed.error)}`;
    } catch {
      errors[key] = (errors[key] ?? 0) + 1;
      continue;
    }
    acks[key] = (acks[key] ?? 0) + 1;
  }
  const out: SenderResult = {
    tStart,
    tEnd,
    latenciesMs: results.map((r) => r.ms),
    retries: results.reduce((sum, r) => sum + r.retries, 0),
    acks,
    errors,
    idleOpenAtEnd: idleOpen,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  for (const s of idle) s.destroy();
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`bench-senders: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  },
);
