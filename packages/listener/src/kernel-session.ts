/**
 * A kernel whose response was accepted: how to reach its launcher for control
 * (its open WebSocket, else its comm port), the `seq` source of its v2
 * requests, and the replay mark of the accepted response.
 *
 * Over the WebSocket the launcher answers requests in order, so replies are
 * matched first-in first-out. A request that times out leaves that order
 * unknown, so the socket is dropped and later requests use the comm port.
 *
 * @module
 */
import type { WebSocket, RawData } from 'ws';
import {
  type LauncherEvent,
  type Logger,
  ClockSeq,
  GatewayError,
  fail,
  openLauncherMessage,
  parseJsonObject,
  toBase64,
} from '@gateway-launchers/common';
import { type ControlResult, interpretReply } from './control-client.js';
import type { ControlTarget, ProtocolVersion } from './registration.js';
import { rawToBuffer } from './ws-raw-data.js';

/** Lifecycle of a session: running, asked to shut down, or reported exited. */
export type SessionState = 'running' | 'shutting-down' | 'exited';

/** What a session reports to its listener. */
export interface SessionHooks {
  /** A valid boxed event arrived on the WebSocket. */
  readonly onEvent: (session: KernelSession, event: LauncherEvent) => void;
  /** The WebSocket closed. */
  readonly onWebSocketClosed: (session: KernelSession) => void;
}

interface Waiter {
  /** The `seq` of the request waiting; its reply must carry it. */
  readonly seq: number;
  readonly settle: (r: ControlResult) => void;
  readonly timer: NodeJS.Timeout;
}

/** One accepted kernel and its control route. */
export class KernelSession {
  readonly kernelId: string;
  readonly protocol: ProtocolVersion;
  readonly host: string;
  readonly commPort: number;
  /** v2: the launcher's ephemeral public key. */
  readonly launcherPublicKey: Uint8Array | undefined;
  /** Identifies the accepted response (refuses its replay); undefined for adopted sessions. */
  readonly mark: Buffer | undefined;
  /** Strictly increasing `seq` of this kernel's v2 requests, from the clock. */
  readonly seq = new ClockSeq();
  state: SessionState = 'running';

  #ws: WebSocket | undefined;
  #waiting: Waiter[] = [];
  readonly #log: Logger;

  constructor(init: { target: ControlTarget; launcherPublicKey: Uint8Array | undefined; mark: Buffer | undefined; logger: Logger }) {
    this.kernelId = init.target.kernelId;
    this.protocol = init.target.protocol;
    this.host = init.target.host;
    this.commPort = init.target.commPort;
    this.launcherPublicKey = init.launcherPublicKey;
    this.mark = init.mark;
    this.#log = init.logger;
  }

  /** The persistable control target. */
  get target(): ControlTarget {
    return {
      kernelId: this.kernelId,
      protocol: this.protocol,
      host: this.host,
      commPort: this.commPort,
      ...(this.launcherPublicKey === undefined ? {} : { launcherPublicKey: toBase64(this.launcherPublicKey) }),
    };
  }

  #reattachSeq = -1;

  /** Records a re-attach `seq`; false when it does not increase (a replayed re-attach). */
  acceptReattachSeq(seq: number): boolean {
    if (!(seq > this.#reattachSeq)) return false;
    this.#reattachSeq = seq;
    return true;
  }

  #queue: Promise<unknown> = Promise.resolve();

  /** Runs `task` after every task queued before it (control requests go out one at a time). */
  serialize<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Detaches and terminates the current WebSocket, failing what waits on it. */
  dropWebSocket(reason: string): void {
    const ws = this.#ws;
    if (ws === undefined) return;
    this.#ws = undefined;
    this.#failWaiting(reason);
    ws.terminate();
  }

  /** True while the launcher's WebSocket is open. */
  get hasWebSocket(): boolean {
    return this.#ws !== undefined && this.#ws.readyState === this.#ws.OPEN;
  }

  /** Takes over the launcher's WebSocket after its response was acknowledged. */
  attachWebSocket(ws: WebSocket, listenerSecretKey: Uint8Array, maxReplyBytes: number, hooks: SessionHooks): void {
    this.#ws = ws;
    ws.on('message', (data: RawData) => this.#onMessage(rawToBuffer(data), listenerSecretKey, maxReplyBytes, hooks));
    ws.on('close', () => {
      // A replaced socket closing late must not touch its successor's requests.
      if (this.#ws !== ws) return;
      this.#ws = undefined;
      this.#failWaiting('the launcher WebSocket closed before the answer');
      hooks.onWebSocketClosed(this);
    });
    // Kernel-level keepalive finds a dead peer without any timer in the host.
    const socket = (ws as unknown as { _socket?: { setKeepAlive?: (on: boolean, ms: number) => void } })._socket;
    socket?.setKeepAlive?.(true, 60_000);
  }

  /** Sends a sealed request (of `seq`) over the WebSocket and waits for the launcher's sealed reply to it. */
  requestOverWebSocket(text: string, seq: number, timeoutMs: number): Promise<ControlResult> {
    const ws = this.#ws;
    if (ws === undefined || ws.readyState !== ws.OPEN)
      return Promise.resolve(fail('GL_ERR_CONTROL_UNAVAILABLE', 'the launcher WebSocket is not open', { route: 'websocket' }));
    return new Promise<ControlResult>((resolve) => {
      const waiter: Waiter = {
        seq,
        settle: (r) => {
          clearTimeout(waiter.timer);
          resolve(r);
        },
        timer: setTimeout(() => {
          this.#waiting = this.#waiting.filter((w) => w !== waiter);
          resolve(fail('GL_ERR_CONTROL_TIMEOUT', `launcher did not answer within ${timeoutMs} ms`, { route: 'websocket' }));
          // Replies are matched in order; after a lost one the order is unknown.
          this.#log.warn({ timeout_ms: timeoutMs }, 'control reply timed out; dropping the launcher WebSocket');
          ws.terminate();
        }, timeoutMs),
      };
      this.#waiting.push(waiter);
      ws.send(text, (error) => {
        if (error === undefined || error === null) return;
        this.#waiting = this.#waiting.filter((w) => w !== waiter);
        waiter.settle({
          ok: false,
          error: new GatewayError('GL_ERR_CONTROL_FAILED', 'could not send the control request on the WebSocket', {
            cause: error,
            details: { route: 'websocket' },
          }),
        });
      });
    });
  }

  /** Closes the WebSocket (going away) and fails waiting requests. */
  close(reason: string): void {
    this.#failWaiting(reason, 'GL_ERR_LISTENER_CLOSED');
    const ws = this.#ws;
    this.#ws = undefined;
    if (ws !== undefined) {
      ws.close(1001, 'listener closing');
      // Do not wait for a closing handshake a hostile peer may never finish.
      setImmediate(() => ws.terminate());
    }
  }

  #failWaiting(reason: string, code: 'GL_ERR_CONTROL_FAILED' | 'GL_ERR_LISTENER_CLOSED' = 'GL_ERR_CONTROL_FAILED'): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const w of waiting) w.settle(fail(code, reason, { route: 'websocket' }));
  }

  #onMessage(bytes: Buffer, listenerSecretKey: Uint8Array, maxReplyBytes: number, hooks: SessionHooks): void {
    const parsed = parseJsonObject(bytes, maxReplyBytes);
    if (!parsed.ok) {
      if (parsed.reason === 'too-large')
        this.#log.warn({ size: parsed.size }, 'launcher WebSocket message exceeds the control reply limit; ignored');
      else if (parsed.reason === 'not-json') this.#log.warn('launcher WebSocket message is not JSON; ignored');
      return;
    }
    const value = parsed.value;
    if (!('box' in value)) {
      // A plain answer: the launcher's refusal of a request it could not open
      // (no seq it could trust). A refusal fails the oldest request; a plain
      // success is not believed (replies are sealed and bound to their seq).
      const waiter = this.#waiting.shift();
      if (waiter === undefined) this.#log.warn('unsolicited control reply on the launcher WebSocket; ignored');
      else
        waiter.settle(
          value.ok === false
            ? interpretReply(value, 'websocket')
            : fail('GL_ERR_CONTROL_FAILED', 'launcher reply is not sealed: not believed', {
                route: 'websocket',
                reply_error: 'GL_ERR_REPLY_UNSEALED',
              }),
        );
      return;
    }
    if (this.launcherPublicKey === undefined) return;
    const opened = openLauncherMessage(bytes, this.launcherPublicKey, listenerSecretKey);
    if (!opened.ok) {
      this.#log.warn({ code: opened.error.code }, 'launcher message refused');
      return;
    }
    const message = opened.value;
    const kernelId = message.kind === 'reply' ? message.message.kernel_id : message.event.kernel_id;
    if (kernelId !== this.kernelId) {
      this.#log.warn({ code: 'GL_ERR_KERNEL_ID_MISMATCH' }, 'launcher message names another kernel; refused');
      return;
    }
    if (message.kind === 'reply') {
      const seq = message.message.seq;
      const waiter = this.#waiting.find((w) => w.seq === seq);
      if (waiter === undefined) {
        this.#log.warn({ seq }, 'control reply to no waiting request; ignored');
        return;
      }
      this.#waiting = this.#waiting.filter((w) => w !== waiter);
      waiter.settle(interpretReply(message.message.reply, 'websocket'));
      return;
    }
    const event = { value: message.event };
    hooks.onEvent(this, event.value);
  }
}
