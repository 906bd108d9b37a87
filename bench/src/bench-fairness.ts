/**
 * Bench section `fairness` (issue 12 §4): a real client's kernel_info round
 * trip through a proxy-mode launcher, quiet and while another client floods
 * the public shell port — with unsigned messages, and with signed
 * kernel_info requests whose replies it never reads. Target: within 2× the
 * quiet value.
 *
 * @module
 */
import * as zmq from 'zeromq';
import type { ConnectionInfo } from '@gateway-launchers/common';
import { MessageSigner, createMessage, serializeMessage } from '@gateway-launchers/common/wire';
import type { ResponseListener } from '@gateway-launchers/listener';
import { KernelClient } from '../../demo/dist/jupyter-client.js';
import { startProxyLauncher, stopProxyLauncher } from './bench-proxy.js';
import type { TargetRow } from './bench-rows.js';
import { f1, median, withTimeout } from './bench-util.js';

/** Upper bound of a flood's messages (a safety net; a flood stops when the measurement is done). */
const FLOOD_LIMIT = 5_000_000;
/** Flood messages sent before the measured round trips start. */
const HEAD_START = 2_000;

const UNSIGNED = [
  Buffer.from('<IDS|MSG>'),
  Buffer.alloc(0),
  Buffer.from('{"msg_type":"kernel_info_request"}'),
  Buffer.from('{}'),
  Buffer.from('{}'),
  Buffer.from('{}'),
];

async function roundTrips(info: ConnectionInfo, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const client = new KernelClient(info, 60_000, { iopub: false });
    try {
      const t0 = performance.now();
      await withTimeout(client.kernelInfo(), 60_000, 'kernel_info');
      out.push(performance.now() - t0);
    } finally {
      client.close();
    }
  }
  return out;
}

/** Floods shell until stopped; resolves `started` after {@link HEAD_START} messages. */
function flood(info: ConnectionInfo, signed: boolean): { started: Promise<void>; stop: () => Promise<number> } {
  const socket = new zmq.Dealer({ linger: 0 });
  socket.connect(`tcp://127.0.0.1:${info.shell_port}`);
  const signer = new MessageSigner(info.key, info.signature_scheme);
  let sent = 0;
  let stopped = false;
  let go: () => void = () => {};
  const started = new Promise<void>((r) => (go = r));
  const loop = (async () => {
    while (!stopped && sent < FLOOD_LIMIT) {
      await socket.send(signed ? serializeMessage(createMessage('kernel_info_request', {}, { session: 'flooder' }), signer) : UNSIGNED);
      if (++sent === HEAD_START) go();
      // zmq sends that never block resolve without returning to the event loop: yield now and then, or
      // the measured client in this same process would never see its reply.
      if (sent % 64 === 0) await new Promise((r) => setImmediate(r));
    }
    go();
  })();
  return {
    started,
    stop: async () => {
      stopped = true;
      socket.close(); // a send blocked at the high-water mark ends with the socket
      await loop.catch(() => {});
      return sent;
    },
  };
}

/** Runs the fairness section; returns its rows. */
export async function fairnessSection(opts: {
  listener: ResponseListener;
  launcher: string;
  python: string;
  rounds: number;
}): Promise<TargetRow[]> {
  const l = startProxyLauncher(opts.listener, opts.launcher, opts.python, 'fair');
  try {
    const { info } = await withTimeout(l.response, 60_000, 'proxy response');
    const local = { ...info, ip: '127.0.0.1' };
    await roundTrips(local, 1); // kernel up
    const quiet = median(await roundTrips(local, opts.rounds));
    const rows: TargetRow[] = [
      { section: 'fairness', metric: 'kernel_info round trip, quiet (ms, median)', value: f1(quiet), target: 'reference', met: undefined },
    ];
    for (const signed of [false, true]) {
      const kind = signed ? 'signed' : 'unsigned';
      const f = flood(local, signed);
      let during: number | string;
      try {
        await f.started;
        during = median(await roundTrips(local, opts.rounds));
      } catch (e) {
        during = `no reply (${(e as Error).message})`;
      }
      const sent = await f.stop().catch((e: unknown) => `flooder failed: ${(e as Error).message}`);
      rows.push({
        section: 'fairness',
        metric: `kernel_info round trip during a ${kind} shell flood (ms, median; ${sent} flood msgs)`,
        value: typeof during === 'number' ? f1(during) : during,
        target: `≤ 2× quiet (${f1(2 * quiet)})`,
        met: typeof during === 'number' && during <= 2 * quiet,
      });
    }
    return rows;
  } finally {
    await stopProxyLauncher(opts.listener, l);
  }
}
