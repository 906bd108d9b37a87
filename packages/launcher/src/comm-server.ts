/**
 * The launcher's comm port: one request per TCP connection, at most 4 KiB and
 * the idle timeout each, served concurrently so an idle peer never delays an
 * interrupt. v2: boxed JSON line, answered with one JSON line (sealed to the
 * host and bound to the request's `seq`; a refusal, which has no trusted seq,
 * goes back plain). v1 (Gateway Provisioners' host): bare JSON ended by end of
 * stream, no answer.
 *
 * @module
 */
import type { Server, Socket } from 'node:net';
import { ConnectionSlots, type SlotHolder, addressKey } from '@gateway-launchers/common/connection-slots';
import {
  type ControlAction,
  type ControlReply,
  type ControlRoute,
  type V1Request,
  parseV1Request,
} from '@gateway-launchers/common/control-message';
import type { ProtocolVersion } from '@gateway-launchers/common/response-message';
import { type Result, isGatewayError } from '@gateway-launchers/common/errors';
import { IDLE_TIMEOUT_MS, MAX_CONTROL_BYTES } from '@gateway-launchers/common/limits';
import type { AuthenticatedControl } from './control-auth.js';
import type { LauncherLogger } from './deferred-logger.js';
import { readLine } from './line-io.js';

/** Concurrent comm-port connections served. */
export const MAX_COMM_CONNECTIONS = 64;
/** Concurrent comm-port connections served per peer address (IPv6: per /64). */
export const MAX_COMM_CONNECTIONS_PER_ADDRESS = 8;

/** One comm-port connection as the slot table sees it. */
class CommConnection implements SlotHolder {
  readonly addressKey: string;
  /** Until its first read has had its chance (one full event-loop turn). */
  #fresh = true;
  /** Its request has been read: it is being performed or answered. */
  requestRead = false;

  readonly #slots: ConnectionSlots<CommConnection>;
  constructor(
    readonly socket: Socket,
    slots: ConnectionSlots<CommConnection>,
  ) {
    this.#slots = slots;
    this.addressKey = addressKey((socket.remoteAddress ?? '').replace(/^::ffff:(?=\d+\.)/, ''));
    setImmediate(() => setImmediate(() => (this.#fresh = false)));
    socket.once('data', () => (this.#fresh = false));
  }

  get idle(): boolean {
    return this.socket.bytesRead === 0;
  }

  get stage(): 'fresh' | 'open' | 'committed' {
    return this.requestRead ? 'committed' : this.#fresh ? 'fresh' : 'open';
  }

  evict(): void {
    this.socket.destroy();
    this.#slots.release(this);
  }
}

/**
 * What the control channels (comm port, WebSocket) ask the launcher to do.
 * (The listener's `ControlTarget` is something else: where to reach a launcher.)
 */
export interface ControlPerformer {
  /** Performs a v2 action and says how it went. */
  perform(action: ControlAction, via: ControlRoute): Promise<ControlReply>;
  /** Performs a v1 request (no answer goes back). */
  performV1(request: V1Request): Promise<void>;
}

/** Options of {@link CommServer}. */
export interface CommServerOptions {
  readonly protocol: ProtocolVersion;
  /** v2: opens and authenticates a request. */
  readonly open: (text: string) => Result<AuthenticatedControl>;
  readonly target: ControlPerformer;
  readonly logger: LauncherLogger;
  readonly idleTimeoutMs?: number;
}

/** Serves control requests on an already listening server. */
export class CommServer {
  readonly #slots = new ConnectionSlots<CommConnection>(MAX_COMM_CONNECTIONS, MAX_COMM_CONNECTIONS_PER_ADDRESS);

  readonly #server: Server;
  readonly #options: CommServerOptions;
  constructor(server: Server, options: CommServerOptions) {
    this.#server = server;
    this.#options = options;
    server.on('connection', (socket) => this.#admit(socket));
    server.on('error', (err) => options.logger.warn({ event: 'comm_error', err: err.message }, 'comm port error'));
  }

  /** The port served. */
  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  /**
   * Requests are tiny and answered at once, so more connections than a cap
   * are a flood. Each address (IPv6: /64) gets a share; at a cap the peer
   * holding the most slots gives up its oldest unanswered one (idle first),
   * never one before its first read: a flood, idle or trickling, from
   * elsewhere never keeps the host's interrupt out.
   */
  #admit(socket: Socket): void {
    socket.on('error', () => {});
    const key = addressKey((socket.remoteAddress ?? '').replace(/^::ffff:(?=\d+\.)/, ''));
    if (!this.#slots.makeRoom(key)) {
      socket.destroy();
      return;
    }
    const conn = new CommConnection(socket, this.#slots);
    this.#slots.add(conn);
    socket.once('close', () => this.#slots.release(conn));
    void this.#serve(conn);
  }

  async #serve(conn: CommConnection): Promise<void> {
    const { socket } = conn;
    const { logger, protocol } = this.#options;
    const peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    let text: string;
    try {
      text = await readLine(socket, MAX_CONTROL_BYTES, this.#options.idleTimeoutMs ?? IDLE_TIMEOUT_MS, { acceptEof: true });
    } catch (e) {
      logger.debug(
        { event: 'control_unread', peer, code: isGatewayError(e) ? e.code : 'socket' },
        'control connection closed without a request',
      );
      this.#answer(socket, JSON.stringify({ ok: false, error: isGatewayError(e) ? e.code : 'GL_ERR_READ_TIMEOUT' }));
      return;
    }
    conn.requestRead = true;
    if (protocol === 1) {
      const req = parseV1Request(text);
      socket.destroy();
      if (!req.ok) {
        logger.warn({ event: 'control_refused', peer, code: req.error.code }, 'v1 control request refused');
        return;
      }
      await this.#options.target.performV1(req.value);
      return;
    }
    const opened = this.#options.open(text);
    if (!opened.ok) {
      logger.warn({ event: 'control_refused', peer, code: opened.error.code }, 'control request refused');
      this.#answer(socket, JSON.stringify({ ok: false, error: opened.error.code }));
      return;
    }
    const reply = await this.#options.target.perform(opened.value.action, 'comm-port');
    this.#answer(socket, opened.value.sealReply(reply));
  }

  #answer(socket: Socket, line: string): void {
    if (this.#options.protocol === 1 || socket.destroyed) {
      socket.destroy();
      return;
    }
    socket.end(`${line}\n`);
    // A peer that never reads must not hold the socket open.
    setTimeout(() => socket.destroy(), 1_000).unref();
  }

  /** Stops listening and drops open connections. */
  close(): Promise<void> {
    for (const c of [...this.#slots.all()]) c.socket.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
