/**
 * Control requests (listener → launcher) and events (launcher → listener):
 * their plaintext shapes and validators, for both protocols.
 *
 * @module
 */
import { type Result, fail, ok } from './errors.js';
import { isValidKernelId } from './kernel-id.js';
import { MAX_CONTROL_BYTES } from './limits.js';
import { isRecord, parseJsonObject } from './json-object.js';

/** Signals a control request may name. */
export const CONTROL_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGKILL', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGCONT', 'SIGSTOP'] as const;
/** A signal a control request may name. */
export type ControlSignal = (typeof CONTROL_SIGNALS)[number];

/**
 * How a control request travels from listener to launcher: the launcher's
 * comm port (TCP, one request per connection) or the WebSocket it keeps open
 * after a `ws` response. The launcher logs the same values (`via`).
 */
export type ControlRoute = 'comm-port' | 'websocket';

/** What a control request asks for. */
export type ControlAction =
  { readonly signal: ControlSignal } | { readonly interrupt: true } | { readonly shutdown: true } | { readonly restart: true };

/** Plaintext of a v2 control request. */
export interface ControlRequest {
  readonly kernel_id: string;
  /** Strictly increasing per launcher; the listener draws it from the clock in µs. */
  readonly seq: number;
  readonly request: ControlAction;
}

/** The launcher's answer to a control request. */
export interface ControlReply {
  readonly ok: boolean;
  readonly error?: string;
  /** Proxy mode: ms since epoch of the last kernel message. */
  readonly last_activity?: number;
  /** Proxy mode: last kernel execution state seen on iopub. */
  readonly execution_state?: string;
}

/**
 * Plaintext of a v2 control reply (launcher → listener), sealed to the
 * listener's key with the launcher's ephemeral key and bound to the request
 * it answers by `kernel_id` and `seq`: an answer from anyone else, or to
 * another request, does not open or does not match.
 */
export interface ControlReplyMessage {
  readonly kernel_id: string;
  /** The `seq` of the request answered. */
  readonly seq: number;
  readonly reply: ControlReply;
}

/** Plaintext of a v2 event (launcher → listener over WebSocket). */
export interface KernelExitEvent {
  readonly event: 'kernel_exit';
  readonly kernel_id: string;
  readonly exit_code: number | null;
  readonly signal: string | null;
}

/** Any event a launcher sends. */
export type LauncherEvent = KernelExitEvent;

/** A v1 (Gateway Provisioners) comm-port request. */
export type V1Request = { readonly signum: number } | { readonly shutdown: true };

/** Validates the action part of a control request. */
export function validateControlAction(value: unknown): Result<ControlAction> {
  if (!isRecord(value)) return fail('GL_ERR_CONTROL_REQUEST_INVALID', 'control request has no request object');
  const keys = Object.keys(value);
  if (keys.length !== 1) return fail('GL_ERR_CONTROL_REQUEST_INVALID', 'control request must name exactly one action');
  if ('signal' in value) {
    const s = value.signal;
    if (typeof s !== 'string' || !(CONTROL_SIGNALS as readonly string[]).includes(s)) {
      return fail('GL_ERR_CONTROL_REQUEST_INVALID', `signal must be one of ${CONTROL_SIGNALS.join(', ')}`);
    }
    return ok({ signal: s as ControlSignal });
  }
  for (const action of ['interrupt', 'shutdown', 'restart'] as const) {
    if (action in value) {
      if (value[action] !== true) return fail('GL_ERR_CONTROL_REQUEST_INVALID', `${action} must be true`);
      return ok({ [action]: true } as ControlAction);
    }
  }
  return fail('GL_ERR_CONTROL_REQUEST_INVALID', `unknown control action '${keys[0] ?? ''}'`);
}

/** Validates a v2 control request plaintext (shape only; the receiver checks kernel id and seq). */
export function validateControlRequest(value: unknown): Result<ControlRequest> {
  if (!isRecord(value) || 'event' in value) return fail('GL_ERR_ENVELOPE_MALFORMED', 'control plaintext is not a control request');
  if (!isValidKernelId(value.kernel_id)) return fail('GL_ERR_KERNEL_ID_INVALID', 'control request kernel_id is invalid');
  if (typeof value.seq !== 'number' || !Number.isSafeInteger(value.seq) || value.seq < 0)
    return fail('GL_ERR_ENVELOPE_MALFORMED', 'control request seq is not a non-negative safe integer');
  const action = validateControlAction(value.request);
  if (!action.ok) return action;
  return ok({ kernel_id: value.kernel_id, seq: value.seq, request: action.value });
}

const REPLY_ERROR_RE = /^[A-Z][A-Z0-9_]{0,63}$/;

/** Validates a v2 control reply plaintext (shape only; the receiver checks kernel id and seq). Unknown reply fields are dropped. */
export function validateControlReplyMessage(value: unknown): Result<ControlReplyMessage> {
  if (!isRecord(value) || 'request' in value || 'event' in value)
    return fail('GL_ERR_ENVELOPE_MALFORMED', 'plaintext is not a control reply');
  if (!isValidKernelId(value.kernel_id)) return fail('GL_ERR_KERNEL_ID_INVALID', 'control reply kernel_id is invalid');
  if (typeof value.seq !== 'number' || !Number.isSafeInteger(value.seq) || value.seq < 0)
    return fail('GL_ERR_ENVELOPE_MALFORMED', 'control reply seq is not a non-negative safe integer');
  const r = value.reply;
  if (!isRecord(r) || typeof r.ok !== 'boolean') return fail('GL_ERR_ENVELOPE_MALFORMED', 'control reply has no reply object');
  const reply: { ok: boolean; error?: string; last_activity?: number; execution_state?: string } = { ok: r.ok };
  if (typeof r.error === 'string' && REPLY_ERROR_RE.test(r.error)) reply.error = r.error;
  if (typeof r.last_activity === 'number' && Number.isFinite(r.last_activity)) reply.last_activity = r.last_activity;
  if (typeof r.execution_state === 'string' && r.execution_state.length <= 32) reply.execution_state = r.execution_state;
  return ok({ kernel_id: value.kernel_id, seq: value.seq, reply });
}

/** Validates a v2 event plaintext. */
export function validateLauncherEvent(value: unknown): Result<LauncherEvent> {
  if (!isRecord(value) || 'request' in value || 'reply' in value || value.event !== 'kernel_exit')
    return fail('GL_ERR_ENVELOPE_MALFORMED', 'event plaintext is not a kernel_exit event');
  if (!isValidKernelId(value.kernel_id)) return fail('GL_ERR_KERNEL_ID_INVALID', 'event kernel_id is invalid');
  const exitCode = value.exit_code ?? null;
  const signal = value.signal ?? null;
  if (exitCode !== null && !(typeof exitCode === 'number' && Number.isInteger(exitCode)))
    return fail('GL_ERR_ENVELOPE_MALFORMED', 'event exit_code is not an integer');
  if (signal !== null && !(typeof signal === 'string' && /^SIG[A-Z0-9]{1,12}$/.test(signal)))
    return fail('GL_ERR_ENVELOPE_MALFORMED', 'event signal is not a signal name');
  return ok({ event: 'kernel_exit', kernel_id: value.kernel_id, exit_code: exitCode, signal });
}

/**
 * Parses a v1 comm-port request as Gateway Provisioners' host sends it: bare
 * JSON `{"signum": n}` or `{"shutdown": 1}`, at most {@link MAX_CONTROL_BYTES}.
 */
export function parseV1Request(text: string): Result<V1Request> {
  const parsed = parseJsonObject(text, MAX_CONTROL_BYTES);
  if (!parsed.ok) {
    if (parsed.reason === 'too-large') return fail('GL_ERR_ENVELOPE_TOO_LARGE', 'v1 request is too large');
    return fail('GL_ERR_ENVELOPE_MALFORMED', parsed.reason === 'not-json' ? 'v1 request is not JSON' : 'v1 request is not a JSON object');
  }
  const value = parsed.value;
  if (value.signum !== undefined && value.signum !== null) {
    // GP's host sends a number; a decimal string is read as Python's int() would.
    // Number() alone would also take '' (as 0), '0x2' and '2e0'.
    const raw = value.signum;
    const n = typeof raw === 'string' ? (/^\s*\d{1,2}\s*$/.test(raw) ? Number(raw) : Number.NaN) : raw;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 64)
      return fail('GL_ERR_CONTROL_REQUEST_INVALID', 'v1 signum is not a signal number 0..64');
    return ok({ signum: n });
  }
  if (value.shutdown !== undefined && value.shutdown !== null) {
    return value.shutdown ? ok({ shutdown: true }) : fail('GL_ERR_CONTROL_REQUEST_INVALID', 'v1 shutdown is false');
  }
  return fail('GL_ERR_CONTROL_REQUEST_INVALID', 'v1 request has neither signum nor shutdown');
}

/**
 * Plaintext a launcher seals when it re-opens its control WebSocket after a
 * drop: the listener attaches the new socket to the kernel whose accepted
 * response carried the same ephemeral key, when `seq` is above the last one.
 */
export interface ReattachEvent {
  readonly event: 'reattach';
  readonly kernel_id: string;
  readonly seq: number;
}

/** Validates a reattach plaintext. */
export function validateReattachEvent(value: unknown): Result<ReattachEvent> {
  if (!isRecord(value) || 'request' in value || value.event !== 'reattach')
    return fail('GL_ERR_ENVELOPE_MALFORMED', 'plaintext is not a reattach event');
  if (!isValidKernelId(value.kernel_id)) return fail('GL_ERR_KERNEL_ID_INVALID', 'reattach kernel_id is invalid');
  if (typeof value.seq !== 'number' || !Number.isSafeInteger(value.seq) || value.seq < 0)
    return fail('GL_ERR_ENVELOPE_MALFORMED', 'reattach seq is not a non-negative safe integer');
  return ok({ event: 'reattach', kernel_id: value.kernel_id, seq: value.seq });
}
