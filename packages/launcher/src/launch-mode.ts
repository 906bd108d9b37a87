/**
 * What a port mode is, and what it gets from the launcher.
 *
 * A mode decides where the kernel's ports come from and how the kernel is
 * watched once the host has its connection info: `direct` (the kernel binds
 * the ports the launcher chose, readiness awaited before the response),
 * `proxy` (a relay owns the public ports; the kernel runs behind it and may be
 * restarted in place). Each lives in its own file and implements
 * {@link LaunchMode}; the {@link Launcher} keeps what every mode shares:
 * lifecycle state, the response, control dispatch, stop and cleanup.
 *
 * @module
 */
import type { Server } from 'node:net';
import type { ConnectionInfo } from '@gateway-launchers/common/connection-info';
import type { ControlReply } from '@gateway-launchers/common/control-message';
import type { LauncherConfig } from './config.js';
import type { LauncherLogger } from './deferred-logger.js';
import type { KernelExit, KernelProcess, KernelSpawnOptions } from './kernel-process.js';

/** A kernel's stderr saying that a port it wanted to bind was taken. */
export const PORT_CLASH_RE = /Address already in use|EADDRINUSE/i;

/** A kernel process and the connection file it was started with. */
export interface RunningKernel {
  readonly process: KernelProcess;
  /**
   * The kernel's own connection: the address and ports the kernel binds, and
   * its key. The launcher reaches the kernel here (shutdown_request,
   * interrupt_request); behind a relay these are loopback ports, not the
   * ones the host was given.
   */
  readonly connection: ConnectionInfo;
}

/** What a mode's start produced: a kernel and the connection info to report, or why there is none. */
export type ModeStart =
  | { readonly kind: 'started'; readonly kernel: RunningKernel; readonly reported: ConnectionInfo }
  | { readonly kind: 'failed'; readonly exit: KernelExit | undefined; readonly reason: string };

/** Kernel activity a mode observes, added to control replies (hosts cull idle kernels by it). */
export interface ModeActivity {
  readonly last_activity: number | null;
  readonly execution_state: string | null;
}

/** Options a mode may add to the kernel's spawn (the environment is the launcher's). */
export type ModeSpawnOptions = Omit<KernelSpawnOptions, 'env'>;

/** What the launcher lends a mode. */
export interface ModeContext {
  readonly config: LauncherConfig;
  readonly logger: LauncherLogger;
  /** `bind`: where kernel ports are bound (`--ip`); `report`: the address the response names. */
  readonly addresses: { readonly bind: string; readonly report: string };
  /** Path of the kernel's connection file (written by {@link ModeContext.spawnKernel}). */
  readonly connectionFile: string;
  /** Resolves when a stop of the launch begins (with its reason); never rejects. */
  readonly stopRequested: Promise<string>;
  /** Logs a lifecycle phase with the ms since process start. */
  phase(event: string, fields?: Record<string, unknown>): void;
  /** Starts serving control requests on `server`, a listening socket the mode chose; returns its port. */
  serveControl(server: Server): number;
  /**
   * Writes `connection` as the connection file and starts the kernel on it.
   * The kernel becomes the launcher's current one (control, stop and cleanup
   * reach it); `kernel_spawned` is logged with `fields`.
   */
  spawnKernel(connection: ConnectionInfo, fields?: Record<string, unknown>, options?: ModeSpawnOptions): RunningKernel;
  /** Does the slow half of sealing the response now: worth calling while a kernel boots. */
  prepareResponse(): Promise<void>;
  /** True once a stop of the launch has begun. */
  isStopping(): boolean;
  /** Stops the launch (idempotent). */
  stop(reason: string): Promise<void>;
  /** Stops one kernel gracefully without ending the launch (a restart). */
  stopKernel(kernel: RunningKernel): Promise<void>;
  /** Tells operators (log) and the host (WebSocket event, if any) that a kernel exited. */
  kernelExited(exit: KernelExit): Promise<void>;
}

/**
 * A port mode. The launcher calls {@link start}, reports what it returns,
 * then calls {@link supervise} once the host has acknowledged.
 */
export interface LaunchMode {
  /** Chooses ports, starts serving control and starts the kernel; resolves what to report, or why the start failed. */
  start(deadline: number): Promise<ModeStart>;
  /** Watches the started kernel (and any that replace it) until the launch ends; resolves the last exit. */
  supervise(kernel: RunningKernel): Promise<KernelExit>;
  /** Restart in place behind the same ports and key, in a mode that supports it. */
  restart?(kernel: RunningKernel): Promise<ControlReply>;
  /**
   * True when the kernel that has just exited will be replaced by the mode
   * itself once {@link supervise} runs (proxy mode: a port clash on loopback
   * at the start), so an exit before the response is acknowledged does not
   * fail the launch.
   */
  replacesExitedKernel?(): boolean;
  /** Activity seen by the mode, when it sees any (the relay does). */
  activity?(): ModeActivity | undefined;
  /** Releases what the mode holds (relay, sockets); called once, at cleanup. */
  close(): void;
}
