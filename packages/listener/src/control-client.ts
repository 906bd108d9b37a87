/**
 * Control requests to a launcher (design §4, §5): the host-facing
 * {@link KernelControl}, the reply parser, and the comm-port client (TCP, one
 * request per connection). Nothing here throws or rejects: every failure is a
 * typed {@link Result}.
 *
 * @module
 */
import { connect } from 'node:net';
import { constants as osConstants } from 'node:os';
import {
  type ControlAction,
  type ControlReply,
  type ControlRoute,
  type ControlSignal,
  type Result,
  GatewayError,
  LineReader,
  MAX_CONTROL_REPLY_BYTES,
  fail,
  ok,
  openControlReply,
  isRecord,
  parseJsonObject,
  validateControlAction,
} from '@gateway-launchers/common';

/** How a control request travelled (defined once, in common, with the launcher's log values). */
export type { ControlRoute };

/** A successful control answer and the route it took. */
export interface ControlOutcome extends ControlReply {
  readonly route: ControlRoute;
}

/**
 * Result of a control request. Failure codes: `GL_ERR_CONTROL_UNAVAILABLE`
 * (no route), `GL_ERR_CONTROL_FAILED` (not delivered, or refused: `details.launcher_error`),
 * `GL_ERR_CONTROL_TIMEOUT`, `GL_ERR_CONTROL_REQUEST_INVALID`, `GL_ERR_LISTENER_CLOSED`.
 */
export type ControlResult = Result<ControlOutcome>;

/** Control of one launched kernel. Every method resolves (never rejects) with a {@link ControlResult}. */
export interface KernelControl {
  /** Kernel this object controls. */
  readonly kernelId: string;
  /** Interrupts the kernel (v2: the launcher applies the kernel's interrupt mode; v1: SIGINT). */
  interrupt(): Promise<ControlResult>;
  /**
   * Sends a signal by name, one of `CONTROL_SIGNALS` (`SIGTERM`, `SIGUSR2`, …).
   * The name is also checked at run time (a JavaScript caller, or a name from
   * configuration): any other value resolves with `GL_ERR_CONTROL_REQUEST_INVALID`.
   */
  signal(name: ControlSignal): Promise<ControlResult>;
  /** Shuts the kernel down; the launcher exits afterwards. */
  shutdown(): Promise<ControlResult>;
  /** Restarts the kernel behind the same launcher (v2 only). */
  restart(): Promise<ControlResult>;
}

/** Builds a {@link KernelControl} that hands each validated action to `send`. */
export function createKernelControl(kernelId: string, send: (action: ControlAction) => Promise<ControlResult>): KernelControl {
  const run = async (action: unknown): Promise<ControlResult> => {
    const valid = validateControlAction(action);
    if (!valid.ok) return valid;
    try {
      return await send(valid.value);
    } catch (cause) {
      return {
        ok: false,
        error: new GatewayError('GL_ERR_CONTROL_FAILED', 'control request failed unexpectedly', {
          cause,
          details: { kernel_id: kernelId },
        }),
      };
    }
  };
  return Object.freeze({
    kernelId,
    interrupt: () => run({ interrupt: true }),
    signal: (name: ControlSignal) => run({ signal: name }),
    shutdown: () => run({ shutdown: true }),
    restart: () => run({ restart: true }),
  });
}

/**
 * The v1 (Gateway Provisioners) comm-port message for an action, or a failure
 * for actions v1 launchers do not serve (restart).
 */
export function v1Message(action: ControlAction): Result<string> {
  if ('interrupt' in action) return ok(JSON.stringify({ signum: osConstants.signals.SIGINT }));
  if ('signal' in action) {
    const n = (osConstants.signals as Record<string, number | undefined>)[action.signal];
    if (n === undefined) return fail('GL_ERR_CONTROL_REQUEST_INVALID', `signal ${action.signal} has no number here`);
    return ok(JSON.stringify({ signum: n }));
  }
  if ('shutdown' in action) return ok(JSON.stringify({ shutdown: 1 }));
  return fail('GL_ERR_CONTROL_REQUEST_INVALID', 'v1 launchers cannot restart a kernel; shut it down and launch again');
}

const LAUNCHER_CODE_RE = /^[A-Z][A-Z0-9_]{0,63}$/;

/** What a v2 reply must prove: sealed by the launcher's ephemeral key to ours, for this kernel and this request. */
export interface ReplyBinding {
  readonly kernelId: string;
  readonly seq: number;
  readonly launcherPublicKey: Uint8Array;
  readonly listenerSecretKey: Uint8Array;
}

/** Interprets a reply object that has been authenticated (or is a v1-era plain object in unit tests). */
export function interpretReply(value: unknown, route: ControlRoute): ControlResult {
  if (!isRecord(value) || typeof value.ok !== 'boolean') {
    return fail('GL_ERR_CONTROL_FAILED', 'launcher answered with something that is not a control reply', { route });
  }
  const v = value as Record<string, unknown>;
  if (v.ok !== true) {
    const code = typeof v.error === 'string' && LAUNCHER_CODE_RE.test(v.error) ? v.error : 'unknown';
    return fail('GL_ERR_CONTROL_FAILED', `launcher refused the control request (${code})`, { route, launcher_error: code });
  }
  const reply: { ok: true; route: ControlRoute; last_activity?: number; execution_state?: string } = { ok: true, route };
  if (typeof v.last_activity === 'number' && Number.isFinite(v.last_activity)) reply.last_activity = v.last_activity;
  if (typeof v.execution_state === 'string' && v.execution_state.length <= 32) reply.execution_state = v.execution_state;
  return ok(reply);
}

/**
 * Interprets a v2 reply as it came off the wire. Only a box that opens with
 * the launcher's ephemeral key and names this kernel and this request's `seq`
 * is believed. A plain `{"ok":false,"error":…}` (the launcher's answer to a
 * request it could not open, which it cannot bind to a seq) still fails the
 * request with its code; anything else, a plain `{"ok":true}` included, is
 * `GL_ERR_CONTROL_FAILED`: whoever answers on a freed comm port cannot make a
 * request "succeed" or report a made-up activity.
 */
export function interpretSealedReply(
  value: Record<string, unknown>,
  text: Buffer | string,
  route: ControlRoute,
  binding: ReplyBinding,
): ControlResult {
  if ('box' in value) {
    const opened = openControlReply(text, binding.launcherPublicKey, binding.listenerSecretKey);
    if (!opened.ok)
      return fail('GL_ERR_CONTROL_FAILED', `launcher reply is not authentic (${opened.error.code})`, {
        route,
        reply_error: opened.error.code,
      });
    if (opened.value.kernel_id !== binding.kernelId || opened.value.seq !== binding.seq) {
      return fail('GL_ERR_CONTROL_FAILED', 'launcher reply answers another request', { route, reply_error: 'GL_ERR_REPLY_MISMATCH' });
    }
    return interpretReply(opened.value.reply, route);
  }
  if (value.ok === false) return interpretReply(value, route);
  return fail('GL_ERR_CONTROL_FAILED', 'launcher reply is not sealed: not believed', { route, reply_error: 'GL_ERR_REPLY_UNSEALED' });
}

/** Parses a reply of at most `maxBytes`; v2 replies are checked against `binding`. */
export function parseReply(bytes: Buffer, route: ControlRoute, binding?: ReplyBinding, maxBytes = MAX_CONTROL_REPLY_BYTES): ControlResult {
  const parsed = parseJsonObject(bytes, maxBytes);
  if (!parsed.ok) {
    if (parsed.reason === 'too-large') return tooLarge(route);
    if (parsed.reason === 'not-json') return fail('GL_ERR_CONTROL_FAILED', 'launcher answered with something that is not JSON', { route });
    return fail('GL_ERR_CONTROL_FAILED', 'launcher answered with something that is not a control reply', { route });
  }
  if (binding === undefined) return interpretReply(parsed.value, route);
  return interpretSealedReply(parsed.value, bytes, route, binding);
}

function tooLarge(route: ControlRoute): ControlResult {
  return fail('GL_ERR_CONTROL_FAILED', 'launcher answer exceeds the control reply limit', { route });
}

/** Options of {@link sendCommPortRequest}. */
export interface CommPortRequestOptions {
  /** 2: JSON line, one JSON line answer. 1: bare JSON then half-close, no answer. */
  readonly protocol: 1 | 2;
  readonly timeoutMs: number;
  readonly maxReplyBytes: number;
  /** v2: what the reply must be sealed with and bound to. */
  readonly binding?: ReplyBinding;
}

/**
 * Sends one request on a fresh connection to a launcher's comm port. v2 waits
 * for the one-line answer; v1 resolves once the request is written and the
 * write side closed (Gateway Provisioners' launchers answer nothing).
 */
export function sendCommPortRequest(host: string, port: number, message: string, options: CommPortRequestOptions): Promise<ControlResult> {
  return new Promise<ControlResult>((resolve) => {
    let settled = false;
    const reader = new LineReader(options.maxReplyBytes);
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      settle(
        fail('GL_ERR_CONTROL_TIMEOUT', `launcher comm port ${host}:${port} did not answer within ${options.timeoutMs} ms`, {
          route: 'comm-port',
        }),
      );
      socket.destroy();
    }, options.timeoutMs);
    function settle(r: ControlResult): void {
      if (settled) return;
      settled = true;
      resolve(r);
    }
    socket.on('error', (cause: NodeJS.ErrnoException) => {
      settle({
        ok: false,
        error: new GatewayError(
          'GL_ERR_CONTROL_FAILED',
          `could not deliver the control request to ${host}:${port} (${cause.code ?? 'error'})`,
          {
            cause,
            details: { route: 'comm-port', errno: cause.code },
          },
        ),
      });
    });
    socket.on('close', () => {
      clearTimeout(timer);
      settle(fail('GL_ERR_CONTROL_FAILED', 'launcher closed the comm connection without an answer', { route: 'comm-port' }));
    });
    if (options.protocol === 1) {
      socket.end(message);
      socket.on('finish', () => settle(ok({ ok: true, route: 'comm-port' })));
      socket.resume();
      return;
    }
    socket.write(`${message}\n`);
    socket.on('data', (chunk: Buffer) => {
      const item = reader.first(chunk);
      if (item?.kind === 'line') {
        settle(parseReply(item.line, 'comm-port', options.binding, options.maxReplyBytes));
        socket.end();
      } else if (item?.kind === 'overlong') {
        settle(tooLarge('comm-port'));
        socket.destroy();
      }
    });
    socket.on('end', () => {
      const [rest] = reader.end();
      if (rest?.kind === 'line') settle(parseReply(rest.line, 'comm-port', options.binding, options.maxReplyBytes));
      socket.end();
    });
  });
}
