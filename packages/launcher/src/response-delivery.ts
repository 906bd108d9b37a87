/**
 * Delivers the sealed response to the listener: v2 over TCP (one line, one
 * line back) or WebSocket (first frame, first frame back, socket kept for
 * control), v1 over TCP (send and close, as Gateway Provisioners' launcher
 * does). Retries with exponential backoff and jitter until the deadline.
 *
 * @module
 */
import { connect, type Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { ResponseAddress } from '@gateway-launchers/common/address';
import { GatewayError } from '@gateway-launchers/common/errors';
import { parseJsonObject } from '@gateway-launchers/common/json-object';
import type { ProtocolVersion } from '@gateway-launchers/common/response-message';
import { IDLE_TIMEOUT_MS, MAX_CONTROL_REPLY_BYTES } from '@gateway-launchers/common/limits';
import type { LauncherLogger } from './deferred-logger.js';
import { backoffDelays, sleep } from './backoff.js';
import { readLine } from './line-io.js';

/**
 * Retries are logged at `info` the first time and then at most this often
 * (the others at `debug`): an operator whose launcher cannot reach the
 * listener sees it at once, and the log does not fill up.
 */
export const RETRY_INFO_INTERVAL_MS = 5_000;

/** Listener answers worth another try: it was busy, or our bytes were too slow. */
const RETRYABLE_REFUSALS = new Set(['GL_ERR_TOO_MANY_CONNECTIONS', 'GL_ERR_READ_TIMEOUT']);

/** What a successful delivery leaves behind. */
export interface Delivery {
  /** The open WebSocket (ws:// and wss:// addresses), to keep for control. */
  readonly ws?: WebSocket;
  /** Text frames that arrived right after the ack, before a control channel took the socket. */
  readonly early?: readonly string[];
  /** Attempts made. */
  readonly attempts: number;
  /**
   * The listener answered a retry with `GL_ERR_RESPONSE_REPLAYED`: an earlier
   * attempt was accepted but its acknowledgement was lost on the way. Only this
   * launcher holds the ephemeral key of that response, so it counts as acknowledged.
   */
  readonly acceptedEarlier?: boolean;
}

/** Listener answer meaning "this exact response was accepted before". */
const ALREADY_ACCEPTED = 'GL_ERR_RESPONSE_REPLAYED';

/** Options of {@link deliverResponse}. */
export interface DeliverOptions {
  readonly address: ResponseAddress;
  readonly protocol: ProtocolVersion;
  /** The envelope text (v2 JSON without newline, or the v1 base64 payload). */
  readonly text: string;
  /** `performance.now()` value after which no new attempt starts. */
  readonly deadline: number;
  /** Aborts the delivery (e.g. the kernel died: a failure response goes instead). */
  readonly signal?: AbortSignal;
  readonly logger: LauncherLogger;
}

class AcceptedEarlier extends Error {}

class FinalRefusal extends Error {
  constructor(readonly error: GatewayError) {
    super(error.message);
  }
}

function abandoned(): GatewayError {
  return new GatewayError('GL_ERR_RESPONSE_UNDELIVERED', 'response delivery was abandoned');
}

/** Destroys `socket` when `signal` aborts, so that an attempt in flight ends too; returns the unhook. */
function destroyOnAbort(socket: Socket, signal: AbortSignal | undefined): () => void {
  if (signal === undefined) return () => {};
  const onAbort = (): void => {
    socket.destroy(abandoned());
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

function openTcp(address: ResponseAddress, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address.host, port: address.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new GatewayError('GL_ERR_READ_TIMEOUT', `connect to ${address.href} timed out`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
    const onError = (err: Error): void => {
      clearTimeout(timer);
      reject(err);
    };
    socket.once('error', onError);
  });
}

function checkAck(text: string): void {
  const parsed = parseJsonObject(text, MAX_CONTROL_REPLY_BYTES);
  if (!parsed.ok) {
    if (parsed.reason === 'too-large')
      throw new GatewayError('GL_ERR_ENVELOPE_TOO_LARGE', `listener answer exceeds ${MAX_CONTROL_REPLY_BYTES} bytes`);
    throw new GatewayError(
      'GL_ERR_ENVELOPE_MALFORMED',
      parsed.reason === 'not-json' ? 'listener answer is not JSON' : 'listener answer is not a JSON object',
    );
  }
  const a = parsed.value;
  if (a.ok === true) return;
  const code = typeof a.error === 'string' ? a.error.slice(0, 64) : 'unknown';
  if (code === ALREADY_ACCEPTED) throw new AcceptedEarlier(code);
  const error = new GatewayError('GL_ERR_RESPONSE_REFUSED', `listener refused the response: ${code}`, { details: { listener_code: code } });
  if (RETRYABLE_REFUSALS.has(code)) throw error;
  throw new FinalRefusal(error);
}

async function attemptTcp(o: DeliverOptions, timeoutMs: number): Promise<void> {
  const pending = openTcp(o.address, timeoutMs);
  const socket = await (o.signal === undefined ? pending : Promise.race([pending, aborted(o.signal)]));
  const unhook = destroyOnAbort(socket, o.signal);
  try {
    if (o.protocol === 1) {
      // GP's launcher: send, close, expect no reply.
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.end(o.text, () => resolve());
      });
      return;
    }
    const reply = readLine(socket, MAX_CONTROL_REPLY_BYTES, timeoutMs, { acceptEof: true });
    socket.write(`${o.text}\n`);
    checkAck(await reply);
  } finally {
    unhook();
    socket.destroy();
  }
}

/** Rejects when `signal` aborts (never resolves). */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (signal.aborted) reject(abandoned());
    else signal.addEventListener('abort', () => reject(abandoned()), { once: true });
  });
}

async function attemptWs(o: DeliverOptions, timeoutMs: number): Promise<{ ws: WebSocket; early: string[] }> {
  const { WebSocket } = await import('ws');
  const early: string[] = [];
  const ws = new WebSocket(o.address.href, { handshakeTimeout: timeoutMs, maxPayload: MAX_CONTROL_REPLY_BYTES, perMessageDeflate: false });
  const onAbort = (): void => ws.terminate();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const ack = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new GatewayError('GL_ERR_READ_TIMEOUT', 'no acknowledgement from the listener in time')),
        timeoutMs,
      );
      ws.once('open', () => ws.send(o.text));
      ws.once('message', (data, isBinary) => {
        clearTimeout(timer);
        // A control request may follow the ack in the same read: keep it for the control channel.
        ws.on('message', (frame, binary) => {
          if (!binary) early.push(String(frame));
        });
        if (isBinary) reject(new GatewayError('GL_ERR_ENVELOPE_MALFORMED', 'binary acknowledgement'));
        else resolve(String(data));
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      ws.once('close', () => {
        clearTimeout(timer);
        reject(new GatewayError('GL_ERR_READ_TIMEOUT', 'listener closed the WebSocket before acknowledging'));
      });
    });
    checkAck(ack);
    ws.removeAllListeners('open');
    ws.removeAllListeners('error');
    ws.removeAllListeners('close');
    ws.on('error', () => {});
    return { ws, early };
  } catch (e) {
    ws.removeAllListeners();
    ws.on('error', () => {});
    ws.terminate();
    throw e;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Delivers `text` until acknowledged (v2) or sent (v1). Throws
 * `GL_ERR_RESPONSE_UNDELIVERED` when the deadline passes or the signal aborts,
 * `GL_ERR_RESPONSE_REFUSED` when the listener refuses for good.
 */
export async function deliverResponse(o: DeliverOptions): Promise<Delivery> {
  const delays = backoffDelays();
  let attempts = 0;
  let lastError: unknown;
  let lastInfoAt = -Infinity;
  while (o.signal?.aborted !== true) {
    const remaining = o.deadline - performance.now();
    if (remaining <= 0) break;
    attempts++;
    try {
      const timeoutMs = Math.max(50, Math.min(IDLE_TIMEOUT_MS, remaining));
      if (o.address.scheme === 'tcp') {
        await attemptTcp(o, timeoutMs);
        return { attempts };
      }
      const { ws, early } = await attemptWs(o, timeoutMs);
      return { ws, early, attempts };
    } catch (e) {
      if (e instanceof FinalRefusal) throw e.error;
      if (e instanceof AcceptedEarlier && attempts > 1) return { attempts, acceptedEarlier: true };
      if (e instanceof AcceptedEarlier)
        throw new GatewayError('GL_ERR_RESPONSE_REFUSED', 'listener refused the response: GL_ERR_RESPONSE_REPLAYED', {
          details: { listener_code: ALREADY_ACCEPTED },
        });
      lastError = e;
      const delay = delays.next().value;
      const fields = { event: 'response_retry', address: o.address.href, attempt: attempts, delay_ms: delay, reason: (e as Error).message };
      const now = performance.now();
      if (now - lastInfoAt >= RETRY_INFO_INTERVAL_MS) {
        lastInfoAt = now;
        o.logger.info(fields, `response not delivered to ${o.address.href} (${fields.reason}); retrying until the launch timeout`);
      } else {
        o.logger.debug(fields, 'response not delivered, retrying');
      }
      await sleep(Math.min(delay, Math.max(0, o.deadline - performance.now())), o.signal);
    }
  }
  const reason = lastError instanceof Error ? lastError.message : 'no attempt was possible';
  throw new GatewayError(
    'GL_ERR_RESPONSE_UNDELIVERED',
    o.signal?.aborted === true
      ? 'response delivery was abandoned'
      : `response not acknowledged by ${o.address.href} before the launch timeout (${attempts} attempts; last: ${reason})`,
    { details: { attempts }, cause: lastError },
  );
}
