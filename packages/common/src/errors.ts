/**
 * Every failure the project reports carries a stable `code` string (`GL_ERR_…`).
 * Callers branch on `code`, never on message text. `docs/errors.md` is generated
 * from {@link ERROR_CODES}; a test fails when it is stale.
 *
 * @module
 */

/** Description of one error code: what went wrong and what to do about it. */
export interface ErrorCodeInfo {
  /** Which component raises it. */
  readonly area: 'common' | 'launcher' | 'listener' | 'protocol';
  /** One sentence: what it means and, where useful, what to do. */
  readonly meaning: string;
}

/** The table of every error code. Add new codes here; never rename or reuse one. */
export const ERROR_CODES = {
  GL_ERR_USAGE: {
    area: 'launcher',
    meaning: 'A command-line flag or environment variable is missing or malformed; the message names it. Exit status 2.',
  },
  GL_ERR_KERNEL_ID_INVALID: { area: 'common', meaning: 'A kernel id is not 1–128 characters of `[A-Za-z0-9._-]`.' },
  GL_ERR_PORT_RANGE_SYNTAX: { area: 'common', meaning: 'A port range is not of the form `lo..hi` with decimal integers.' },
  GL_ERR_PORT_RANGE_BOUNDS: {
    area: 'common',
    meaning: 'A port range end lies outside 1024..65535 (only `0..0`, meaning any port, may use 0).',
  },
  GL_ERR_PORT_RANGE_ORDER: { area: 'common', meaning: 'A port range has its lower end above its upper end.' },
  GL_ERR_PORT_RANGE_TOO_SMALL: {
    area: 'common',
    meaning: 'A port range spans fewer ports than `MIN_PORT_RANGE_SIZE` (default 1000); widen it or lower the minimum.',
  },
  GL_ERR_PORT_RANGE_EXHAUSTED: {
    area: 'launcher',
    meaning: 'Not enough free ports inside the port range on the address to bind; free ports or widen the range.',
  },
  GL_ERR_ADDRESS_INVALID: {
    area: 'common',
    meaning: 'A response address is not `host:port`, `tcp://host:port`, `ws://host:port/path` or `wss://…`, or its port is not 1..65535.',
  },
  GL_ERR_PUBLIC_KEY_INVALID: {
    area: 'common',
    meaning: 'A public key is neither a base64 32-byte X25519 key (protocol v2) nor a base64 DER RSA SubjectPublicKeyInfo (protocol v1).',
  },
  GL_ERR_PLACEHOLDER_UNSUBSTITUTED: {
    area: 'launcher',
    meaning: 'A value still contains a `{placeholder}` that the host or kernelspec should have replaced.',
  },
  GL_ERR_LAUNCH_TOKEN_MISSING: {
    area: 'launcher',
    meaning: 'Protocol v2 needs the one-time launch token in `KERNEL_LAUNCH_TOKEN` or `--launch-token-file`.',
  },
  GL_ERR_CONN_INFO_SHAPE: {
    area: 'protocol',
    meaning: 'Connection info is not an object with every required field of the right JSON type.',
  },
  GL_ERR_PORT_INVALID: { area: 'protocol', meaning: 'A port is not an integer in 1..65535.' },
  GL_ERR_PORT_DUPLICATE: { area: 'protocol', meaning: 'Two of the kernel ports (or the comm port) are equal.' },
  GL_ERR_PORT_OUT_OF_RANGE: { area: 'protocol', meaning: 'A port lies outside the port range the kernel was registered with.' },
  GL_ERR_IP_INVALID: { area: 'protocol', meaning: 'The `ip` is neither an IPv4/IPv6 literal nor a valid host name.' },
  GL_ERR_TRANSPORT_INVALID: { area: 'protocol', meaning: 'The `transport` is neither `tcp` nor `ipc`.' },
  GL_ERR_SIGNATURE_SCHEME_INVALID: { area: 'protocol', meaning: 'The `signature_scheme` is not `hmac-<hash>` with a hash Node supports.' },
  GL_ERR_KERNEL_IP_NOT_ALLOWED: {
    area: 'listener',
    meaning:
      'The kernel `ip` a launcher reported is neither the address its response came from (or, from loopback, an address of this host) nor inside `allowedKernelNetworks`.',
  },
  GL_ERR_TRANSPORT_NOT_ALLOWED: {
    area: 'listener',
    meaning: 'The reported `transport` is valid but not accepted by this listener (`ipc` needs `allowedTransports`).',
  },
  GL_ERR_SIGNATURE_SCHEME_NOT_ALLOWED: {
    area: 'listener',
    meaning:
      'The reported `signature_scheme` is valid but not accepted by this listener (only HMAC with SHA-2 unless `allowedSignatureSchemes` says otherwise).',
  },
  GL_ERR_KEY_INVALID: { area: 'protocol', meaning: 'The connection `key` is not a non-empty string of at most 256 characters.' },
  GL_ERR_ENVELOPE_TOO_LARGE: { area: 'protocol', meaning: 'A message exceeds its size limit (64 KiB response, 4 KiB control request).' },
  GL_ERR_ENVELOPE_MALFORMED: {
    area: 'protocol',
    meaning: 'A message is not the JSON object the protocol defines (fields, types, canonical base64, lengths).',
  },
  GL_ERR_ENVELOPE_VERSION: { area: 'protocol', meaning: 'A message names a protocol version this side does not speak.' },
  GL_ERR_ENVELOPE_OPEN_FAILED: { area: 'protocol', meaning: 'A sealed box did not open: wrong key, or a byte was changed in transit.' },
  GL_ERR_KERNEL_ID_MISMATCH: {
    area: 'protocol',
    meaning: 'The kernel id inside a sealed message differs from the one outside or the one expected.',
  },
  GL_ERR_TOKEN_MISMATCH: { area: 'protocol', meaning: 'The launch token in a response is not the one issued at registration.' },
  GL_ERR_UNKNOWN_KERNEL: {
    area: 'listener',
    meaning: 'No pending registration exists for the kernel id (never registered, already answered, timed out or aborted).',
  },
  GL_ERR_REPLAY: { area: 'protocol', meaning: 'A control request repeats or lowers the sequence number; it is refused.' },
  GL_ERR_V1_DECRYPT_FAILED: { area: 'protocol', meaning: 'A Gateway Provisioners v1 payload could not be decrypted or decoded.' },
  GL_ERR_V1_NOT_ENABLED: {
    area: 'listener',
    meaning: 'A v1 (Gateway Provisioners) payload arrived but the listener was not started with `legacy: true`.',
  },
  GL_ERR_PROTOCOL_UNKNOWN: { area: 'listener', meaning: 'The first bytes of a connection match no protocol the listener speaks.' },
  GL_ERR_READ_TIMEOUT: { area: 'protocol', meaning: 'A peer sent nothing complete within the idle timeout; the connection was closed.' },
  GL_ERR_TOO_MANY_CONNECTIONS: {
    area: 'listener',
    meaning:
      'A cap on concurrent unauthenticated connections (global or per address) was reached and no connection could make room; the connection was closed at once.',
  },
  GL_ERR_WIRE_SIGNATURE_INVALID: { area: 'protocol', meaning: 'A Jupyter message HMAC signature does not match.' },
  GL_ERR_WIRE_MALFORMED: { area: 'protocol', meaning: 'A Jupyter multipart message lacks the delimiter or one of its four JSON frames.' },
  GL_ERR_CONTROL_REQUEST_INVALID: {
    area: 'protocol',
    meaning: 'A control request names no known action, or an action this launcher mode does not serve.',
  },
  GL_ERR_CONTROL_UNAVAILABLE: {
    area: 'listener',
    meaning: 'No route to the launcher for control: no open WebSocket and no comm port known.',
  },
  GL_ERR_CONTROL_FAILED: {
    area: 'listener',
    meaning: "A control request could not be delivered or the launcher refused it; `cause` or the launcher's code says why.",
  },
  GL_ERR_CONTROL_TIMEOUT: { area: 'listener', meaning: 'The launcher did not answer a control request in time.' },
  GL_ERR_RESPONSE_UNDELIVERED: {
    area: 'launcher',
    meaning: 'The launcher could not get its response acknowledged before `--launch-timeout`; the kernel is stopped.',
  },
  GL_ERR_RESPONSE_REFUSED: {
    area: 'launcher',
    meaning: 'The listener answered the response with an error code; the launcher gives up and stops the kernel.',
  },
  GL_ERR_KERNEL_START_FAILED: { area: 'launcher', meaning: 'The kernel process could not be started (missing executable, permission).' },
  GL_ERR_KERNEL_EXITED: {
    area: 'launcher',
    meaning: 'The kernel exited before it became ready; the failure response carries exit code, signal and stderr tail.',
  },
  GL_ERR_KERNEL_NOT_READY: { area: 'launcher', meaning: 'The kernel did not listen on its ports within the readiness timeout.' },
  GL_ERR_REGISTRATION_TIMEOUT: {
    area: 'listener',
    meaning: 'No valid response arrived for a registered kernel within its timeout; the registration was removed.',
  },
  GL_ERR_REGISTRATION_ABORTED: {
    area: 'listener',
    meaning: 'The host aborted a registration through its AbortSignal; the registration was removed.',
  },
  GL_ERR_ALREADY_REGISTERED: { area: 'listener', meaning: 'A registration for this kernel id is already pending.' },
  GL_ERR_LISTENER_CLOSED: { area: 'listener', meaning: 'The listener was closed while the operation was pending.' },
  GL_ERR_KERNEL_FAILED: {
    area: 'listener',
    meaning: 'The launcher reported that the kernel failed to start; the error carries exit code, signal and stderr tail.',
  },
  GL_ERR_BIND_FAILED: { area: 'listener', meaning: 'The listener could not bind any port it was allowed to try.' },
  GL_ERR_RESPONSE_REPLAYED: {
    area: 'listener',
    meaning:
      'A response that the listener already accepted arrived again (same ephemeral key, or same v1 payload); it is refused and changes nothing.',
  },
  GL_ERR_PROTOCOL_MISMATCH: {
    area: 'listener',
    meaning:
      'A response used another protocol version than its kernel was registered with (a v1 payload for a v2 registration, or the reverse); it is refused.',
  },
  GL_ERR_UPGRADE_INVALID: {
    area: 'listener',
    meaning:
      'A connection began an HTTP request that is not an acceptable WebSocket upgrade (method, headers or size); it was answered with HTTP 400 and closed.',
  },
} as const satisfies Record<string, ErrorCodeInfo>;

/** A stable error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * Brand of every {@link GatewayError}, registered globally so that errors made
 * by another copy of this package (a host that ends up with two) are recognised too.
 */
const GATEWAY_ERROR_BRAND = Symbol.for('gateway-launchers.error');

/**
 * The one error class of gateway-launchers. `code` is stable; `details` holds
 * non-secret context (field names, limits, peers) safe to log.
 */
export class GatewayError extends Error {
  /** Stable code; see `docs/errors.md`. */
  readonly code: ErrorCode;
  /** Non-secret context for logs and callers. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.details = options.details ?? {};
    Object.defineProperty(this, GATEWAY_ERROR_BRAND, { value: true });
  }

  /** JSON form for logs and wire answers: code, message, details, never a stack. */
  toJSON(): { code: ErrorCode; message: string; details: Readonly<Record<string, unknown>> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/**
 * True when `value` is a {@link GatewayError}, optionally with the given code.
 * Checks the brand, not `instanceof`, so it holds across copies of this package.
 */
export function isGatewayError(value: unknown, code?: ErrorCode): value is GatewayError {
  if (typeof value !== 'object' || value === null || (value as Record<symbol, unknown>)[GATEWAY_ERROR_BRAND] !== true) return false;
  return code === undefined || (value as GatewayError).code === code;
}

/** A result that is either a value or a {@link GatewayError}: for paths that must not throw. */
export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: GatewayError };

/** Wraps a value as a successful {@link Result}. */
export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

/** Builds a failed {@link Result}. */
export function fail<T = never>(code: ErrorCode, message: string, details?: Record<string, unknown>): Result<T> {
  return { ok: false, error: new GatewayError(code, message, details === undefined ? {} : { details }) };
}
