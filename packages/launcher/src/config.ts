/**
 * Turns flags and environment into a validated {@link LauncherConfig}. Every
 * usage error is a {@link GatewayError} whose message is one line naming the
 * input and what to do; the CLI prints it and exits 2.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isLocalAddress, localAddresses } from '@gateway-launchers/common/local-address';
import type { KeyObject } from 'node:crypto';
import { type ResponseAddress, parseResponseAddress } from '@gateway-launchers/common/address';
import { decodeBoxPublicKey } from '@gateway-launchers/common/box-key';
import { decodeRsaPublicKey } from '@gateway-launchers/common/envelope-v1';
import { GatewayError } from '@gateway-launchers/common/errors';
import { assertKernelId } from '@gateway-launchers/common/kernel-id';
import { isLogLevelName } from '@gateway-launchers/common/log-levels';
import { LAUNCHER_OPTIONS } from './launcher-options.js';
import { constants as osConstants } from 'node:os';
import { DEFAULT_LAUNCH_TIMEOUT_S, SHUTDOWN_GRACE_MS } from '@gateway-launchers/common/limits';
import { type PortRange, minPortRangeSizeFromEnv, parsePortRange } from '@gateway-launchers/common/port-range';
import { parseProhibitedIps } from '@gateway-launchers/common/prohibited-ips';
import { type KernelLanguage, buildKernelArgv } from './kernel-argv.js';
import { HANDOFF_MODULE, handoffBootstrapDir } from './handoff-bootstrap.js';
import type { HandoffReady } from './handoff-mode.js';
import { type ClusterInitMode, type ClusterType, clusterInit } from './spark-init.js';

/** The listener's key and the protocol it implies. */
export type ListenerKey =
  | { readonly protocol: 2; readonly publicKey: Uint8Array; readonly launchToken: string }
  | { readonly protocol: 1; readonly publicKey: KeyObject };

/** Everything the launcher needs, validated. */
export interface LauncherConfig {
  readonly kernelId: string;
  readonly responseAddress: ResponseAddress;
  readonly listener: ListenerKey;
  readonly portRange: PortRange;
  /** Address to bind and report; undefined: bind all, report {@link reportIp}. */
  readonly ip: string | undefined;
  /** The port mode in effect (handoff asked for a kernel that cannot adopt sockets is direct; see `modeFallback`). */
  readonly mode: 'direct' | 'proxy' | 'handoff';
  /** Why handoff mode, asked for, runs as direct mode (logged at start), or undefined. */
  readonly modeFallback: string | undefined;
  /** handoff mode: when the response goes out. */
  readonly handoffReady: HandoffReady;
  /**
   * For a wildcard bind: the address reported to the host. The CLI sets it to
   * the address routed toward the listener (`reportedAddress` in network.ts);
   * undefined: the first allowed non-loopback IPv4 address.
   */
  readonly reportIp?: string;
  /** `GP_PROHIBITED_LOCAL_IPS` (or `EG_PROHIBITED_LOCAL_IPS`): addresses never reported. */
  readonly prohibitedIps: readonly RegExp[];
  readonly launchTimeoutMs: number;
  /** Kernel argv with `{kernel_id}` substituted; `{connection_file}` is substituted per start. */
  readonly kernelArgv: readonly string[];
  readonly kernelName: string;
  readonly kernelLanguage: KernelLanguage | undefined;
  readonly interruptMode: 'signal' | 'message';
  /** Signal an interrupt sends in `signal` mode (`--alternate-sigint`; default SIGINT). */
  readonly interruptSignal: NodeJS.Signals;
  readonly shutdownGraceMs: number;
  readonly connectionDir: string | undefined;
  readonly sparkInitMode: ClusterInitMode;
  /** Cluster the kernel belongs to; `spark` (with a mode other than `none`) means SIGUSR2 follows SIGINT. `none` for the r preset, which R would quit on. */
  readonly clusterType: ClusterType;
  readonly restartOnCrash: number;
  readonly logLevel: string;
}

/** How the command line was written, where it changes what a missing value means. */
export interface ArgvStyle {
  /**
   * A Gateway Provisioners / Enterprise Gateway spelling (`--RemoteProcessProxy.…`)
   * was used: a kernelspec written for GP's `launch_ipykernel.py`, which names
   * no kernel because it is the python kernel's launcher.
   */
  readonly gpSpelling?: boolean;
  /**
   * The kernel language came from `KERNEL_LANGUAGE`, not from the flag. GP sets
   * it for every kernel, so a command after `--` wins over it instead of
   * being refused.
   */
  readonly languageFromEnv?: boolean;
}

/** Raw option values after flag/env resolution (strings, numbers, undefined). */
export type RawOptions = Readonly<Record<string, string | number | boolean | undefined>>;

function usage(
  message: string,
  code: 'GL_ERR_USAGE' | 'GL_ERR_PLACEHOLDER_UNSUBSTITUTED' | 'GL_ERR_LAUNCH_TOKEN_MISSING' = 'GL_ERR_USAGE',
): GatewayError {
  return new GatewayError(code, message);
}

const PLACEHOLDER_RE = /\{[A-Za-z_][A-Za-z0-9_]*\}/;

/**
 * Fills flag values that are absent from the environment variables the schema
 * names (first set wins) and from defaults.
 */
export function resolveOptions(flags: Readonly<Record<string, unknown>>, env: NodeJS.ProcessEnv): RawOptions {
  const out: Record<string, string | number | boolean | undefined> = {};
  for (const spec of LAUNCHER_OPTIONS) {
    let value = flags[spec.name] as string | number | boolean | undefined;
    let source = `--${spec.name}`;
    if (value === undefined) {
      for (const name of spec.env ?? []) {
        const v = env[name];
        if (v !== undefined && v !== '') {
          // Pod specs and kernelspec env blocks are written by hand: `Python`, `LAZY` mean the same.
          value = spec.choices === undefined ? v : v.trim().toLowerCase();
          source = name;
          break;
        }
      }
    }
    if (value === undefined) value = spec.default;
    if (typeof value === 'string' && PLACEHOLDER_RE.test(value)) {
      throw usage(
        `${source} '${value}' still contains a {placeholder}; the host or kernelspec must substitute it`,
        'GL_ERR_PLACEHOLDER_UNSUBSTITUTED',
      );
    }
    if (value !== undefined && spec.type === 'number') {
      if (value === '') throw usage(`${source} needs a value`);
      const n = typeof value === 'number' ? value : Number(value);
      if (!Number.isFinite(n) || n < 0) throw usage(`${source} must be a non-negative number, got '${String(value)}'`);
      const r = spec.range;
      if (r !== undefined && (n < r.min || n > r.max || (r.integer === true && !Number.isInteger(n)))) {
        throw usage(
          `${source} must be ${r.integer === true ? 'a whole number' : 'a number'} from ${r.min} to ${r.max}, got '${String(value)}'`,
        );
      }
      value = n;
    }
    if (value !== undefined && spec.choices !== undefined && !spec.choices.includes(String(value))) {
      throw usage(`${source} must be one of ${spec.choices.join(', ')}, got '${String(value)}'`);
    }
    out[spec.name] = value;
  }
  const level = out['log-level'];
  if (typeof level === 'string' && !isLogLevelName(level)) {
    throw usage(`log level '${level}' is not one of trace, debug, info, warn, error, fatal, silent (or 10, 20, 30, 40, 50)`);
  }
  return out;
}

function str(raw: RawOptions, name: string): string | undefined {
  const v = raw[name];
  return v === undefined ? undefined : String(v);
}

function readLaunchToken(raw: RawOptions, env: NodeJS.ProcessEnv): string {
  const file = str(raw, 'launch-token-file');
  // Trimmed like the file: a Kubernetes Secret mounted as env often ends in a newline.
  let token = env.KERNEL_LAUNCH_TOKEN?.trim();
  if (file !== undefined) {
    try {
      token = readFileSync(file, 'utf8').trim();
    } catch (e) {
      throw usage(`--launch-token-file '${file}' cannot be read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
    }
  }
  if (token === undefined || token === '') {
    throw usage(
      'protocol v2 needs the launch token: set KERNEL_LAUNCH_TOKEN or --launch-token-file (the listener issues it at registration)',
      'GL_ERR_LAUNCH_TOKEN_MISSING',
    );
  }
  if (token.length > 256 || /\s/.test(token))
    throw usage('the launch token is malformed (at most 256 characters, no white space)', 'GL_ERR_LAUNCH_TOKEN_MISSING');
  return token;
}

/** Classifies the listener's public key; throws `GL_ERR_PUBLIC_KEY_INVALID` when it is neither kind. */
export function parseListenerKey(text: string, readToken: () => string): ListenerKey {
  const x25519 = decodeBoxPublicKey(text);
  if (x25519 !== undefined) return { protocol: 2, publicKey: x25519, launchToken: readToken() };
  const rsa = decodeRsaPublicKey(text);
  if (rsa !== undefined) return { protocol: 1, publicKey: rsa };
  throw new GatewayError(
    'GL_ERR_PUBLIC_KEY_INVALID',
    '--public-key is neither a base64 32-byte X25519 key (protocol v2) nor a base64 DER RSA public key (protocol v1, as Gateway Provisioners publishes it)',
  );
}

/** `USR2`, `SIGUSR2` or `12` as a signal name; SIGINT when absent. */
export function parseSignal(text: string | undefined): NodeJS.Signals {
  if (text === undefined) return 'SIGINT';
  const t = text.trim().toUpperCase();
  const signals = osConstants.signals as Record<string, number>;
  if (/^\d+$/.test(t)) {
    const name = Object.keys(signals).find((k) => signals[k] === Number(t));
    if (name !== undefined) return name as NodeJS.Signals;
  } else {
    const name = t.startsWith('SIG') ? t : `SIG${t}`;
    if (signals[name] !== undefined) return name as NodeJS.Signals;
  }
  throw usage(`--alternate-sigint '${text}' is not a signal (for example USR2, SIGUSR2 or 12)`);
}

/**
 * Validates resolved options plus the kernel argv after `--` into a config.
 * Throws {@link GatewayError} with a one-line message on bad input.
 */
export function buildConfig(
  raw: RawOptions,
  afterDashDash: readonly string[],
  env: NodeJS.ProcessEnv,
  style: ArgvStyle = {},
): LauncherConfig {
  const kernelIdText = str(raw, 'kernel-id');
  if (kernelIdText === undefined) throw usage('--kernel-id (or KERNEL_ID) is required');
  let kernelId: string;
  try {
    kernelId = assertKernelId(kernelIdText);
  } catch (e) {
    throw usage(`--kernel-id: ${(e as Error).message}`);
  }
  const addressText = str(raw, 'response-address');
  if (addressText === undefined) throw usage('--response-address (or KERNEL_RESPONSE_ADDRESS) is required');
  const responseAddress = parseResponseAddress(addressText);
  const keyText = str(raw, 'public-key');
  if (keyText === undefined) throw usage('--public-key (or KERNEL_PUBLIC_KEY) is required');
  const listener = parseListenerKey(keyText, () => readLaunchToken(raw, env));
  if (listener.protocol === 1 && responseAddress.scheme !== 'tcp') {
    throw usage('protocol v1 (an RSA --public-key) needs a host:port response address; ws:// and wss:// are v2 only');
  }
  const portRange = parsePortRange(str(raw, 'port-range'), { minSize: minPortRangeSizeFromEnv(env) });
  const ip = str(raw, 'ip');
  if (ip !== undefined) {
    // ZMQ binds addresses, not names; and binding an address this host does not have fails late, in the kernel.
    if (isIP(ip) === 0) throw usage(`--ip '${ip}' is not an IP address (the kernel binds it; host names cannot be bound)`);
    if (!isLocalAddress(ip)) throw usage(`--ip '${ip}' is not an address of this host (local addresses: ${localAddresses().join(', ')})`);
  }
  let language = str(raw, 'kernel-language') as KernelLanguage | undefined;
  // GP's python kernelspecs run launch_ipykernel.py, which names no kernel: with
  // its spellings and nothing else to start, the kernel is python (KERNEL_LANGUAGE,
  // which GP sets, was read above and wins).
  if (language === undefined && afterDashDash.length === 0 && style.gpSpelling === true) language = 'python';
  if (language !== undefined && afterDashDash.length > 0 && style.languageFromEnv === true) language = undefined;
  if (language !== undefined && afterDashDash.length > 0) {
    throw usage(
      `--kernel-language ${language} starts its own kernel command; the command after -- ('${afterDashDash[0] ?? ''}' …) would be appended to it. Give one or the other (kernel arguments: use the kernelspec's own argv after -- without --kernel-language)`,
    );
  }
  const requestedMode = str(raw, 'mode') as LauncherConfig['mode'] | undefined;
  let mode: LauncherConfig['mode'] = requestedMode ?? (language === 'python' ? 'handoff' : 'direct');
  let modeFallback: string | undefined;
  // Only the python preset's bootstrap adopts handed sockets; any other kernel would leave them unserved.
  const handoffDir = mode === 'handoff' && language === 'python' ? handoffBootstrapDir() : undefined;
  if (mode === 'handoff' && handoffDir === undefined) {
    modeFallback =
      language !== 'python'
        ? 'handoff mode needs --kernel-language python (a kernel started by its own command line cannot adopt sockets)'
        : `the handoff bootstrap (${HANDOFF_MODULE}.py) is not installed beside the launcher`;
    mode = 'direct';
  }
  for (const arg of afterDashDash) {
    const m = PLACEHOLDER_RE.exec(arg.replaceAll('{connection_file}', '').replaceAll('{kernel_id}', ''));
    if (m !== null)
      throw usage(
        `kernel argument '${arg}' contains ${m[0]}, which is not {connection_file} or {kernel_id}`,
        'GL_ERR_PLACEHOLDER_UNSUBSTITUTED',
      );
  }
  const sparkInitMode = (str(raw, 'spark-context-initialization-mode') ?? 'none') as ClusterInitMode;
  let clusterType = (str(raw, 'cluster-type') ?? 'spark') as ClusterType;
  if (sparkInitMode !== 'none') {
    if (language === undefined) {
      throw usage(
        `--spark-context-initialization-mode ${sparkInitMode} needs --kernel-language python or r: the start-up hook comes with the preset`,
      );
    }
    if (language === 'r' && clusterType === 'dask')
      throw usage('--cluster-type dask is for the python preset; the r preset supports spark or none');
  }
  const cluster =
    language === 'python' || language === 'r' ? clusterInit(sparkInitMode, clusterType, str(raw, 'spark-app-name')) : undefined;
  const interruptSignal = parseSignal(str(raw, 'alternate-sigint'));
  // R quits on SIGUSR2, so an R kernel is never sent the job-cancelling signal.
  if (language === 'r') clusterType = 'none';
  const kernelArgv = buildKernelArgv({
    language,
    cluster,
    argv: afterDashDash,
    python: str(raw, 'python') ?? 'python3',
    kernelClassName: str(raw, 'kernel-class-name'),
    ipv6: ip !== undefined && isIP(ip) === 6,
    handoffDir,
    toreeHome: env.TOREE_HOME,
    ...(str(raw, 'alternate-sigint') === undefined ? {} : { alternateSigint: interruptSignal.slice(3) }),
  }).map((a) => a.replaceAll('{kernel_id}', kernelId));
  if (kernelArgv.length === 0) throw usage('no kernel to start: give --kernel-language or the kernel command after --');
  if (!kernelArgv.some((a) => a.includes('{connection_file}'))) {
    throw usage('the kernel command must pass {connection_file} (for example: -- python3 -m ipykernel_launcher -f {connection_file})');
  }
  return {
    kernelId,
    responseAddress,
    listener,
    portRange,
    ip,
    prohibitedIps: parseProhibitedIps(env.GP_PROHIBITED_LOCAL_IPS ?? env.EG_PROHIBITED_LOCAL_IPS),
    mode,
    modeFallback,
    handoffReady: (str(raw, 'handoff-ready') ?? 'heartbeat') as HandoffReady,
    launchTimeoutMs: Math.round(((raw['launch-timeout'] as number | undefined) ?? DEFAULT_LAUNCH_TIMEOUT_S) * 1000),
    kernelArgv,
    kernelName: str(raw, 'kernel-name') ?? '',
    kernelLanguage: language,
    interruptMode: (str(raw, 'interrupt-mode') ?? 'signal') as 'signal' | 'message',
    interruptSignal,
    shutdownGraceMs: raw['shutdown-grace'] === undefined ? SHUTDOWN_GRACE_MS : Math.round((raw['shutdown-grace'] as number) * 1000),
    connectionDir: str(raw, 'connection-dir'),
    sparkInitMode,
    clusterType,
    restartOnCrash: Math.floor((raw['restart-on-crash'] as number | undefined) ?? 0),
    logLevel: str(raw, 'log-level') ?? 'info',
  };
}
