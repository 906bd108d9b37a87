/**
 * The WebSocket kept open after a `ws://`/`wss://` response: control requests
 * arrive on it as boxed frames and are answered with a JSON frame; the
 * launcher sends boxed events (kernel exit) on it. When it drops, the
 * launcher reconnects with backoff and re-attaches with a sealed `reattach`
 * event, so the host keeps control and still hears of the kernel's exit.
 *
 * @module
 */
import type { WebSocket } from 'ws';
import type { ResponseAddress } from '@gateway-launchers/common/address';
import type { LauncherEvent } from '@gateway-launchers/common/control-message';
import { type BoxKeyPair, ClockSeq, sealEvent, sealReattach } from '@gateway-launchers/common/envelope-v2';
import type { Result } from '@gateway-launchers/common/errors';
import { parseJsonObject } from '@gateway-launchers/common/json-object';
import { IDLE_TIMEOUT_MS, MAX_CONTROL_REPLY_BYTES } from '@gateway-launchers/common/limits';
import type { LauncherLogger } from './deferred-logger.js';
import type { ControlPerformer } from './comm-server.js';
import type { AuthenticatedControl } from './control-auth.js';
import { backoffDelays, sleep } from './backoff.js';

/** Longest wait, while re-attaching, before an event is given up. */
const EVENT_WAIT_MS = IDLE_TIMEOUT_MS;

/** Why a re-attach answer could not be read, by {@link parseJsonObject}'s reason. */
const UNREADABLE_ANSWER = { 'too-large': 'too large', 'not-json': 'not JSON', 'not-object': 'not a JSON object' } as const;

/** Options of {@link WsControlChannel}. */
export interface WsControlChannelOptions {
  readonly kernelId: string;
  readonly address: ResponseAddress;
  readonly listenerPublicKey: Uint8Array;
  readonly ephemeral: BoxKeyPair;
  /** Opens and authenticates a control request. */
  readonly open: (text: string) => Result<AuthenticatedControl>;
  readonly target: ControlPerformer;
  readonly logger: LauncherLogger;
}

/** Serves control over a WebSocket and keeps it connected. */
export class WsControlChannel {
  #ws: WebSocket | undefined;
  #closed = false;
  readonly #stop = new AbortController();
  readonly #seq = new ClockSeq();

  /** `ws`: the socket the response was acknowledged on; undefined when that ack was lost and the channel must re-attach first. */
  readonly #options: WsControlChannelOptions;
  constructor(ws: WebSocket | undefined, options: WsControlChannelOptions, early: readonly string[] = []) {
    this.#options = options;
    if (ws === undefined) {
      void this.#reconnect();
      return;
    }
    ws.removeAllListeners('message');
    this.#attach(ws);
    for (const text of early) void this.#onRequest(ws, text);
  }

  #attach(ws: WebSocket): void {
    this.#ws = ws;
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      void this.#onRequest(ws, String(data));
    });
    ws.once('close', () => {
      if (this.#ws === ws) this.#ws = undefined;
      if (!this.#closed) void this.#reconnect();
    });
  }

  async #onRequest(ws: WebSocket, text: string): Promise<void> {
    const action = this.#options.open(text);
    if (!action.ok) {
      this.#options.logger.warn({ event: 'control_refused', via: 'websocket', code: action.error.code }, 'control request refused');
      ws.send(JSON.stringify({ ok: false, error: action.error.code }));
      return;
    }
    const reply = await this.#options.target.perform(action.value.action, 'websocket');
    if (ws.readyState === ws.OPEN) ws.send(action.value.sealReply(reply));
  }

  async #reconnect(): Promise<void> {
    const { WebSocket } = await import('ws');
    const delays = backoffDelays({ initialMs: 200, maxMs: 5_000 });
    const { logger, address } = this.#options;
    let failures = 0;
    let nextWarn = 1;
    while (!this.#closed) {
      await sleep(delays.next().value, this.#stop.signal);
      if (this.#closed) return;
      const ws = new WebSocket(address.href, {
        handshakeTimeout: IDLE_TIMEOUT_MS,
        maxPayload: MAX_CONTROL_REPLY_BYTES,
        perMessageDeflate: false,
      });
      let reason = 'no acknowledgement in time';
      ws.on('error', (err) => {
        reason = err.message;
      });
      const ok = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), IDLE_TIMEOUT_MS);
        ws.once('open', () =>
          ws.send(
            sealReattach(
              { event: 'reattach', kernel_id: this.#options.kernelId, seq: this.#seq.next() },
              this.#options.listenerPublicKey,
              this.#options.ephemeral,
            ),
          ),
        );
        ws.once('message', (data) => {
          clearTimeout(timer);
          const answer = parseJsonObject(String(data), MAX_CONTROL_REPLY_BYTES);
          const acked = answer.ok && answer.value.ok === true;
          if (!answer.ok) reason = `listener answer is ${UNREADABLE_ANSWER[answer.reason]}`;
          else if (!acked)
            reason = `listener refused: ${typeof answer.value.error === 'string' ? answer.value.error.slice(0, 64) : 'no reason'}`;
          if (acked && !this.#closed) {
            // Attach in this same turn: a control request may follow the ack in the same read.
            ws.removeAllListeners();
            this.#attach(ws);
          }
          resolve(acked);
        });
        ws.once('close', (code) => {
          clearTimeout(timer);
          if (reason === 'no acknowledgement in time') reason = `closed before acknowledging (code ${code})`;
          resolve(false);
        });
      });
      if (ok && !this.#closed) {
        logger.info({ event: 'ws_reattached' }, 'control WebSocket re-attached');
        return;
      }
      ws.removeAllListeners();
      ws.on('error', () => {});
      ws.terminate();
      // Warn on the 1st, 2nd, 4th, 8th … failure (debug in between): an outage of hours stays a few lines.
      failures++;
      const fields = { event: 'ws_reattach_failed', attempt: failures, address: address.href, reason };
      if (failures >= nextWarn) {
        nextWarn *= 2;
        logger.warn(fields, `control WebSocket re-attach failed (${reason}), retrying`);
      } else {
        logger.debug(fields, 'control WebSocket re-attach failed, retrying');
      }
    }
  }

  /** Sends an event; resolves once written (or at once when not connected). */
  async sendEvent(event: LauncherEvent): Promise<void> {
    // Mid-reconnect, the event waits (bounded) for the re-attached socket rather than being lost.
    const until = performance.now() + EVENT_WAIT_MS;
    while ((this.#ws === undefined || this.#ws.readyState !== this.#ws.OPEN) && !this.#closed && performance.now() < until) await sleep(50);
    const ws = this.#ws;
    if (ws === undefined || ws.readyState !== ws.OPEN) {
      this.#options.logger.warn({ event: 'event_undelivered', kind: event.event }, 'no control WebSocket to report the event on');
      return;
    }
    const text = sealEvent(event, this.#options.listenerPublicKey, this.#options.ephemeral.secretKey);
    await new Promise<void>((resolve) => ws.send(text, () => resolve()));
  }

  /** Closes the socket and stops reconnecting; waits briefly for the close handshake. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stop.abort();
    const ws = this.#ws;
    if (ws === undefined) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 500);
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.close(1000, 'kernel exited');
    });
  }
}
