/**
 * Options of {@link ResponseListener.start}, their defaults, and the Gateway
 * Provisioners environment variables honoured as defaults. Every limit has a
 * name and a default here, in one place.
 *
 * @module
 */
import { isIP } from 'node:net';
import {
  type BoxKeyPair,
  type Logger,
  type V1KeyPair,
  GatewayError,
  IDLE_TIMEOUT_MS,
  LISTEN_BACKLOG,
  MAX_CONTROL_REPLY_BYTES,
  MAX_CONNECTIONS_PER_ADDRESS,
  MAX_PENDING_CONNECTIONS,
  MAX_RESPONSE_BYTES,
  isValidHost,
  minPortRangeSizeFromEnv,
  firstNonLoopbackIPv4,
  parseProhibitedIps,
} from '@gateway-launchers/common';
import { MAX_UPGRADE_HEAD_BYTES } from './http-upgrade.js';
import { DEFAULT_KERNEL_INFO_POLICY, type KernelInfoPolicy, parseNetworks } from './kernel-address-policy.js';

/** Default response port (Gateway Provisioners' `GP_RESPONSE_PORT` default). */
export const DEFAULT_RESPONSE_PORT = 8877;
/** Default further ports tried when the first is in use (`GP_RESPONSE_PORT_RETRIES` default). */
export const DEFAULT_PORT_RETRIES = 10;
/** Default registration timeout in ms when neither the call nor `KERNEL_LAUNCH_TIMEOUT` says. */
export const DEFAULT_REGISTRATION_TIMEOUT_MS = 30_000;
/** Default RSA modulus of the v1 key pair generated with `legacy: true`. */
export const DEFAULT_V1_KEY_BITS = 2048;

/** Bounds of the listener (design §6). Each can be lowered or raised per listener. */
export interface ListenerLimits {
  /** Largest response (v2 line, v1 payload, first WebSocket frame), in bytes. Default 64 KiB. */
  readonly maxResponseBytes: number;
  /**
   * Time an unauthenticated connection has to deliver one complete response,
   * in ms, counted from accept (a deadline: trickling bytes does not extend it). Default 5000.
   */
  readonly connectionTimeoutMs: number;
  /**
   * Concurrent unauthenticated connections. At the cap, the oldest connection
   * of the peer holding the most slots is closed to admit a new one. Default 4096.
   */
  readonly maxPendingConnections: number;
  /**
   * Concurrent unauthenticated connections per peer address (IPv6: per /64).
   * At the cap, that address's own oldest connection is closed to admit its new one. Default 256.
   */
  readonly maxConnectionsPerAddress: number;
  /** Listen backlog asked of the kernel (capped by `net.core.somaxconn`). Default 4096. */
  readonly backlog: number;
  /** Time a control request may take end to end, in ms. Default 5000. */
  readonly controlTimeoutMs: number;
  /** Largest control reply read from a launcher, in bytes. Default 4 KiB. */
  readonly maxControlReplyBytes: number;
  /** Largest WebSocket upgrade request head, in bytes. Default 8 KiB. */
  readonly maxUpgradeHeadBytes: number;
  /**
   * Longest stretch of response verification (box opens, RSA) per event-loop
   * turn before yielding to the host, in ms. Default 5.
   */
  readonly workSliceMs: number;
}

/** The default {@link ListenerLimits}. */
export const DEFAULT_LIMITS: ListenerLimits = Object.freeze({
  maxResponseBytes: MAX_RESPONSE_BYTES,
  connectionTimeoutMs: IDLE_TIMEOUT_MS,
  maxPendingConnections: MAX_PENDING_CONNECTIONS,
  maxConnectionsPerAddress: MAX_CONNECTIONS_PER_ADDRESS,
  backlog: LISTEN_BACKLOG,
  controlTimeoutMs: IDLE_TIMEOUT_MS,
  maxControlReplyBytes: MAX_CONTROL_REPLY_BYTES,
  maxUpgradeHeadBytes: MAX_UPGRADE_HEAD_BYTES,
  workSliceMs: 5,
});

/** Options of `ResponseListener.start`. Every field is optional. */
export interface ResponseListenerOptions {
  /**
   * Address to bind: an IPv4/IPv6 literal or host name; `0.0.0.0` or `::` for
   * every address. Default: `0.0.0.0` when `GP_RESPONSE_ADDR_ANY=true`, else
   * `GP_RESPONSE_IP`, else the first non-loopback IPv4 address not matched by
   * `GP_PROHIBITED_LOCAL_IPS` (else `127.0.0.1`).
   */
  readonly host?: string;
  /**
   * Address launchers are told to connect to (the host part of the response
   * address). Default: `host`, unless that is a wildcard; then `GP_RESPONSE_IP`,
   * else the local address chosen as for `host`.
   */
  readonly advertisedHost?: string;
  /** First port to try; `0` lets the OS choose. Default `GP_RESPONSE_PORT`, else 8877. */
  readonly port?: number;
  /**
   * Further ports tried when the port is in use (`EADDRINUSE`) or not permitted
   * (`EACCES`): the next four in sequence, then random ones nearby.
   * Default `GP_RESPONSE_PORT_RETRIES`, else 10.
   */
  readonly portRetries?: number;
  /**
   * The listener's X25519 key pair. Persist it (e.g. `keyPairFromSecretKey`)
   * so a restarted host keeps control of running launchers. Default: a fresh pair.
   */
  readonly keyPair?: BoxKeyPair;
  /**
   * Also accept Gateway Provisioners v1 payloads (RSA + AES-ECB; weak, see
   * design §5) for registrations made with `protocol: 1`. Default false.
   */
  readonly legacy?: boolean;
  /** v1 RSA key pair to use with `legacy` (persisted). Default: one generated at start. */
  readonly v1KeyPair?: V1KeyPair;
  /** RSA modulus length of a generated v1 key pair. Default 2048 (GP uses 1024). */
  readonly v1KeyBits?: number;
  /** Bounds; each missing field takes its {@link DEFAULT_LIMITS} value. */
  readonly limits?: Partial<ListenerLimits>;
  /**
   * Timeout of a registration that does not give its own, in ms. Default:
   * `KERNEL_LAUNCH_TIMEOUT` (seconds, as Gateway Provisioners reads it), else 30 000.
   */
  readonly defaultTimeoutMs?: number;
  /** Smallest port range size accepted by `register` (`hi - lo`). Default `MIN_PORT_RANGE_SIZE`, else 1000. */
  readonly minPortRangeSize?: number;
  /**
   * pino logger; lines carry `kernel_id` and never a secret. Default: the
   * project logger (`LOG_LEVEL`, JSON on stderr, written asynchronously).
   */
  readonly logger?: Logger;
  /**
   * Networks (CIDRs or addresses; `*` for any address or host name) a
   * launcher may report as its kernel's `ip` besides the address its response
   * came from (and, for a response from loopback, this host's addresses).
   * Default `GL_ALLOWED_KERNEL_NETWORKS` (comma-separated), else none.
   */
  readonly allowedKernelNetworks?: readonly string[];
  /** Transports accepted in connection info. Default `['tcp']`. */
  readonly allowedTransports?: readonly ('tcp' | 'ipc')[];
  /** Signature schemes accepted in connection info. Default `['hmac-sha256', 'hmac-sha384', 'hmac-sha512']`. */
  readonly allowedSignatureSchemes?: readonly string[];
  /** Environment read for the defaults above. Default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
}

/** Options with every default applied. */
export interface ResolvedListenerOptions {
  readonly host: string;
  readonly advertisedHost: string;
  readonly port: number;
  readonly portRetries: number;
  readonly legacy: boolean;
  readonly v1KeyBits: number;
  readonly limits: ListenerLimits;
  readonly defaultTimeoutMs: number;
  readonly minPortRangeSize: number;
  readonly kernelInfoPolicy: KernelInfoPolicy;
}

function usage(variable: string, message: string): GatewayError {
  return new GatewayError('GL_ERR_USAGE', message, { details: { variable } });
}

function envInteger(env: NodeJS.ProcessEnv, name: string, min: number, max: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  const text = raw.trim();
  if (!/^\d{1,9}$/.test(text) || Number(text) < min || Number(text) > max)
    throw usage(name, `${name} must be an integer in ${min}..${max}, got '${raw}'`);
  return Number(text);
}

function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max)
    throw usage(name, `${name} must be an integer in ${min}..${max}, got ${String(value)}`);
  return value;
}

/** True for the wildcard bind addresses (`0.0.0.0`, `::`, empty). */
export function isWildcardHost(host: string): boolean {
  return host === '' || host === '0.0.0.0' || host === '::' || host === '[::]';
}

/**
 * Applies defaults and the `GP_*` environment variables. Throws
 * `GL_ERR_USAGE` (through `start`'s promise) for a malformed value.
 */
export function resolveListenerOptions(
  options: ResponseListenerOptions = {},
  env: NodeJS.ProcessEnv = options.env ?? process.env,
): ResolvedListenerOptions {
  const envIp = env.GP_RESPONSE_IP?.trim() || undefined;
  if (envIp !== undefined && !isValidHost(envIp))
    throw usage('GP_RESPONSE_IP', `GP_RESPONSE_IP '${envIp}' is not an IP address or host name`);
  const addrAny = (env.GP_RESPONSE_ADDR_ANY ?? '').trim().toLowerCase() === 'true';
  let localIp: string | undefined;
  const local = (): string => (localIp ??= firstNonLoopbackIPv4(parseProhibitedIps(env.GP_PROHIBITED_LOCAL_IPS)));

  const host = options.host ?? (addrAny ? '0.0.0.0' : (envIp ?? local()));
  if (!isWildcardHost(host) && !isValidHost(host)) throw usage('host', `host '${host}' is not an IP address or host name`);
  const advertisedHost = options.advertisedHost ?? (isWildcardHost(host) ? (envIp ?? local()) : host);
  if (!isValidHost(advertisedHost) || isWildcardHost(advertisedHost)) {
    throw usage('advertisedHost', `advertised host '${advertisedHost}' is not an address launchers can connect to`);
  }
  const port = checkInteger('port', options.port ?? envInteger(env, 'GP_RESPONSE_PORT', 0, 65535) ?? DEFAULT_RESPONSE_PORT, 0, 65535);
  const portRetries = checkInteger(
    'portRetries',
    options.portRetries ?? envInteger(env, 'GP_RESPONSE_PORT_RETRIES', 0, 1000) ?? DEFAULT_PORT_RETRIES,
    0,
    1000,
  );
  const launchTimeoutS = envInteger(env, 'KERNEL_LAUNCH_TIMEOUT', 1, 86_400);
  const defaultTimeoutMs = checkInteger(
    'defaultTimeoutMs',
    options.defaultTimeoutMs ?? (launchTimeoutS === undefined ? DEFAULT_REGISTRATION_TIMEOUT_MS : launchTimeoutS * 1000),
    1,
    2 ** 31 - 1,
  );
  const limits: ListenerLimits = { ...DEFAULT_LIMITS, ...options.limits };
  for (const [name, value] of Object.entries(limits)) checkInteger(`limits.${name}`, value as number, 1, 2 ** 31 - 1);
  return {
    host: host === '[::]' ? '::' : host,
    advertisedHost,
    port,
    portRetries,
    legacy: options.legacy === true,
    v1KeyBits: checkInteger('v1KeyBits', options.v1KeyBits ?? DEFAULT_V1_KEY_BITS, 1024, 8192),
    limits: Object.freeze(limits),
    defaultTimeoutMs,
    minPortRangeSize: options.minPortRangeSize ?? minPortRangeSizeFromEnv(env),
    kernelInfoPolicy: resolveKernelInfoPolicy(options, env),
  };
}

function resolveKernelInfoPolicy(options: ResponseListenerOptions, env: NodeJS.ProcessEnv): KernelInfoPolicy {
  const fromEnv = env.GL_ALLOWED_KERNEL_NETWORKS;
  const networks = options.allowedKernelNetworks ?? (fromEnv === undefined ? [] : fromEnv.split(','));
  parseNetworks(networks, options.allowedKernelNetworks === undefined ? 'GL_ALLOWED_KERNEL_NETWORKS' : 'allowedKernelNetworks');
  const transports = options.allowedTransports ?? DEFAULT_KERNEL_INFO_POLICY.allowedTransports;
  if (!Array.isArray(transports) || transports.length === 0 || transports.some((x) => x !== 'tcp' && x !== 'ipc'))
    throw usage('allowedTransports', "allowedTransports must list 'tcp' and/or 'ipc'");
  const schemes = options.allowedSignatureSchemes ?? DEFAULT_KERNEL_INFO_POLICY.allowedSignatureSchemes;
  if (!Array.isArray(schemes) || schemes.length === 0 || schemes.some((x) => typeof x !== 'string' || !/^hmac-[a-z0-9-]+$/.test(x)))
    throw usage('allowedSignatureSchemes', 'allowedSignatureSchemes must list hmac-<hash> names');
  return Object.freeze({
    allowedKernelNetworks: Object.freeze(networks.map((n) => n.trim()).filter(Boolean)),
    allowedTransports: Object.freeze([...transports]),
    allowedSignatureSchemes: Object.freeze([...schemes]),
  });
}

/**
 * Ports tried in turn: `port`, the next four, then random ones within
 * `±2·(retries+1)` of it (Gateway Provisioners' sequence), `retries + 1` in all.
 * Port 0 (OS choice) is tried once.
 */
export function candidatePorts(port: number, retries: number, random: () => number = Math.random): number[] {
  if (port === 0) return [0];
  const n = retries + 1;
  const out: number[] = [];
  for (let i = 0; i < Math.min(5, n); i++) out.push(Math.min(65535, port + i));
  for (let i = 5; i < n; i++) {
    const offset = Math.floor(random() * (4 * n + 1)) - 2 * n;
    out.push(Math.min(65535, Math.max(1, port + offset)));
  }
  return out;
}

/** `host` as it appears in a URL or `host:port` (IPv6 bracketed). */
export function hostForAddress(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}
