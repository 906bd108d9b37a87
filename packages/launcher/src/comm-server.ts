/**
 * The launcher's comm port: one request per TCP connection, at most 4 KiB and
 * the idle timeout each, served concurrently so an idle peer never delays an
 * interrupt. v2: boxed JSON line, answered with one JSON line. v1 (Gateway
 * Provisioners' host): bare JSON ended by end of stream, no answer.
 *
 * @module
 */
import type { Server, Socket } from 'node:net';
import { type ControlAction, type ControlReply, type V1Request, parseV1Request } from '@gateway-launchers/common/control-message';
import { type Result, isGatewayError } from '@gateway-launchers/common/errors';
import { IDLE_TIMEOUT_MS, MAX_CONTROL_BYTES } from '@gateway-launchers/common/limits';
import type { LauncherLogger } from './deferred-logger.js';
import { readLine } from './line-io.js';

/** Concurrent comm-port connections served. */
const MAX_COMM_CONNECTIONS = 64;

/** What the comm server asks the launcher to do. */
export interface ControlTarget {
  /** Performs a v2 action and says how it went. */
  perform(action: ControlAction, via: 'comm' | 'ws'): Promise<ControlReply>;
  /** Performs a v1 request (no answer goes back). */
  performV1(request: V1Request): Promise<void>;
}

/** Options of {@link CommServer}. */
export interface CommServerOptions {
  readonly protocol: 1 | 2;
  /** v2: opens and authenticates a request. */
  readonly open: (text: string) => Result<ControlAction>;
  readonly target: ControlTarget;
  readonly logger: LauncherLogger;
  readonly idleTimeoutMs?: number;
}

/** Serves control requests on an already listening server. */
export class CommServer {
  readonly #sockets = new Set<Socket>();

  constructor(
    private readonly server: Server,
    private readonly options: CommServerOptions,
  ) {
    server.on('connection', (socket) => this.#admit(socket));
    server.on('error', (err) => options.logger.warn({ event: 'comm_error', err: err.message }, 'comm port error'));
  }

  /** The port served. */
  get port(): number {
    return (this.server.address() as { port: number }).port;
  }

  /**
   * Requests are tiny and answered at once, so more connections than the cap
   * are a flood: the oldest one that has sent nothing makes room (an idle
   * peer never keeps an interrupt out); when all are sending, the new one is closed.
   */
  #admit(socket: Socket): void {
    socket.on('error', () => {});
    if (this.#sockets.size >= MAX_COMM_CONNECTIONS) {
      const idle = [...this.#sockets].find((s) => s.bytesRead === 0);
      if (idle === undefined) {
        socket.destroy();
        return;
      }
      idle.destroy();
      this.#sockets.delete(idle);
    }
    void this.#serve(socket);
  }

  async #serve(socket: Socket): Promise<void> {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    const { logger, protocol } = this.options;
    const peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    let text: string;
    try {
      text = await readLine(socket, MAX_CONTROL_BYTES, this.options.idleTimeoutMs ?? IDLE_TIMEOUT_MS, { acceptEof: true });
    } catch (e) {
      logger.debug({ event: 'control_unread', peer, code: isGatewayError(e) ? e.code : 'socket' }, 'control connection closed without a request');
      this.#answer(socket, { ok: false, error: isGatewayError(e) ? e.code : 'GL_ERR_READ_TIMEOUT' });
      return;
    }
    if (protocol === 1) {
      const req = parseV1Request(text);
      socket.destroy();
      if (!req.ok) {
        logger.warn({ event: 'control_refused', peer, code: req.error.code }, 'v1 control request refused');
        return;
      }
      await this.options.target.performV1(req.value);
      return;
    }
    const action = this.options.open(text);
    if (!action.ok) {
      logger.warn({ event: 'control_refused', peer, code: action.error.code }, 'control request refused');
      this.#answer(socket, { ok: false, error: action.error.code });
      return;
    }
    const reply = await this.options.target.perform(action.value, 'comm');
    this.#answer(socket, reply);
  }

  #answer(socket: Socket, reply: ControlReply): void {
    if (this.options.protocol === 1 || socket.destroyed) {
      socket.destroy();
      return;
    }
    socket.end(`${JSON.stringify(reply)}\n`);
    // A peer that never reads must not hold the socket open.
    setTimeout(() => socket.destroy(), 1_000).unref();
  }

  /** Stops listening and drops open connections. */
  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
