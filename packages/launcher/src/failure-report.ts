/**
 * The v2 failure response: why a kernel did not start, sealed so the host
 * fails in seconds rather than at its own timeout. The kernel's stderr is
 * untrusted bytes of any size; it is made printable and shrunk until the
 * sealed text fits the listener's response limit.
 *
 * @module
 */
import type { ResponsePlaintext } from '@gateway-launchers/common/response-message';
import { isGatewayError } from '@gateway-launchers/common/errors';
import { MAX_RESPONSE_BYTES, STDERR_TAIL_BYTES } from '@gateway-launchers/common/limits';
import type { ResponseAddress } from '@gateway-launchers/common/address';
import type { LauncherLogger } from './deferred-logger.js';
import { type KernelExit, exitStatusOf } from './kernel-process.js';
import { deliverResponse } from './response-delivery.js';
import { LAUNCHER_VERSION } from './version.js';

/** Extra time a failure response gets past the launch deadline. */
export const FAILURE_REPORT_GRACE_MS = 5_000;

/** The exit status of a failed launch: the kernel's own, or 1 when it exited 0 or never ran. */
export function failureExitStatus(exit: KernelExit | undefined): number {
  if (exit === undefined) return 1;
  const status = exitStatusOf(exit);
  return status === 0 ? 1 : status;
}

/** What a failure response says. */
export interface FailureReport {
  readonly kernelId: string;
  readonly launchToken: string;
  readonly mode: ResponsePlaintext['mode'];
  /** How the kernel ended, when it ran at all. */
  readonly exit: KernelExit | undefined;
  /** The reason: the kernel's stderr tail, or the launcher's own message. */
  readonly reason: string;
  /** The kernel's pid, 0 when there is none. */
  readonly pid: number;
}

/**
 * Seals `report` with `seal`, halving the reason from the front (the end of
 * stderr says most) until the sealed text fits {@link MAX_RESPONSE_BYTES}.
 * Control characters become U+FFFD: JSON would escape each to six bytes, and
 * they have no business on an operator's terminal.
 */
export function sealFailureResponse(report: FailureReport, seal: (plaintext: ResponsePlaintext) => string): string {
  let tail = report.reason.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '\uFFFD').slice(-STDERR_TAIL_BYTES);
  for (;;) {
    const text = seal({
      kernel_id: report.kernelId,
      token: report.launchToken,
      failure: { exit_code: report.exit?.exitCode ?? null, signal: report.exit?.signal ?? null, stderr_tail: tail },
      pid: report.pid,
      pgid: report.pid,
      mode: report.mode,
      launcher_version: LAUNCHER_VERSION,
    });
    if (Buffer.byteLength(text) < MAX_RESPONSE_BYTES || tail.length === 0) return text;
    tail = tail.slice(Math.floor(tail.length / 2));
  }
}

/** Options of {@link deliverFailureResponse}. */
export interface FailureDeliveryOptions {
  readonly address: ResponseAddress;
  readonly text: string;
  /** The launch deadline (a `performance.now()` value); the failure gets {@link FAILURE_REPORT_GRACE_MS} more. */
  readonly deadline: number;
  /** Aborting it gives up the report (the launcher was told to stop while it was still retrying). */
  readonly signal?: AbortSignal;
  readonly logger: LauncherLogger;
}

/** Delivers a sealed failure response; resolves false (and logs why) when the host did not take it. */
export async function deliverFailureResponse(o: FailureDeliveryOptions): Promise<boolean> {
  try {
    const d = await deliverResponse({
      address: o.address,
      protocol: 2,
      text: o.text,
      deadline: Math.max(o.deadline, performance.now() + FAILURE_REPORT_GRACE_MS),
      ...(o.signal === undefined ? {} : { signal: o.signal }),
      logger: o.logger,
    });
    d.ws?.terminate();
    return true;
  } catch (e) {
    o.logger.error(
      { event: 'failure_unreported', code: isGatewayError(e) ? e.code : 'unknown' },
      `failure response not delivered: ${(e as Error).message}`,
    );
    return false;
  }
}
