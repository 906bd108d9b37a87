/**
 * Proxy port mode (design §3): the launcher binds the kernel's five public
 * ZMQ sockets inside the port range itself — the bind is the reservation —
 * and relays every multipart message verbatim to a kernel bound on loopback
 * ports: ROUTER⇄DEALER for shell, control, stdin and hb, XPUB⇄XSUB for iopub.
 *
 * Relaying uses zeromq.js async-iteration loops, not the native `zmq.Proxy`
 * (it deadlocks or crashes on this platform). The hot path neither copies
 * frames nor parses JSON; only iopub `status` messages are parsed, to track
 * the kernel's execution state for idle culling.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import * as zmq from 'zeromq';
import { GatewayError } from '@gateway-launchers/common/errors';
import { type PortRange, formatPortRange } from '@gateway-launchers/common/port-range';

/** The five kernel channels. */
export const CHANNELS = ['shell', 'iopub', 'stdin', 'control', 'hb'] as const;
/** One kernel channel. */
export type Channel = (typeof CHANNELS)[number];
/** A port per channel. */
export type ChannelPorts = Record<Channel, number>;

/**
 * Messages a relay socket buffers per direction before zmq applies its
 * drop/block rule: zmq's own default, so a stalled client leaves its backlog
 * in the kernel (as in direct mode) instead of in the launcher. zmq counts
 * messages, not bytes: 1000 large iopub outputs would still be a lot of
 * memory, which is why it is not raised (measured: a 100k limit let a
 * non-reading subscriber grow the launcher by 400 MiB).
 */
const RELAY_HWM = 1_000;
/** Backend reconnect interval: a restarted kernel is reached within this many ms of binding. */
const BACKEND_RECONNECT_MS = 10;

const DELIMITER = Buffer.from('<IDS|MSG>');
const STATUS_SUFFIX = Buffer.from('status');

/** What the proxy knows of the kernel's activity. */
export interface ProxyActivity {
  /** ms since epoch of the last message in either direction on any channel, or null. */
  readonly last_activity: number | null;
  /** Last `execution_state` seen on iopub (`starting`, `busy`, `idle`), or null. */
  readonly execution_state: string | null;
  /** ms since epoch of the last message per channel. */
  readonly channels: Readonly<Record<Channel, number | null>>;
}

function url(host: string, port: number | '*'): string {
  return `tcp://${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
}

function isAddrInUse(e: unknown): boolean {
  const err = e as { code?: string; errno?: number; message?: string };
  return err.code === 'EADDRINUSE' || /address already in use/i.test(err.message ?? '');
}

/** Binds `socket` to a free port of `range` on `host`: random start, then a full scan. */
async function bindInRange(socket: zmq.Socket, host: string, range: PortRange, taken: Set<number>, random: () => number): Promise<number> {
  if (range.any) {
    await socket.bind(url(host, '*'));
    const endpoint = socket.lastEndpoint ?? '';
    const port = Number(endpoint.slice(endpoint.lastIndexOf(':') + 1));
    taken.add(port);
    return port;
  }
  const size = range.hi - range.lo + 1;
  const start = Math.floor(random() * size);
  for (let i = 0; i < size; i++) {
    const port = range.lo + ((start + i) % size);
    if (taken.has(port)) continue;
    try {
      await socket.bind(url(host, port));
      taken.add(port);
      return port;
    } catch (e) {
      if (!isAddrInUse(e) && !/permission denied/i.test((e as Error).message)) throw e;
    }
  }
  throw new GatewayError('GL_ERR_PORT_RANGE_EXHAUSTED', `no free port left in ${formatPortRange(range)} on ${host} for the proxy's public sockets; free ports or widen --port-range`, {
    details: { range: formatPortRange(range), host },
  });
}

/** Options of {@link KernelProxy.bind}. */
export interface KernelProxyOptions {
  /** Public address to bind (the reported one, or a wildcard). */
  readonly host: string;
  readonly range: PortRange;
  /** Ports of the range already in use by the launcher (the comm port). */
  readonly exclude?: ReadonlySet<number>;
  readonly random?: () => number;
}

interface FrontSockets {
  shell: zmq.Router;
  control: zmq.Router;
  stdin: zmq.Router;
  hb: zmq.Router;
  iopub: zmq.XPublisher;
}

interface BackSockets {
  shell: zmq.Dealer;
  control: zmq.Dealer;
  stdin: zmq.Dealer;
  hb: zmq.Dealer;
  iopub: zmq.XSubscriber;
}

/** The relay between public sockets and one kernel (restartable behind the same ports). */
export class KernelProxy {
  readonly #front: FrontSockets;
  readonly #back: BackSockets;
  readonly #seen: Record<Channel, number | null> = { shell: null, iopub: null, stdin: null, control: null, hb: null };
  #executionState: string | null = null;
  #backendPorts: ChannelPorts | undefined;
  #closed = false;
  /** Public ports, one per channel. */
  readonly publicPorts: ChannelPorts;

  private constructor(front: FrontSockets, back: BackSockets, publicPorts: ChannelPorts) {
    this.#front = front;
    this.#back = back;
    this.publicPorts = publicPorts;
  }

  /** Binds the five public sockets inside the range and starts the relay loops. */
  static async bind(options: KernelProxyOptions): Promise<KernelProxy> {
    const ipv6 = isIP(options.host) === 6 || options.host === '::';
    const common = { linger: 0, ipv6, sendHighWaterMark: RELAY_HWM, receiveHighWaterMark: RELAY_HWM };
    const front = {
      shell: new zmq.Router(common),
      control: new zmq.Router(common),
      stdin: new zmq.Router(common),
      hb: new zmq.Router(common),
      iopub: new zmq.XPublisher(common),
    };
    // The kernel addresses stdin input_requests to the routing id it saw on shell: both backends share it.
    const routingId = `gl-${randomBytes(8).toString('hex')}`;
    const backCommon = { linger: 0, sendHighWaterMark: RELAY_HWM, receiveHighWaterMark: RELAY_HWM, reconnectInterval: BACKEND_RECONNECT_MS };
    const back = {
      shell: new zmq.Dealer({ ...backCommon, routingId }),
      control: new zmq.Dealer(backCommon),
      stdin: new zmq.Dealer({ ...backCommon, routingId }),
      hb: new zmq.Dealer(backCommon),
      iopub: new zmq.XSubscriber(backCommon),
    };
    const taken = new Set(options.exclude ?? []);
    const ports = {} as ChannelPorts;
    try {
      for (const ch of CHANNELS) ports[ch] = await bindInRange(front[ch], options.host, options.range, taken, options.random ?? Math.random);
    } catch (e) {
      for (const s of [...Object.values(front), ...Object.values(back)]) s.close();
      throw e;
    }
    const proxy = new KernelProxy(front, back, ports);
    proxy.#startRelays();
    return proxy;
  }

  #startRelays(): void {
    const f = this.#front;
    const b = this.#back;
    for (const ch of ['shell', 'control', 'stdin', 'hb'] as const) {
      void this.#relay(ch, f[ch], b[ch]);
      void this.#relay(ch, b[ch], f[ch]);
    }
    void this.#relay('iopub', f.iopub, b.iopub); // subscriptions, client → kernel
    void this.#relayIopub();
  }

  async #relay(ch: Channel, from: zmq.Readable & zmq.Socket, to: zmq.Writable & zmq.Socket): Promise<void> {
    try {
      for await (const frames of from) {
        this.#seen[ch] = Date.now();
        await to.send(frames);
      }
    } catch (e) {
      if (!this.#closed) throw e;
    }
  }

  async #relayIopub(): Promise<void> {
    const from = this.#back.iopub;
    const to = this.#front.iopub;
    try {
      for await (const frames of from) {
        this.#seen.iopub = Date.now();
        const topic = frames[0];
        if (topic !== undefined && topic.length >= STATUS_SUFFIX.length && topic.subarray(topic.length - STATUS_SUFFIX.length).equals(STATUS_SUFFIX)) {
          this.#noteStatus(frames);
        }
        await to.send(frames);
      }
    } catch (e) {
      if (!this.#closed) throw e;
    }
  }

  #noteStatus(frames: Buffer[]): void {
    const at = frames.findIndex((f) => f.equals(DELIMITER));
    const content = at < 0 ? undefined : frames[at + 5];
    if (content === undefined || content.length > 256) return;
    try {
      const state = (JSON.parse(content.toString('utf8')) as { execution_state?: unknown }).execution_state;
      if (typeof state === 'string' && state.length <= 32) this.#executionState = state;
    } catch {
      // not a Jupyter status message
    }
  }

  /**
   * Points the backends at a kernel's loopback ports: on a restart behind the
   * same ports nothing changes (zmq reconnects by itself); with new ports the
   * backends disconnect from the old ones and connect to the new.
   */
  connectBackend(ports: ChannelPorts, host = '127.0.0.1'): void {
    const old = this.#backendPorts;
    for (const ch of CHANNELS) {
      if (old !== undefined && old[ch] === ports[ch]) continue;
      if (old !== undefined) this.#back[ch].disconnect(url(host, old[ch]));
      this.#back[ch].connect(url(host, ports[ch]));
    }
    this.#backendPorts = { ...ports };
  }

  /** The kernel's last activity and execution state. */
  activity(): ProxyActivity {
    const times = Object.values(this.#seen).filter((t): t is number => t !== null);
    return { last_activity: times.length === 0 ? null : Math.max(...times), execution_state: this.#executionState, channels: { ...this.#seen } };
  }

  /** Forgets the execution state (a new kernel process is starting behind the ports). */
  resetState(): void {
    this.#executionState = null;
  }

  /** Closes every socket; the relay loops end. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of [...Object.values(this.#front), ...Object.values(this.#back)]) s.close();
  }
}
