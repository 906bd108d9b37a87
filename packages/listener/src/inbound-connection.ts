/**
 * One accepted, not yet authenticated connection on the response port: it
 * sniffs the protocol, reads one bounded response within one deadline, has it
 * verified (through the listener's time-sliced work queue), answers and
 * closes, or (WebSocket) hands the authenticated socket to the kernel's
 * session. Per connection: a few buffer operations and at most one box open.
 *
 * ```
 * sniffing ─► v2 ──────────┐
 *          ├► v1 ──────────┼─► verifying ─► answered ─► closed
 *          ├► http ─► websocket ┘        └─► handed-over (WebSocket, accepted)
 *          └► answered (refused)
 * ```
 * Every state but `handed-over` is bounded by the connection deadline; an
 * answered connection gets a short linger to read its answer and close.
 *
 * @module
 */
import type { Socket } from 'node:net';
import type { WebSocket, WebSocketServer, RawData } from 'ws';
import type { ErrorCode, GatewayError } from '@gateway-launchers/common';
import { addressKey } from '@gateway-launchers/common/connection-slots';
import { LineReader } from '@gateway-launchers/common/line-reader';
import { sniff } from './connection-sniffer.js';
import { findHeadEnd, httpErrorResponse, parseUpgradeHead, toIncomingMessage } from './http-upgrade.js';
import { BoundedBuffer } from './bounded-buffer.js';
import type { ListenerLimits } from './listener-options.js';
import type { ResponseTransport } from './registration.js';
import type { ValidResponse, Verdict } from './response-validator.js';
import { rawToBuffer } from './ws-raw-data.js';

/** Protocol a connection speaks, as sniffed, for events and logs. */
export type InboundProtocol = 'v2' | 'v1' | 'websocket' | 'unknown';

/** A refusal as reported to the listener. */
export interface InboundRefusal {
  readonly code: ErrorCode;
  readonly message: string;
  readonly peer: string;
  readonly protocol: InboundProtocol;
  readonly kernelId: string | undefined;
}

/** What a connection needs from its listener. */
export interface InboundSink {
  readonly legacy: boolean;
  readonly limits: ListenerLimits;
  readonly wss: WebSocketServer;
  /** Runs a verification job in a later, time-sliced turn, taking turns with other peers' jobs. */
  schedule(job: () => void, peer: string): void;
  checkV2(body: Buffer): Verdict;
  checkV1(body: Buffer): Verdict;
  /**
   * A launcher re-opening its control WebSocket after a drop: true when `body`
   * is a valid sealed `reattach` for an accepted kernel (same ephemeral key as
   * its response, increasing seq) and `ws` now belongs to that kernel.
   */
  reattach(body: Buffer, ws: WebSocket): boolean;
  /**
   * The listener's connection-info policy for a valid response from
   * `peerAddress`: the error to refuse it with, or undefined.
   */
  policy(valid: ValidResponse, peerAddress: string): GatewayError | undefined;
  /** Applies an accepted response; called after the acknowledgement was written. */
  commit(valid: ValidResponse, ctx: { peer: string; peerAddress: string; transport: ResponseTransport; ws: WebSocket | undefined }): void;
  refused(refusal: InboundRefusal): void;
  /** The connection no longer counts as unauthenticated (closed or handed over). */
  released(conn: InboundConnection): void;
}

type State = 'sniffing' | 'v2' | 'v1' | 'http' | 'websocket' | 'verifying' | 'answered' | 'handed-over' | 'closed';

/** Longest a complete response may wait in the verification queue, in ms. */
const VERIFY_DEADLINE_MS = 30_000;

/** Time an answered peer gets to read the answer and close, in ms. */
const LINGER_MS = 1_000;
const OK_LINE = '{"ok":true}\n';
const OK_JSON = '{"ok":true}';
const bySocket = new WeakMap<Socket, InboundConnection>();

/** The error answer of the line protocols (without newline). */
export function errorJson(code: string): string {
  return JSON.stringify({ ok: false, error: code });
}

/** `::ffff:10.0.0.5` → `10.0.0.5`; other addresses unchanged. */
export function normalizeAddress(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** One unauthenticated connection. */
export class InboundConnection {
  /** `address:port` of the peer, for events and logs. */
  readonly peer: string;
  /** The peer's address alone. */
  readonly peerAddress: string;
  /** The key the peer's share of slots is counted by (IPv6: its /64). */
  readonly addressKey: string;
  #state: State = 'sniffing';
  #protocol: InboundProtocol = 'unknown';
  readonly #socket: Socket;
  readonly #sink: InboundSink;
  #sniffed: Buffer = Buffer.alloc(0);
  #line: LineReader | undefined;
  #v1: BoundedBuffer | undefined;
  #head: Buffer = Buffer.alloc(0);
  #ws: WebSocket | undefined;
  #deadline: NodeJS.Timeout | undefined;
  #released = false;
  /** Until the first read has had its chance (one full event-loop turn after accept, or the first data). */
  #fresh = true;

  /** The connection that owns `socket`, if any (for `ws`'s client-error callback). */
  static of(socket: unknown): InboundConnection | undefined {
    return bySocket.get(socket as Socket);
  }

  constructor(socket: Socket, sink: InboundSink) {
    this.#socket = socket;
    this.#sink = sink;
    this.peerAddress = normalizeAddress(socket.remoteAddress);
    this.peer = this.peerAddress.includes(':')
      ? `[${this.peerAddress}]:${socket.remotePort ?? 0}`
      : `${this.peerAddress}:${socket.remotePort ?? 0}`;
    this.addressKey = addressKey(this.peerAddress);
    // Bytes already in the kernel's buffer are read in the next poll phase; an
    // immediate queued from this turn's check phase runs after it. Until then a
    // launcher's connection "has sent nothing" only because we have not looked.
    setImmediate(() => setImmediate(() => (this.#fresh = false)));
    bySocket.set(socket, this);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', () => {}); // 'close' follows; a reset peer is not a host error
    socket.on('close', this.#onClose);
    this.#arm(sink.limits.connectionTimeoutMs);
  }

  /** Current state (diagnostics). */
  get state(): string {
    return this.#state;
  }

  /** True while the peer has sent nothing at all (a slowloris candidate). */
  get idle(): boolean {
    return this.#state === 'sniffing' && this.#sniffed.length === 0;
  }

  /**
   * For the slot table: `fresh` until its first read has had its chance,
   * `committed` once a complete response waits for verification (or it is
   * answered), else `open`.
   */
  get stage(): 'fresh' | 'open' | 'committed' {
    const s = this.#state;
    const reading = s === 'sniffing' || s === 'v2' || s === 'v1' || s === 'http' || (s === 'websocket' && this.#ws !== undefined);
    if (!reading) return 'committed';
    return this.#fresh ? 'fresh' : 'open';
  }

  /**
   * Closes the connection to make room for a new one when its peer holds the
   * most slots at the listener's cap (or its address's cap).
   */
  evict(): void {
    this.#refuse(
      'GL_ERR_READ_TIMEOUT',
      'closed before a complete response: the listener was at a connection cap and its peer held the most slots',
      undefined,
      408,
    );
    this.destroy();
    this.#release(); // now, not at 'close': the slot is what the new connection needs
  }

  /** Closes at once (listener closing). */
  destroy(): void {
    this.#ws?.terminate();
    this.#socket.destroy();
  }

  /** `ws` refused the upgrade request (bad headers): answer 400 with our code. */
  refuseUpgrade(message: string): void {
    if (this.#state === 'websocket' && this.#ws === undefined) this.#refuse('GL_ERR_UPGRADE_INVALID', message, undefined, 400);
  }

  #arm(ms: number): void {
    clearTimeout(this.#deadline);
    this.#deadline = setTimeout(this.#onDeadline, ms);
    this.#deadline.unref();
  }

  readonly #onData = (chunk: Buffer): void => {
    switch (this.#state) {
      case 'sniffing': {
        this.#fresh = false;
        this.#sniffed = this.#sniffed.length === 0 ? chunk : Buffer.concat([this.#sniffed, chunk]);
        const kind = sniff(this.#sniffed);
        if (kind !== 'more') this.#begin(kind);
        return;
      }
      case 'v2':
        return this.#feedV2(chunk);
      case 'v1':
        return this.#feedV1(chunk);
      case 'http':
        return this.#feedHttp(chunk);
      default:
        // verifying / answered: discard what the peer still sends (a lingering
        // close lets it read the answer); websocket: `ws` reads the socket.
        return;
    }
  };

  #begin(kind: 'v2' | 'v1' | 'websocket' | 'unknown'): void {
    const first = this.#sniffed;
    this.#sniffed = Buffer.alloc(0);
    this.#protocol = kind;
    const limits = this.#sink.limits;
    switch (kind) {
      case 'v2':
        this.#state = 'v2';
        this.#line = new LineReader(limits.maxResponseBytes);
        return this.#feedV2(first);
      case 'v1':
        if (!this.#sink.legacy)
          return this.#refuse('GL_ERR_V1_NOT_ENABLED', 'v1 payloads are not accepted (listener started without legacy)', undefined);
        this.#state = 'v1';
        this.#v1 = new BoundedBuffer(limits.maxResponseBytes);
        return this.#feedV1(first);
      case 'websocket':
        this.#state = 'http';
        return this.#feedHttp(first);
      default:
        return this.#refuse('GL_ERR_PROTOCOL_UNKNOWN', 'first bytes match no protocol', undefined);
    }
  }

  #feedV2(chunk: Buffer): void {
    const item = (this.#line as LineReader).first(chunk);
    if (item?.kind === 'line') this.#verify(item.line, 'v2', 'tcp');
    else if (item?.kind === 'overlong')
      this.#refuse('GL_ERR_ENVELOPE_TOO_LARGE', `response exceeds ${this.#sink.limits.maxResponseBytes} bytes`, undefined);
  }

  #feedV1(chunk: Buffer): void {
    if (!(this.#v1 as BoundedBuffer).push(chunk))
      this.#refuse('GL_ERR_ENVELOPE_TOO_LARGE', `v1 payload exceeds ${this.#sink.limits.maxResponseBytes} bytes`, undefined);
  }

  #feedHttp(chunk: Buffer): void {
    this.#head = this.#head.length === 0 ? chunk : Buffer.concat([this.#head, chunk]);
    const max = this.#sink.limits.maxUpgradeHeadBytes;
    const end = findHeadEnd(this.#head);
    if (end < 0 || end > max) {
      if (this.#head.length > max) this.#refuse('GL_ERR_UPGRADE_INVALID', 'upgrade request head is too large', undefined, 431);
      return;
    }
    const head = parseUpgradeHead(this.#head.subarray(0, end));
    if (!head.ok) return this.#refuse(head.error.code, head.error.message, undefined, 400);
    const rest = Buffer.from(this.#head.subarray(end));
    this.#head = Buffer.alloc(0);
    this.#state = 'websocket';
    // From here `ws` reads the socket (our 'data' listener ignores this state).
    // `ws` calls back synchronously with the WebSocket, or reports bad headers
    // through the server's 'wsClientError' (see refuseUpgrade).
    this.#sink.wss.handleUpgrade(toIncomingMessage(head.value, this.#socket), this.#socket, rest, (ws) => this.#onWebSocket(ws));
  }

  #onWebSocket(ws: WebSocket): void {
    this.#ws = ws;
    ws.on('error', (error: Error & { code?: string }) => {
      const tooLarge = error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH';
      this.#refuse(
        tooLarge ? 'GL_ERR_ENVELOPE_TOO_LARGE' : 'GL_ERR_ENVELOPE_MALFORMED',
        tooLarge ? 'WebSocket frame exceeds the response limit' : 'invalid WebSocket frame',
        undefined,
      );
    });
    ws.once('message', (data: RawData, isBinary: boolean) => {
      if (this.#state !== 'websocket') return;
      if (isBinary) return this.#refuse('GL_ERR_ENVELOPE_MALFORMED', 'the response must be a text frame', undefined);
      const body = rawToBuffer(data);
      this.#state = 'verifying';
      this.#sink.schedule(() => {
        if (this.#state !== 'verifying') return;
        if (this.#sink.reattach(body, ws)) {
          ws.send(OK_JSON);
          this.#handOver();
          return;
        }
        this.#state = 'websocket';
        this.#verify(body, 'v2', 'ws');
      }, this.peerAddress);
    });
  }

  /** Queues verification; stops reading the response meanwhile. */
  #verify(body: Buffer, version: 'v1' | 'v2', transport: ResponseTransport): void {
    this.#state = 'verifying';
    // The peer delivered in time; a wait in our own queue (a flood from others) must not
    // turn its complete response into a read timeout. Still bounded.
    this.#arm(VERIFY_DEADLINE_MS);
    this.#sink.schedule(() => {
      // The peer may have gone, or the deadline passed, while the job waited.
      if (this.#state !== 'verifying') return;
      const verdict = version === 'v2' ? this.#sink.checkV2(body) : this.#sink.checkV1(body);
      if (!verdict.ok) return this.#refuse(verdict.error.code, verdict.error.message, verdict.kernelId);
      const refused = this.#sink.policy(verdict.value, this.peerAddress);
      if (refused !== undefined) return this.#refuse(refused.code, refused.message, verdict.value.registration.kernelId);
      const ctx = { peer: this.peer, peerAddress: this.peerAddress, transport, ws: this.#ws };
      // Acknowledge first: a host handler reacting to the resolved promise must
      // not get a control request onto the wire before the ack.
      if (this.#ws !== undefined) {
        this.#ws.send(OK_JSON);
        this.#handOver();
      } else {
        this.#answer(version === 'v2' ? OK_LINE : undefined); // v1 launchers expect no answer
      }
      this.#sink.commit(verdict.value, ctx);
    }, this.peerAddress);
  }

  /** The authenticated WebSocket now belongs to the kernel's session. */
  #handOver(): void {
    this.#state = 'handed-over';
    clearTimeout(this.#deadline);
    this.#socket.off('data', this.#onData);
    this.#socket.off('end', this.#onEnd);
    this.#release();
  }

  readonly #onEnd = (): void => {
    switch (this.#state) {
      case 'sniffing': {
        if (this.#sniffed.length === 0) {
          // Connected and closed without a byte (a port probe): nothing to refuse.
          this.#answer(undefined);
          return;
        }
        const kind = sniff(this.#sniffed, true);
        this.#begin(kind === 'more' ? 'unknown' : kind);
        const now = this.#state as State; // #begin moved it on
        if (now === 'v2' || now === 'v1' || now === 'http') this.#onEnd();
        return;
      }
      case 'v2': {
        const [rest] = (this.#line as LineReader).end();
        if (rest?.kind === 'line') this.#verify(rest.line, 'v2', 'tcp');
        else this.#refuse('GL_ERR_ENVELOPE_MALFORMED', 'connection ended before a complete response', undefined);
        return;
      }
      case 'v1':
        return this.#verify((this.#v1 as BoundedBuffer).take(), 'v1', 'tcp');
      case 'http':
        return this.#refuse('GL_ERR_UPGRADE_INVALID', 'connection ended inside the upgrade request', undefined, 400);
      case 'answered':
        this.#socket.end();
        return;
      default:
        return; // verifying: the answer follows (half-open); websocket: `ws` handles it
    }
  };

  readonly #onDeadline = (): void => {
    switch (this.#state) {
      case 'answered':
      case 'handed-over':
      case 'closed':
        this.#ws?.terminate();
        this.#socket.destroy();
        return;
      case 'verifying':
        this.#refuse('GL_ERR_READ_TIMEOUT', `response not verified within ${VERIFY_DEADLINE_MS} ms (listener overloaded)`, undefined, 408);
        return;
      default:
        this.#refuse('GL_ERR_READ_TIMEOUT', `no complete response within ${this.#sink.limits.connectionTimeoutMs} ms`, undefined, 408);
    }
  };

  readonly #onClose = (): void => {
    clearTimeout(this.#deadline);
    if (this.#state !== 'handed-over') this.#state = 'closed';
    this.#release();
  };

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.#sink.released(this);
  }

  /** Writes the answer (if any) and ends our side; the peer gets a short linger to read it and close. */
  #answer(line: string | undefined): void {
    this.#state = 'answered';
    if (line === undefined) this.#socket.end();
    else this.#socket.end(line);
    this.#arm(LINGER_MS);
  }

  #refuse(code: ErrorCode, message: string, kernelId: string | undefined, httpStatus: 400 | 408 | 431 = 400): void {
    const state = this.#state;
    if (state === 'answered' || state === 'handed-over' || state === 'closed') return;
    this.#sink.refused({ code, message, peer: this.peer, protocol: this.#protocol, kernelId });
    const ws = this.#ws;
    if (ws !== undefined) {
      this.#state = 'answered';
      if (ws.readyState === ws.OPEN) {
        ws.send(errorJson(code));
        ws.close(1008, code);
      }
      this.#arm(LINGER_MS);
      return;
    }
    if (this.#protocol === 'websocket') {
      // Still HTTP: the upgrade did not happen.
      this.#state = 'answered';
      this.#socket.end(httpErrorResponse(httpStatus, code));
      this.#arm(LINGER_MS);
      return;
    }
    this.#answer(`${errorJson(code)}\n`);
  }
}
