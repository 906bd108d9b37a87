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
 * Toward the kernel, shell, control and stdin are fair between clients: a
 * message whose HMAC does not verify against the kernel's key is dropped in
 * the launcher (the kernel would drop it too, after queueing it behind
 * everything else), each client (ROUTER routing id) has its own bounded queue,
 * and the queues are served in turn (round robin), with only a few messages
 * buffered toward the kernel, so one client's backlog never sits in front of
 * another client's request.
 *
 * @module
 */
import { type KeyObject, createHmac, createSecretKey, randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import * as zmq from 'zeromq';
import { GatewayError } from '@gateway-launchers/common/errors';
import { parseJsonObject } from '@gateway-launchers/common/json-object';
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
/**
 * Messages one client may have waiting in the launcher on one channel; at
 * this many the relay stops reading that public socket until the client's
 * queue drains (zmq then holds the rest in that client's own pipe).
 */
export const CLIENT_QUEUE = 32;
/**
 * Send high-water mark of the shell, control and stdin backends: small, so a
 * backlog waits in the per-client queues, where clients take turns, and not in
 * one FIFO toward the kernel.
 */
const BACKEND_REQUEST_HWM = 4;
/** Backend reconnect interval: a restarted kernel is reached within this many ms of binding. */
const BACKEND_RECONNECT_MS = 10;

const DELIMITER = Buffer.from('<IDS|MSG>');
const STATUS_SUFFIX = Buffer.from('status');
/** Largest status content parsed (a status message's content is `{"execution_state": "busy"}`). */
const MAX_STATUS_CONTENT_BYTES = 256;

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
  throw new GatewayError(
    'GL_ERR_PORT_RANGE_EXHAUSTED',
    `no free port left in ${formatPortRange(range)} on ${host} for the proxy's public sockets; free ports or widen --port-range`,
    {
      details: { range: formatPortRange(range), host },
    },
  );
}

/** Options of {@link KernelProxy.bind}. */
export interface KernelProxyOptions {
  /** Public address to bind (the reported one, or a wildcard). */
  readonly host: string;
  readonly range: PortRange;
  /** Ports of the range already in use by the launcher (the comm port). */
  readonly exclude?: ReadonlySet<number>;
  readonly random?: () => number;
  /**
   * The kernel's HMAC-SHA256 key: client messages on shell, control and stdin
   * whose signature does not verify are dropped in the launcher. Without it
   * every message is relayed.
   */
  readonly key?: string;
}

/**
 * Per-client queues served in turn. A Map keeps insertion order: the client
 * served is taken from the front and, if it still has messages, put back at
 * the end.
 */
export class FairQueue {
  readonly #queues = new Map<string, Buffer[][]>();
  #wakePump: (() => void) | undefined;
  #wakeReader: (() => void) | undefined;
  #blockedOn: string | undefined;

  /** Queues `frames` for `client`; true when that client's queue is now full. */
  push(client: string, frames: Buffer[]): boolean {
    let q = this.#queues.get(client);
    if (q === undefined) this.#queues.set(client, (q = []));
    q.push(frames);
    this.#wakePump?.();
    return q.length >= CLIENT_QUEUE;
  }

  /** Resolves when `client`'s queue has room again (or the queue is ended). */
  room(client: string): Promise<void> {
    const q = this.#queues.get(client);
    if (q === undefined || q.length < CLIENT_QUEUE) return Promise.resolve();
    this.#blockedOn = client;
    return new Promise((resolve) => (this.#wakeReader = resolve));
  }

  /** The next message, taking clients in turn; waits while every queue is empty, undefined once ended. */
  async next(ended: () => boolean): Promise<Buffer[] | undefined> {
    for (;;) {
      if (ended()) return undefined;
      const first = this.#queues.entries().next();
      if (!first.done) {
        const [client, q] = first.value;
        const frames = q.shift() as Buffer[];
        this.#queues.delete(client);
        if (q.length > 0) this.#queues.set(client, q);
        if (this.#blockedOn === client && q.length < CLIENT_QUEUE) this.#release();
        return frames;
      }
      await new Promise<void>((resolve) => (this.#wakePump = resolve));
      this.#wakePump = undefined;
    }
  }

  /** Wakes both loops so they see that the relay ended. */
  end(): void {
    this.#wakePump?.();
    this.#release();
  }

  #release(): void {
    const wake = this.#wakeReader;
    this.#blockedOn = undefined;
    this.#wakeReader = undefined;
    wake?.();
  }
}

/** True when `frames` (a client's message, routing id first) carries a valid HMAC-SHA256 signature under `key`. */
function signedBy(key: KeyObject, frames: readonly Buffer[]): boolean {
  let at = 1;
  while (at < frames.length && !(frames[at] as Buffer).equals(DELIMITER)) at++;
  if (at + 5 >= frames.length) return false;
  const signature = frames[at + 1] as Buffer;
  if (signature.length !== 64) return false;
  const expected = Buffer.from(signature.toString('latin1'), 'hex');
  if (expected.length !== 32) return false;
  const mac = createHmac('sha256', key);
  for (let i = at + 2; i <= at + 5; i++) mac.update(frames[i] as Buffer);
  return timingSafeEqual(mac.digest(), expected);
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
  readonly #key: KeyObject | undefined;
  readonly #queues: FairQueue[] = [];
  #dropped = 0;
  /** Public ports, one per channel. */
  readonly publicPorts: ChannelPorts;

  private constructor(front: FrontSockets, back: BackSockets, publicPorts: ChannelPorts, key: string | undefined) {
    this.#key = key === undefined || key === '' ? undefined : createSecretKey(Buffer.from(key, 'utf8'));
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
    const backCommon = {
      linger: 0,
      sendHighWaterMark: RELAY_HWM,
      receiveHighWaterMark: RELAY_HWM,
      reconnectInterval: BACKEND_RECONNECT_MS,
    };
    const requests = { ...backCommon, sendHighWaterMark: BACKEND_REQUEST_HWM };
    const back = {
      shell: new zmq.Dealer({ ...requests, routingId }),
      control: new zmq.Dealer(requests),
      stdin: new zmq.Dealer({ ...requests, routingId }),
      hb: new zmq.Dealer(backCommon),
      iopub: new zmq.XSubscriber(backCommon),
    };
    const taken = new Set(options.exclude ?? []);
    const ports = {} as ChannelPorts;
    try {
      for (const ch of CHANNELS)
        ports[ch] = await bindInRange(front[ch], options.host, options.range, taken, options.random ?? Math.random);
    } catch (e) {
      for (const s of [...Object.values(front), ...Object.values(back)]) s.close();
      throw e;
    }
    const proxy = new KernelProxy(front, back, ports, options.key);
    proxy.#startRelays();
    return proxy;
  }

  #startRelays(): void {
    const f = this.#front;
    const b = this.#back;
    for (const ch of ['shell', 'control', 'stdin'] as const) {
      const queue = new FairQueue();
      this.#queues.push(queue);
      void this.#readClients(ch, f[ch], queue);
      void this.#pump(b[ch], queue);
      void this.#relay(ch, b[ch], f[ch]);
    }
    void this.#relay('hb', f.hb, b.hb);
    void this.#relay('hb', b.hb, f.hb);
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

  /** Reads client messages into per-client queues, dropping forged ones; pauses while the sender's queue is full. */
  async #readClients(ch: Channel, from: zmq.Router, queue: FairQueue): Promise<void> {
    try {
      for await (const frames of from) {
        this.#seen[ch] = Date.now();
        if (this.#key !== undefined && !signedBy(this.#key, frames)) {
          this.#dropped++;
          continue;
        }
        const client = (frames[0] as Buffer).toString('latin1');
        if (queue.push(client, frames)) await queue.room(client);
        if (this.#closed) return;
      }
    } catch (e) {
      if (!this.#closed) throw e;
    }
  }

  /** Sends queued client messages to the kernel, one client at a time in turn. */
  async #pump(to: zmq.Dealer, queue: FairQueue): Promise<void> {
    try {
      for (;;) {
        const frames = await queue.next(() => this.#closed);
        if (frames === undefined) return;
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
        if (
          topic !== undefined &&
          topic.length >= STATUS_SUFFIX.length &&
          topic.subarray(topic.length - STATUS_SUFFIX.length).equals(STATUS_SUFFIX)
        ) {
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
    if (content === undefined) return;
    const parsed = parseJsonObject(content, MAX_STATUS_CONTENT_BYTES);
    if (!parsed.ok) return; // not a Jupyter status message
    const state = parsed.value.execution_state;
    if (typeof state === 'string' && state.length <= 32) this.#executionState = state;
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
    return {
      last_activity: times.length === 0 ? null : Math.max(...times),
      execution_state: this.#executionState,
      channels: { ...this.#seen },
    };
  }

  /** Client messages dropped because their signature did not verify. */
  get droppedUnsigned(): number {
    return this.#dropped;
  }

  /** Forgets the execution state (a new kernel process is starting behind the ports). */
  resetState(): void {
    this.#executionState = null;
  }

  /** Closes every socket; the relay loops end. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const q of this.#queues) q.end();
    for (const s of [...Object.values(this.#front), ...Object.values(this.#back)]) s.close();
  }
}
