/**
 * The setup most launcher system tests share: start a receiver, run the real
 * `gateway-launcher` against it, wait for its response, and hand back the
 * kernel's connection info with a way to send it sealed control requests.
 * Every process and socket it starts is ended by the test's teardown.
 */
import type { Test } from 'tap';
import { type ConnectionInfo, type ControlAction, type ResponseSuccess, isFailureResponse } from '@gateway-launchers/common';
import { type Received, Receiver } from './receiver.js';
import { type LauncherRun, RESPONSE_WAIT_MS, controlText, replyOf, runLauncher, sendComm } from './launcher-process.js';

/** What to launch. */
export interface LaunchOptions {
  readonly kernelId: string;
  /** `--port-range`, also the range the receiver accepts; undefined: any port, no flag. */
  readonly range?: string;
  /** Flags and the kernel command, after the ones that name the receiver (`--kernel-id`, `--response-address`, `--public-key`, `--port-range`). */
  readonly args: readonly string[];
  /** Added to the launcher's environment (which has the receiver's `KERNEL_LAUNCH_TOKEN`); a function is given the receiver. */
  readonly env?: NodeJS.ProcessEnv | ((receiver: Receiver) => NodeJS.ProcessEnv);
  /** Where the test reaches the kernel and the comm port; default 127.0.0.1 (whatever address was reported). */
  readonly host?: string;
  /**
   * Also wait for `kernel_ready` in the log. Proxy mode sends its response
   * before the kernel listens, and jupyter_client's standalone
   * `wait_for_ready` declares a kernel dead after one missed heartbeat: clients
   * start once it listens.
   */
  readonly awaitKernelReady?: boolean;
}

/** A launcher started against its own receiver. */
export interface StartedLaunch {
  readonly receiver: Receiver;
  readonly run: LauncherRun;
}

/** A kernel whose launcher answered with a success response. */
export interface LaunchedKernel extends StartedLaunch {
  /** The response as the receiver opened it. */
  readonly response: ResponseSuccess;
  /** The launcher's ephemeral public key, which control requests are sealed to. */
  readonly epk: Uint8Array;
  /** The reported connection info, with the address the test reaches it on ({@link LaunchOptions.host}). */
  readonly info: ConnectionInfo;
  /** Sends `action` to the comm port, sealed as the listener would; resolves the opened reply. */
  control(action: ControlAction): Promise<Record<string, unknown>>;
}

/** Starts a receiver and the launcher against it; both end with the test. Does not wait for the response. */
export async function startLaunch(t: Test, options: LaunchOptions): Promise<StartedLaunch> {
  const receiver = await Receiver.start(options.range);
  t.teardown(() => receiver.close());
  const run = runLauncher(
    [
      '--kernel-id',
      options.kernelId,
      '--response-address',
      receiver.address,
      '--public-key',
      receiver.publicKey,
      ...(options.range === undefined ? [] : ['--port-range', options.range]),
      ...options.args,
    ],
    { KERNEL_LAUNCH_TOKEN: receiver.token, ...(typeof options.env === 'function' ? options.env(receiver) : options.env) },
  );
  t.teardown(() => run.stop());
  return { receiver, run };
}

/**
 * Launches a kernel ({@link startLaunch}) and waits for its success response;
 * rejects with the kernel's stderr tail when the launcher reports a failure.
 */
export async function launchKernel(t: Test, options: LaunchOptions): Promise<LaunchedKernel> {
  const { receiver, run } = await startLaunch(t, options);
  const { plaintext, epk }: Received = await receiver.next(RESPONSE_WAIT_MS);
  if (isFailureResponse(plaintext)) throw new Error(`${options.kernelId}: the launch failed: ${plaintext.failure.stderr_tail}`);
  if (options.awaitKernelReady === true) await run.waitLog((l) => l.event === 'kernel_ready', 'kernel_ready', RESPONSE_WAIT_MS);
  const response = plaintext as ResponseSuccess;
  const host = options.host ?? '127.0.0.1';
  const control = async (action: ControlAction): Promise<Record<string, unknown>> =>
    replyOf(
      await sendComm(response.comm_port, controlText(options.kernelId, action, epk, receiver.keys.secretKey), host),
      epk,
      receiver.keys.secretKey,
    );
  return { receiver, run, response, epk, info: { ...response.conn_info, ip: host }, control };
}

/** The six ports a response reports: the kernel's five, then the comm port. */
export function reportedPorts(response: ResponseSuccess): number[] {
  const c = response.conn_info;
  return [c.shell_port, c.iopub_port, c.stdin_port, c.control_port, c.hb_port, response.comm_port];
}
