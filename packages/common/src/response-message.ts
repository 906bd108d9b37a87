/**
 * The plaintext of a launcher's response (design §4): either connection info or
 * a failure report, plus the launcher's comm port, pids and mode.
 *
 * @module
 */
import { type ConnectionInfo, validateConnectionInfo } from './connection-info.js';
import { type Result, fail, ok } from './errors.js';
import { isValidKernelId } from './kernel-id.js';
import { type PortRange } from './port-range.js';
import { STDERR_TAIL_BYTES } from './limits.js';
import { isRecord } from './json-object.js';

/**
 * Protocol generation of a launch: 2 (tweetnacl envelopes, launch token,
 * sealed control) or 1 (Gateway Provisioners' RSA/AES payload, plain control).
 */
export type ProtocolVersion = 1 | 2;

/** How the launcher exposes the kernel's ports. */
export type PortMode = 'direct' | 'proxy' | 'handoff';

/** Why a kernel did not become ready. */
export interface KernelFailure {
  /** Exit code, or null when killed by a signal or never started. */
  exit_code: number | null;
  /** Signal name (`SIGKILL`) or null. */
  signal: string | null;
  /** Last bytes of the kernel's stderr (UTF-8, at most 8 KiB), or the launcher's reason. */
  stderr_tail: string;
}

interface ResponseCommon {
  kernel_id: string;
  /** The one-time launch token. Secret. */
  token: string;
  /** The kernel's process id (not the launcher's); 0 when no kernel runs yet. */
  pid: number;
  /** The kernel's process group (the kernel leads its own group, so it equals `pid`). */
  pgid: number;
  mode: PortMode;
  launcher_version: string;
}

/** A successful response: the kernel is ready at `conn_info`. */
export interface ResponseSuccess extends ResponseCommon {
  conn_info: ConnectionInfo;
  /** Launcher's control port (inside the port range). */
  comm_port: number;
}

/** A failure response: the kernel died before it was ready. */
export interface ResponseFailure extends ResponseCommon {
  failure: KernelFailure;
}

/** Either form of response plaintext. */
export type ResponsePlaintext = ResponseSuccess | ResponseFailure;

/** True when the response reports a failure. */
export function isFailureResponse(r: ResponsePlaintext): r is ResponseFailure {
  return 'failure' in r;
}

function isPid(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0x7fffffff;
}

/**
 * Validates an opened response plaintext. `portRange` is the range the kernel
 * was registered with; the five ports and the comm port must lie in it.
 */
export function validateResponsePlaintext(value: unknown, options: { portRange?: PortRange } = {}): Result<ResponsePlaintext> {
  if (!isRecord(value)) return fail('GL_ERR_ENVELOPE_MALFORMED', 'response plaintext is not a JSON object');
  if (!isValidKernelId(value.kernel_id)) return fail('GL_ERR_KERNEL_ID_INVALID', 'response kernel_id is invalid');
  if (typeof value.token !== 'string' || value.token.length > 256)
    return fail('GL_ERR_ENVELOPE_MALFORMED', 'response token is not a string', { field: 'token' });
  if (!isPid(value.pid) || !isPid(value.pgid))
    return fail('GL_ERR_ENVELOPE_MALFORMED', 'response pid/pgid are not integers', { field: 'pid' });
  if (value.mode !== 'direct' && value.mode !== 'proxy' && value.mode !== 'handoff')
    return fail('GL_ERR_ENVELOPE_MALFORMED', "response mode is not 'direct', 'proxy' or 'handoff'", { field: 'mode' });
  const version = typeof value.launcher_version === 'string' && value.launcher_version.length <= 64 ? value.launcher_version : undefined;
  if (version === undefined)
    return fail('GL_ERR_ENVELOPE_MALFORMED', 'response launcher_version is not a short string', { field: 'launcher_version' });
  const common: ResponseCommon = {
    kernel_id: value.kernel_id,
    token: value.token,
    pid: value.pid,
    pgid: value.pgid,
    mode: value.mode,
    launcher_version: version,
  };
  if ('failure' in value) {
    if ('conn_info' in value) return fail('GL_ERR_ENVELOPE_MALFORMED', 'response has both failure and conn_info');
    const f = value.failure;
    if (!isRecord(f)) return fail('GL_ERR_ENVELOPE_MALFORMED', 'response failure is not an object', { field: 'failure' });
    const exitCode = f.exit_code ?? null;
    const signal = f.signal ?? null;
    if (exitCode !== null && !(typeof exitCode === 'number' && Number.isInteger(exitCode)))
      return fail('GL_ERR_ENVELOPE_MALFORMED', 'failure exit_code is not an integer', { field: 'failure.exit_code' });
    if (signal !== null && !(typeof signal === 'string' && /^SIG[A-Z0-9]{1,12}$/.test(signal)))
      return fail('GL_ERR_ENVELOPE_MALFORMED', 'failure signal is not a signal name', { field: 'failure.signal' });
    if (typeof f.stderr_tail !== 'string')
      return fail('GL_ERR_ENVELOPE_MALFORMED', 'failure stderr_tail is not a string', { field: 'failure.stderr_tail' });
    // Bound what a hostile launcher can make the host keep or print.
    const tail = f.stderr_tail.length > 2 * STDERR_TAIL_BYTES ? f.stderr_tail.slice(-2 * STDERR_TAIL_BYTES) : f.stderr_tail;
    return ok({ ...common, failure: { exit_code: exitCode, signal, stderr_tail: tail } });
  }
  const info = validateConnectionInfo(value.conn_info, {
    ...(options.portRange === undefined ? {} : { portRange: options.portRange }),
    extraPorts: { comm_port: value.comm_port },
  });
  if (!info.ok) return info;
  return ok({ ...common, conn_info: info.value, comm_port: value.comm_port as number });
}
