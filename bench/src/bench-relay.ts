/**
 * Child process of `npm run bench` (proxy section): an experimental relay in
 * front of a running kernel's loopback ports, to compare relay-loop variants
 * with packages/launcher/src/kernel-proxy.ts without touching the launcher.
 *
 * Usage: `node bench-relay.js <variant> '<kernel ports JSON [shell, iopub, stdin, control, hb]>'`.
 * Binds five public sockets on 127.0.0.1 (random ports), prints one JSON line
 * `{"ports":[shell, iopub, stdin, control, hb],"pid":N}` and relays until stdin closes.
 *
 * Variants (all ROUTER⇄DEALER for shell/control/stdin/hb, XPUB⇄XSUB for iopub,
 * same HWMs as the launcher):
 * - `mirror`: the launcher's loop — `for await` + `Date.now()` per message + `await send`.
 * - `loop`: explicit `await receive()` / `await send()`, no iterator, no clock read.
 * - `nowait`: output sockets with `sendTimeout: 0`, so zeromq.js sends synchronously
 *   and the loop does not await the send (one promise hop less per message).
 *   Measurement only: EAGAIN (peer HWM reached) drops the message here; a real
 *   relay would have to fall back to an awaited send.
 *
 * @module
 */
import * as zmq from 'zeromq';

const RELAY_HWM = 100_000;
type Variant = 'mirror' | 'loop' | 'nowait';

async function main(): Promise<void> {
  const variant = process.argv[2] as Variant;
  const kp = JSON.parse(process.argv[3] ?? '[]') as number[];
  if (!['mirror', 'loop', 'nowait'].includes(variant) || kp.length !== 5)
    throw new Error('usage: bench-relay <mirror|loop|nowait> [5 ports]');
  const noWait = variant === 'nowait';
  const common = { linger: 0, sendHighWaterMark: RELAY_HWM, receiveHighWaterMark: RELAY_HWM, ...(noWait ? { sendTimeout: 0 } : {}) };
  const front = [
    new zmq.Router(common),
    new zmq.XPublisher(common),
    new zmq.Router(common),
    new zmq.Router(common),
    new zmq.Router(common),
  ] as const;
  const routingId = `gl-bench-${process.pid}`;
  const backCommon = { ...common, reconnectInterval: 10 };
  const back = [
    new zmq.Dealer({ ...backCommon, routingId }),
    new zmq.XSubscriber(backCommon),
    new zmq.Dealer({ ...backCommon, routingId }),
    new zmq.Dealer(backCommon),
    new zmq.Dealer(backCommon),
  ] as const;
  const ports: number[] = [];
  for (const s of front) {
    await s.bind('tcp://127.0.0.1:*');
    const ep = s.lastEndpoint ?? '';
    ports.push(Number(ep.slice(ep.lastIndexOf(':') + 1)));
  }
  back.forEach((s, i) => s.connect(`tcp://127.0.0.1:${kp[i]}`));
  let closed = false;
  const seen: number[] = [0, 0, 0, 0, 0];

  const relay = async (i: number, from: zmq.Readable & zmq.Socket, to: zmq.Writable & zmq.Socket): Promise<void> => {
    try {
      if (variant === 'mirror') {
        for await (const frames of from) {
          seen[i] = Date.now();
          await to.send(frames);
        }
      } else if (variant === 'loop') {
        for (;;) await to.send(await from.receive());
      } else {
        for (;;) {
          const frames = await from.receive();
          try {
            // sendTimeout 0: resolves or rejects synchronously in native code; awaiting it
            // would only add a microtask hop, but a rejection must not go unhandled.
            to.send(frames).catch(() => {});
          } catch {
            // EBUSY cannot happen with sendTimeout 0; ignore
          }
        }
      }
    } catch (e) {
      if (!closed) throw e;
    }
  };
  for (let i = 0; i < 5; i++) {
    void relay(i, front[i]!, back[i]!);
    void relay(i, back[i]!, front[i]!);
  }
  process.stdout.write(`${JSON.stringify({ ports, pid: process.pid })}\n`);
  process.stdin.resume();
  process.stdin.once('end', () => {
    closed = true;
    for (const s of [...front, ...back]) s.close();
    process.exit(0);
  });
}

main().catch((e: unknown) => {
  console.error(`bench-relay: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
});
