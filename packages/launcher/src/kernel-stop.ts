/**
 * The graceful stop of a kernel: `shutdown_request` on its control channel,
 * then SIGTERM to its process group, then SIGKILL, each step after a grace
 * period. Bounded: it never waits longer than about three grace periods plus
 * the SIGKILL wait.
 *
 * @module
 */
import type { ConnectionInfo } from '@gateway-launchers/common/connection-info';
import type { LauncherLogger } from './deferred-logger.js';
import { sleep } from './backoff.js';
import { controlRequest } from './kernel-control-channel.js';
import type { KernelProcess } from './kernel-process.js';

/** Longest wait for a kernel to go after SIGKILL. */
const KILL_WAIT_MS = 5_000;

/** What {@link stopKernelGracefully} needs to reach the kernel. */
export interface KernelStopOptions {
  /** The kernel's own connection info (its control port and key), if it has ports. */
  readonly info: ConnectionInfo | undefined;
  /** Address the kernel bound. */
  readonly bindIp: string;
  /** ms the kernel gets to answer, again to exit, and after SIGTERM. */
  readonly graceMs: number;
  readonly logger: LauncherLogger;
}

/** Stops `kernel`; resolves once it has exited (or the last wait ran out). */
export async function stopKernelGracefully(kernel: KernelProcess, o: KernelStopOptions): Promise<void> {
  if (!kernel.running) return;
  const gone = (ms: number): Promise<boolean> => Promise.race([kernel.exited.then(() => true), sleep(ms).then(() => !kernel.running)]);
  if (o.info !== undefined) {
    // The kernel gets the grace period to answer, and once it has answered, the grace period again to exit.
    const answered = await Promise.race([
      controlRequest(o.info, o.bindIp, 'shutdown_request', { restart: false }, o.graceMs),
      kernel.exited.then(() => false),
    ]);
    o.logger.debug({ event: 'shutdown_request_sent', answered }, 'shutdown_request sent on the control channel');
    if (!kernel.running || (answered && (await gone(o.graceMs)))) return;
  }
  if (kernel.running) {
    kernel.signalGroup('SIGTERM');
    if (await gone(o.graceMs)) return;
  }
  if (kernel.running) {
    o.logger.warn({ event: 'kernel_killed' }, 'kernel ignored SIGTERM; sending SIGKILL');
    kernel.signalGroup('SIGKILL');
    await gone(KILL_WAIT_MS);
  }
}
