/**
 * A launcher that cannot start because of a usage error (a mistyped flag, a
 * bad value in a pod spec) still tells the host, when it can: if the flags
 * and environment name a valid kernel id, response address, protocol v2 key
 * and launch token, it sends a sealed failure response carrying the usage
 * error before it exits 2. The host then fails the launch at once instead of
 * at its registration timeout.
 *
 * Protocol v1 (Gateway Provisioners' RSA key) has no failure response: there
 * the host still finds out by its timeout.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { type ResponseAddress, parseResponseAddress } from '@gateway-launchers/common/address';
import { decodeBoxPublicKey } from '@gateway-launchers/common/box-key';
import { isValidKernelId } from '@gateway-launchers/common/kernel-id';
import { parseLoosely } from './cli-args.js';
import { LAUNCHER_OPTIONS } from './launcher-options.js';
import { STDERR_TAIL_BYTES } from '@gateway-launchers/common/limits';
import { DeferredLogger, type LauncherLogger } from './deferred-logger.js';
import { deliverResponse } from './response-delivery.js';
import { LAUNCHER_VERSION } from './version.js';

/**
 * How long a usage-error report is retried. The listener registered the kernel
 * before the launcher was started, so it is normally there at once; the window
 * covers a network that comes up a moment after the container starts.
 */
export const USAGE_REPORT_WINDOW_MS = 3_000;

/** The launcher's exit status on a usage error, reported to the host as the failure's exit code. */
export const USAGE_EXIT_STATUS = 2;

/** Where a failure response can go, found in flags and environment. */
export interface ReportTarget {
  readonly kernelId: string;
  readonly address: ResponseAddress;
  readonly publicKey: Uint8Array;
  readonly token: string;
}

function valueOf(flags: Readonly<Record<string, unknown>>, env: NodeJS.ProcessEnv, name: string): string | undefined {
  const flag = flags[name];
  if (typeof flag === 'string' && flag !== '') return flag;
  const spec = LAUNCHER_OPTIONS.find((o) => o.name === name);
  for (const e of spec?.env ?? []) {
    const v = env[e];
    if (v !== undefined && v !== '') return v;
  }
  return undefined;
}

/**
 * The report target, when flags (parsed leniently) and environment give every
 * part of it in a valid form; otherwise undefined (nothing can be reported).
 */
export function findReportTarget(flags: Readonly<Record<string, unknown>>, env: NodeJS.ProcessEnv): ReportTarget | undefined {
  const kernelId = valueOf(flags, env, 'kernel-id');
  const addressText = valueOf(flags, env, 'response-address');
  const keyText = valueOf(flags, env, 'public-key');
  if (kernelId === undefined || !isValidKernelId(kernelId) || addressText === undefined || keyText === undefined) return undefined;
  let address: ResponseAddress;
  try {
    address = parseResponseAddress(addressText);
  } catch {
    return undefined;
  }
  const publicKey = decodeBoxPublicKey(keyText);
  if (publicKey === undefined) return undefined;
  let token = env.KERNEL_LAUNCH_TOKEN;
  const tokenFile = valueOf(flags, env, 'launch-token-file');
  if (tokenFile !== undefined) {
    try {
      token = readFileSync(tokenFile, 'utf8').trim();
    } catch {
      return undefined;
    }
  }
  if (token === undefined || token === '' || token.length > 256 || /\s/.test(token)) return undefined;
  return { kernelId, address, publicKey, token };
}

/**
 * Seals `message` as a failure response — exit code 2, the status the
 * launcher exits with on a usage error (no kernel ran) — and delivers it within {@link USAGE_REPORT_WINDOW_MS}. Resolves true
 * when the listener acknowledged it; never throws.
 */
export async function reportUsageFailure(
  target: ReportTarget,
  message: string,
  logger: LauncherLogger,
  signal?: AbortSignal,
): Promise<boolean> {
  try {
    const { sealResponse } = await import('@gateway-launchers/common/envelope-v2');
    const sealed = sealResponse(
      {
        kernel_id: target.kernelId,
        token: target.token,
        failure: {
          exit_code: USAGE_EXIT_STATUS,
          signal: null,
          stderr_tail: message.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '\uFFFD').slice(0, STDERR_TAIL_BYTES),
        },
        pid: 0,
        pgid: 0,
        mode: 'direct',
        launcher_version: LAUNCHER_VERSION,
      },
      target.publicKey,
    );
    const delivery = await deliverResponse({
      address: target.address,
      protocol: 2,
      text: sealed.text,
      deadline: performance.now() + USAGE_REPORT_WINDOW_MS,
      logger,
      ...(signal === undefined ? {} : { signal }),
    });
    delivery.ws?.terminate();
    return true;
  } catch {
    return false;
  }
}

/**
 * Reports the usage error `line` to the listener that `argv` (parsed
 * leniently) and `env` name, when they name one validly. Resolves the
 * listener's address once it acknowledged, undefined when there was nowhere
 * to report or the report did not get through; never throws.
 */
export async function reportUsageError(
  line: string,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  signal?: AbortSignal,
): Promise<ResponseAddress | undefined> {
  const target = findReportTarget(parseLoosely(argv), env);
  if (target === undefined) return undefined;
  // Silent: the line itself is the report; retries are not worth more lines.
  const delivered = await reportUsageFailure(target, line, new DeferredLogger(), signal);
  return delivered ? target.address : undefined;
}
