/**
 * The Jupyter connection info (what a connection file holds) and its validator.
 * Every field rule of design §4 has its own error code, so a listener can say
 * exactly why a response was refused.
 *
 * @module
 */
import { getHashes } from 'node:crypto';
import { isValidHost } from './address.js';
import { type Result, fail, ok } from './errors.js';
import { MAX_CONNECTION_KEY_LENGTH } from './limits.js';
import { type PortRange, ANY_PORT_RANGE, portRangeContains, formatPortRange } from './port-range.js';
import { isRecord } from './json-object.js';

/** The five kernel port fields, in connection-file order. */
export const KERNEL_PORT_FIELDS = ['shell_port', 'iopub_port', 'stdin_port', 'control_port', 'hb_port'] as const;

/** One of the five kernel port fields. */
export type KernelPortField = (typeof KERNEL_PORT_FIELDS)[number];

/** Connection info as a Jupyter client needs it. */
export interface ConnectionInfo {
  shell_port: number;
  iopub_port: number;
  stdin_port: number;
  control_port: number;
  hb_port: number;
  /** Address the client connects to: IPv4/IPv6 literal or host name. */
  ip: string;
  /** ZMQ transport. */
  transport: 'tcp' | 'ipc';
  /** HMAC key of the Jupyter wire protocol. Secret. */
  key: string;
  /** `hmac-sha256` normally. */
  signature_scheme: string;
  /** Kernel name (kernelspec), informational. */
  kernel_name: string;
}

/** The five kernel ports of `info`, in {@link KERNEL_PORT_FIELDS} order. */
export function kernelPortsOf(info: ConnectionInfo): number[] {
  return KERNEL_PORT_FIELDS.map((f) => info[f]);
}

/**
 * Connection info for a kernel of ours: five ports in {@link KERNEL_PORT_FIELDS}
 * order, tcp, `hmac-sha256`.
 */
export function tcpConnectionInfo(ports: readonly number[], ip: string, key: string, kernelName: string): ConnectionInfo {
  const [shell_port, iopub_port, stdin_port, control_port, hb_port] = ports as [number, number, number, number, number];
  return {
    shell_port,
    iopub_port,
    stdin_port,
    control_port,
    hb_port,
    ip,
    transport: 'tcp',
    key,
    signature_scheme: 'hmac-sha256',
    kernel_name: kernelName,
  };
}

/** Options of {@link validateConnectionInfo}. */
export interface ValidateConnectionInfoOptions {
  /** Range every port must lie in; default any. */
  readonly portRange?: PortRange;
  /** Further ports (the comm port) that must be valid, in range and distinct from the five. */
  readonly extraPorts?: Readonly<Record<string, unknown>>;
}

const supportedHashes = new Set(getHashes().map((h) => h.toLowerCase()));

/** True when `scheme` is `hmac-<hash>` for a hash this Node supports. */
export function isSupportedSignatureScheme(scheme: unknown): scheme is string {
  if (typeof scheme !== 'string') return false;
  const m = /^hmac-([a-z0-9-]{2,20})$/.exec(scheme);
  return m !== null && supportedHashes.has(m[1] as string);
}

/**
 * Validates untrusted connection info. Returns a copy holding only the known
 * fields (unknown fields are dropped), or the first rule it breaks.
 */
export function validateConnectionInfo(value: unknown, options: ValidateConnectionInfoOptions = {}): Result<ConnectionInfo> {
  if (!isRecord(value)) return fail('GL_ERR_CONN_INFO_SHAPE', 'connection info is not a JSON object');
  const range = options.portRange ?? ANY_PORT_RANGE;
  const ports: Array<[string, unknown]> = [
    ...KERNEL_PORT_FIELDS.map((f): [string, unknown] => [f, value[f]]),
    ...Object.entries(options.extraPorts ?? {}),
  ];
  const seen = new Map<number, string>();
  for (const [field, port] of ports) {
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      return fail('GL_ERR_PORT_INVALID', `${field} is not an integer port in 1..65535`, { field });
    }
    const other = seen.get(port);
    if (other !== undefined) return fail('GL_ERR_PORT_DUPLICATE', `${field} equals ${other} (${port})`, { field, other, port });
    seen.set(port, field);
    if (!portRangeContains(range, port)) {
      return fail('GL_ERR_PORT_OUT_OF_RANGE', `${field} ${port} is outside the port range ${formatPortRange(range)}`, {
        field,
        port,
        range: formatPortRange(range),
      });
    }
  }
  if (!isValidHost(value.ip)) return fail('GL_ERR_IP_INVALID', 'ip is neither an IP address nor a host name', { field: 'ip' });
  const transport = value.transport ?? 'tcp';
  if (transport !== 'tcp' && transport !== 'ipc')
    return fail('GL_ERR_TRANSPORT_INVALID', "transport must be 'tcp' or 'ipc'", { field: 'transport' });
  const scheme = value.signature_scheme ?? 'hmac-sha256';
  if (!isSupportedSignatureScheme(scheme)) {
    return fail('GL_ERR_SIGNATURE_SCHEME_INVALID', "signature_scheme must be 'hmac-<hash>' with a supported hash", {
      field: 'signature_scheme',
    });
  }
  const key = value.key;
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_CONNECTION_KEY_LENGTH) {
    return fail('GL_ERR_KEY_INVALID', `key must be a non-empty string of at most ${MAX_CONNECTION_KEY_LENGTH} characters`, {
      field: 'key',
    });
  }
  const kernelName = value.kernel_name ?? '';
  if (typeof kernelName !== 'string' || kernelName.length > 256) {
    return fail('GL_ERR_CONN_INFO_SHAPE', 'kernel_name must be a string of at most 256 characters', { field: 'kernel_name' });
  }
  return ok({
    shell_port: value.shell_port as number,
    iopub_port: value.iopub_port as number,
    stdin_port: value.stdin_port as number,
    control_port: value.control_port as number,
    hb_port: value.hb_port as number,
    ip: value.ip,
    transport,
    key,
    signature_scheme: scheme,
    kernel_name: kernelName,
  });
}

/** Like {@link validateConnectionInfo} but throws the {@link GatewayError}. */
export function assertConnectionInfo(value: unknown, options?: ValidateConnectionInfoOptions): ConnectionInfo {
  const r = validateConnectionInfo(value, options);
  if (!r.ok) throw r.error;
  return r.value;
}

/**
 * The standard connection-file JSON a Jupyter client (`jupyter console
 * --existing`, `jupyter_client.BlockingKernelClient.load_connection_file`) reads.
 */
export function toConnectionFile(info: ConnectionInfo): string {
  const file = {
    shell_port: info.shell_port,
    iopub_port: info.iopub_port,
    stdin_port: info.stdin_port,
    control_port: info.control_port,
    hb_port: info.hb_port,
    ip: info.ip,
    key: info.key,
    transport: info.transport,
    signature_scheme: info.signature_scheme,
    kernel_name: info.kernel_name,
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

/** Connection info as logs and events show it: everything but the key. */
export type RedactedConnectionInfo = Omit<ConnectionInfo, 'key'> & { key: '[Redacted]' };

/** Connection info with the key replaced, for logs and display. */
export function redactConnectionInfo(info: ConnectionInfo): RedactedConnectionInfo {
  return { ...info, key: '[Redacted]' };
}
