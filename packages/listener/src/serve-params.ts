/**
 * Validation of the `params` of each `gateway-listener serve` method, from
 * untrusted JSON to typed input. Shapes only: what the library checks itself
 * (port range syntax and bounds, whether a host is an address, key encoding)
 * is left to it, so the rules live in one place. Every refusal is a
 * {@link ParamsError} naming the field and a `GL_ERR_…` code.
 *
 * @module
 */
import {
  CONTROL_SIGNALS,
  type ControlAction,
  type ErrorCode,
  isRecord,
  isValidKernelId,
  MAX_KERNEL_ID_LENGTH,
} from '@gateway-launchers/common';
import type { ControlTarget, ProtocolVersion, ResponseTransport } from './registration.js';

/** Largest timer delay Node honours, in ms. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
/** Longest string accepted where a short one is expected (port range, host, key). */
const MAX_SHORT_STRING = 256;

/** Params that do not fit a method. */
export class ParamsError extends Error {
  /** The `GL_ERR_…` code sent as `error.data.code`. */
  readonly glCode: ErrorCode;
  constructor(message: string, glCode: ErrorCode = 'GL_ERR_USAGE') {
    super(message);
    this.name = 'ParamsError';
    this.glCode = glCode;
  }
}

/** Input of `register`. */
export interface RegisterParams {
  readonly kernelId: string;
  readonly portRange: string | undefined;
  readonly timeoutMs: number | undefined;
  readonly protocol: ProtocolVersion | undefined;
  readonly transport: ResponseTransport | undefined;
}

/** Input of `control`. */
export interface ControlParams {
  readonly kernelId: string;
  readonly action: ControlAction;
}

/** The params object with only `allowed` members, or a refusal. */
function members(params: unknown, allowed: readonly string[], where = 'params'): Record<string, unknown> {
  if (!isRecord(params)) throw new ParamsError(`${where} must be an object (params by name)`);
  for (const key of Object.keys(params)) {
    if (!allowed.includes(key)) {
      const shown = key.length > 40 ? `${key.slice(0, 40)}…` : key;
      throw new ParamsError(
        allowed.length === 0
          ? `${where} must be empty; got '${shown}'`
          : `${where}: unknown member '${shown}' (allowed: ${allowed.join(', ')})`,
      );
    }
  }
  return params;
}

function kernelId(p: Record<string, unknown>, where = 'params'): string {
  const id = p.kernel_id;
  if (id === undefined) throw new ParamsError(`${where}.kernel_id is required`, 'GL_ERR_KERNEL_ID_INVALID');
  if (!isValidKernelId(id))
    throw new ParamsError(
      `${where}.kernel_id must be 1-${MAX_KERNEL_ID_LENGTH} characters of A-Z a-z 0-9 . _ -`,
      'GL_ERR_KERNEL_ID_INVALID',
    );
  return id;
}

function optionalString(p: Record<string, unknown>, name: string, where = 'params'): string | undefined {
  const v = p[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_SHORT_STRING)
    throw new ParamsError(`${where}.${name} must be a non-empty string of at most ${MAX_SHORT_STRING} characters`);
  return v;
}

function protocolOf(v: unknown, where: string): ProtocolVersion {
  if (v !== 1 && v !== 2) throw new ParamsError(`${where} must be 1 or 2`);
  return v;
}

/** `register` `{kernel_id, port_range?, timeout_ms?, protocol?, transport?}`. */
export function registerParams(params: unknown): RegisterParams {
  const p = members(params, ['kernel_id', 'port_range', 'timeout_ms', 'protocol', 'transport']);
  const timeout = p.timeout_ms;
  if (timeout !== undefined && !(typeof timeout === 'number' && Number.isInteger(timeout) && timeout >= 1 && timeout <= MAX_TIMEOUT_MS)) {
    throw new ParamsError(`params.timeout_ms must be an integer from 1 to ${MAX_TIMEOUT_MS}`);
  }
  const transport = p.transport;
  if (transport !== undefined && transport !== 'tcp' && transport !== 'ws') throw new ParamsError(`params.transport must be "tcp" or "ws"`);
  const portRange = optionalString(p, 'port_range');
  return {
    kernelId: kernelId(p),
    portRange,
    timeoutMs: timeout as number | undefined,
    protocol: p.protocol === undefined ? undefined : protocolOf(p.protocol, 'params.protocol'),
    transport: transport as ResponseTransport | undefined,
  };
}

/** `cancel`, `forget`, `controlTarget`: `{kernel_id}`. */
export function kernelIdParams(params: unknown): string {
  return kernelId(members(params, ['kernel_id']));
}

/** `control` `{kernel_id, action, signal?}`; `signal` is required with, and only allowed with, `action: "signal"`. */
export function controlParams(params: unknown): ControlParams {
  const p = members(params, ['kernel_id', 'action', 'signal']);
  const id = kernelId(p);
  const action = p.action;
  if (action === 'signal') {
    const name = p.signal;
    if (typeof name !== 'string' || !(CONTROL_SIGNALS as readonly string[]).includes(name)) {
      throw new ParamsError(
        `params.signal must be one of ${CONTROL_SIGNALS.join(', ')} with action "signal"`,
        'GL_ERR_CONTROL_REQUEST_INVALID',
      );
    }
    return { kernelId: id, action: { signal: name as (typeof CONTROL_SIGNALS)[number] } };
  }
  if (p.signal !== undefined) throw new ParamsError('params.signal is only allowed with action "signal"', 'GL_ERR_CONTROL_REQUEST_INVALID');
  switch (action) {
    case 'interrupt':
      return { kernelId: id, action: { interrupt: true } };
    case 'shutdown':
      return { kernelId: id, action: { shutdown: true } };
    case 'restart':
      return { kernelId: id, action: { restart: true } };
    default:
      throw new ParamsError('params.action must be one of interrupt, signal, shutdown, restart', 'GL_ERR_CONTROL_REQUEST_INVALID');
  }
}

/** `adopt` `{control_target: {kernel_id, protocol, host, comm_port, launcher_public_key?}}`. */
export function adoptParams(params: unknown): ControlTarget {
  const p = members(params, ['control_target']);
  if (p.control_target === undefined) throw new ParamsError('params.control_target is required');
  const where = 'params.control_target';
  const t = members(p.control_target, ['kernel_id', 'protocol', 'host', 'comm_port', 'launcher_public_key'], where);
  const id = kernelId(t, where);
  const protocol = protocolOf(t.protocol, `${where}.protocol`);
  const host = optionalString(t, 'host', where);
  if (host === undefined) throw new ParamsError(`${where}.host is required`);
  const port = t.comm_port;
  if (!(typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535))
    throw new ParamsError(`${where}.comm_port must be an integer from 1 to 65535`);
  const key = optionalString(t, 'launcher_public_key', where);
  if (protocol === 2 && key === undefined) throw new ParamsError(`${where}.launcher_public_key is required for protocol 2`);
  if (protocol === 1 && key !== undefined) throw new ParamsError(`${where}.launcher_public_key is only for protocol 2`);
  return { kernelId: id, protocol, host, commPort: port, ...(key === undefined ? {} : { launcherPublicKey: key }) };
}

/** `stats`, `close`: no params, or `{}`. */
export function emptyParams(params: unknown): void {
  members(params, []);
}
