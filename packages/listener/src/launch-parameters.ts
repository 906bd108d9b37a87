/**
 * What a host hands the resource manager to start `gateway-launcher`: the
 * environment (token included) and the argv fragment (token never on argv,
 * where `ps` and YARN's application listing would show it).
 *
 * @module
 */
import type { LaunchResponse, ProtocolVersion, ResponseTransport } from './registration.js';

/** Parameters of one launch, returned by `ResponseListener.register`. */
export interface LaunchParameters {
  readonly kernelId: string;
  /** 2 (default) or 1 (Gateway Provisioners' launchers, only with `legacy`). */
  readonly protocol: ProtocolVersion;
  /** Transport the launcher is told to use. */
  readonly transport: ResponseTransport;
  /** `host:port` (tcp) or `ws://host:port/` (ws). */
  readonly responseAddress: string;
  /** v2: base64 X25519 public key; v1: base64 DER RSA public key. */
  readonly publicKey: string;
  /** `lo..hi`, `0..0` for any port. */
  readonly portRange: string;
  /** v2: the one-time launch token (secret: pass it in the environment only). v1: undefined. */
  readonly launchToken: string | undefined;
  /**
   * Environment for the launcher: `KERNEL_ID`, `KERNEL_RESPONSE_ADDRESS`,
   * `KERNEL_PUBLIC_KEY`, `KERNEL_PORT_RANGE` and (v2) `KERNEL_LAUNCH_TOKEN`.
   */
  readonly env: Readonly<Record<string, string>>;
  /** argv fragment: `--kernel-id`, `--response-address`, `--public-key`, `--port-range` with values. */
  readonly argv: readonly string[];
}

/** A registration as the host sees it: the launch parameters and the promise of the response. */
export interface PendingLaunch extends LaunchParameters {
  /**
   * Resolves with the validated response; rejects with a `GatewayError`:
   * `GL_ERR_REGISTRATION_TIMEOUT`, `GL_ERR_REGISTRATION_ABORTED`,
   * `GL_ERR_LISTENER_CLOSED` or `GL_ERR_KERNEL_FAILED` (details: `exit_code`,
   * `signal`, `stderr_tail`). Never an unhandled rejection when not awaited.
   */
  readonly response: Promise<LaunchResponse>;
}

/** Builds {@link LaunchParameters}. */
export function buildLaunchParameters(p: Omit<LaunchParameters, 'env' | 'argv'>): LaunchParameters {
  const env: Record<string, string> = {
    KERNEL_ID: p.kernelId,
    KERNEL_RESPONSE_ADDRESS: p.responseAddress,
    KERNEL_PUBLIC_KEY: p.publicKey,
    KERNEL_PORT_RANGE: p.portRange,
  };
  if (p.launchToken !== undefined) env.KERNEL_LAUNCH_TOKEN = p.launchToken;
  const argv = [
    '--kernel-id',
    p.kernelId,
    '--response-address',
    p.responseAddress,
    '--public-key',
    p.publicKey,
    '--port-range',
    p.portRange,
  ];
  return { ...p, env: Object.freeze(env), argv: Object.freeze(argv) };
}
