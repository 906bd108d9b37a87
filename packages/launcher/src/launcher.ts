/**
 * The launcher's lifecycle, as an explicit state machine:
 *
 * `starting` (ports, connection file, kernel) → `reporting` (sealed response
 * until acknowledged) → `running` (control, supervision) → `stopping` →
 * `exited`. A kernel that dies before `running` turns into a failure
 * response.
 *
 * Where the ports come from and how the kernel is watched differ by mode, and
 * each mode lives in its own file behind {@link LaunchMode}
 * (`direct-mode.ts`, `proxy-mode.ts`); this class keeps what they share:
 * state, the response, control dispatch, stop and cleanup.
 *
 * @module
 */
import type { Server } from 'node:net';
import type { ConnectionInfo } from '@gateway-launchers/common/connection-info';
import type { ControlAction, ControlReply, ControlRoute, V1Request } from '@gateway-launchers/common/control-message';
import { sealV1 } from '@gateway-launchers/common/envelope-v1';
import type { BoxKeyPair, PreparedSeal } from '@gateway-launchers/common/envelope-v2';
import { type Result, GatewayError, fail, isGatewayError } from '@gateway-launchers/common/errors';
import type { LauncherLogger } from './deferred-logger.js';
import type { ResponsePlaintext } from '@gateway-launchers/common/response-message';
import type { LauncherConfig } from './config.js';
import { ConnectionFileDir } from './connection-file.js';
import { CommServer, type ControlPerformer } from './comm-server.js';
import type { AuthenticatedControl, ControlAuthenticator } from './control-auth.js';
import { DirectMode } from './direct-mode.js';
import { deliverFailureResponse, failureExitStatus, sealFailureResponse } from './failure-report.js';
import { controlRequest } from './kernel-control-channel.js';
import { KernelProcess, type KernelExit, exitStatusOf } from './kernel-process.js';
import { stopKernelGracefully } from './kernel-stop.js';
import { substituteConnectionFile } from './kernel-argv.js';
import type { LaunchMode, ModeContext, RunningKernel } from './launch-mode.js';
import { kernelAddresses } from '@gateway-launchers/common/local-address';
import { ProxyMode } from './proxy-mode.js';
import { HandoffMode } from './handoff-mode.js';
import { deliverResponse } from './response-delivery.js';
import type { WsControlChannel } from './ws-control-channel.js';
import { LAUNCHER_VERSION } from './version.js';
import { disarmStaleTimers } from './stale-timers.js';

/** The port modes: a new mode is its own file and one line here. */
const MODES: { readonly [M in LauncherConfig['mode']]: (ctx: ModeContext) => LaunchMode } = {
  direct: (ctx) => new DirectMode(ctx),
  proxy: (ctx) => new ProxyMode(ctx),
  handoff: (ctx) => new HandoffMode(ctx),
};

/**
 * What is only needed once the kernel runs — tweetnacl (sealing, control
 * authentication) and `ws` — is loaded after the kernel is spawned, while it
 * boots, so that none of it delays the kernel.
 */
function loadV2() {
  return Promise.all([
    import('@gateway-launchers/common/envelope-v2'),
    import('./control-auth.js'),
    import('./ws-control-channel.js'),
  ]).then(([envelope, auth, ws]) => ({
    ...envelope,
    ControlAuthenticator: auth.ControlAuthenticator,
    WsControlChannel: ws.WsControlChannel,
  }));
}

/** Hooks a host of the launcher (the CLI) can pass. */
export interface LauncherHooks {
  /** Called once the first kernel process is spawned: the moment to load what start-up deferred. */
  readonly kernelSpawned?: () => void;
}

/** Lifecycle states. */
export type LauncherState = 'starting' | 'reporting' | 'running' | 'stopping' | 'exited';

/** Runs one kernel from start to exit. */
export class Launcher implements ControlPerformer {
  #state: LauncherState = 'starting';
  #mode: LaunchMode | undefined;
  /** The current kernel (a mode may replace it), once one was spawned. */
  #kernel: RunningKernel | undefined;
  #comm: CommServer | undefined;
  #ws: WsControlChannel | undefined;
  #stopping: Promise<void> | undefined;
  #stopReason = '';
  #onStop: (reason: string) => void = () => {};
  readonly #stopRequested = new Promise<string>((resolve) => (this.#onStop = resolve));
  readonly #addresses: { bind: string; report: string };
  /** v2: the ephemeral key pair of the sealed response (control requests are sealed to it). */
  #ephemeral: BoxKeyPair | undefined;
  #auth: ControlAuthenticator | undefined;
  #dir: ConnectionFileDir | undefined;
  readonly #kernelEnv: NodeJS.ProcessEnv;
  /** v2: ephemeral key pair and shared key computed while the kernel starts. */
  #prepared: PreparedSeal | undefined;
  #v2Loaded: ReturnType<typeof loadV2> | undefined;
  #spawnedOnce = false;
  /** Aborted by {@link abandonReports}: a failure report still retrying gives up. */
  readonly #reports = new AbortController();

  readonly #config: LauncherConfig;
  readonly #logger: LauncherLogger;
  readonly #hooks: LauncherHooks;
  constructor(config: LauncherConfig, logger: LauncherLogger, env: NodeJS.ProcessEnv = process.env, hooks: LauncherHooks = {}) {
    this.#config = config;
    this.#logger = logger;
    this.#hooks = hooks;
    this.#addresses = kernelAddresses(config.ip, config.reportIp);
    const kernelEnv = { ...env };
    delete kernelEnv.KERNEL_LAUNCH_TOKEN; // a secret the kernel has no use for
    this.#kernelEnv = kernelEnv;
  }

  /** Current lifecycle state. */
  get state(): LauncherState {
    return this.#state;
  }

  /** The protocol v2 modules, loaded on first use. */
  #v2(): ReturnType<typeof loadV2> {
    return (this.#v2Loaded ??= loadV2());
  }

  /** After the first spawn: start loading the deferred modules while the kernel boots. */
  #afterSpawn(): void {
    if (this.#spawnedOnce) return;
    this.#spawnedOnce = true;
    this.#hooks.kernelSpawned?.();
    if (this.#config.listener.protocol === 2) void this.#v2();
  }

  #isStopping(): boolean {
    return this.#state === 'stopping';
  }

  #ms(): number {
    // performance.now() counts from process start: phase times and the launch deadline do too.
    return Math.round(performance.now());
  }

  #phase(event: string, fields: Record<string, unknown> = {}, msg = event.replaceAll('_', ' ')): void {
    this.#logger.info({ event, ms: this.#ms(), ...fields }, msg);
  }

  /** Runs the lifecycle; resolves to the exit status the process should end with. */
  async run(): Promise<number> {
    const deadline = this.#config.launchTimeoutMs;
    try {
      if (this.#config.modeFallback !== undefined)
        this.#logger.warn(
          { event: 'handoff_fallback', reason: this.#config.modeFallback },
          `using direct mode: ${this.#config.modeFallback}`,
        );
      const dir = (this.#dir = new ConnectionFileDir(this.#config.kernelId, this.#config.connectionDir));
      const mode = (this.#mode = MODES[this.#config.mode](this.#modeContext(dir)));
      const started = await mode.start(deadline);
      if (started.kind === 'failed') return await this.#reportFailure(started.exit, started.reason, deadline);
      const { kernel } = started;
      this.#state = 'reporting';
      if ((await this.#reportReady(kernel.process, deadline, started.reported)) === 'kernel-exited') {
        const exit = await kernel.process.exited;
        return await this.#reportFailure(exit, this.#failureReason(kernel.process), deadline);
      }
      if (this.#state === 'reporting') this.#state = 'running';
      disarmStaleTimers();
      return exitStatusOf(await mode.supervise(kernel));
    } catch (e) {
      const err = isGatewayError(e)
        ? e
        : new GatewayError('GL_ERR_KERNEL_START_FAILED', `launcher failed: ${(e as Error).message}`, { cause: e });
      this.#logger.error({ event: 'launcher_failed', code: err.code, err: err.message }, err.message);
      const reported =
        this.#state === 'running' ||
        this.#state === 'stopping' ||
        err.code === 'GL_ERR_RESPONSE_UNDELIVERED' ||
        err.code === 'GL_ERR_RESPONSE_REFUSED';
      await this.stop('launcher failure');
      const exit = this.#kernel?.process.exit;
      // Nothing reached the host yet: tell it why, so it fails in seconds rather than at its timeout.
      if (!reported) await this.#reportFailure(exit, `${err.code}: ${err.message}`, deadline);
      return exit !== undefined && exitStatusOf(exit) !== 0 ? exitStatusOf(exit) : 1;
    } finally {
      await this.#cleanup();
    }
  }

  /** What a mode may use of the launcher. */
  #modeContext(dir: ConnectionFileDir): ModeContext {
    return {
      config: this.#config,
      logger: this.#logger,
      addresses: this.#addresses,
      connectionFile: dir.path,
      stopRequested: this.#stopRequested,
      phase: (event, fields) => this.#phase(event, fields),
      serveControl: (server) => this.#serveControl(server),
      spawnKernel: (connection, fields, options) => this.#spawnKernel(dir, connection, fields, options),
      prepareResponse: () => this.#prepareResponse(),
      isStopping: () => this.#isStopping(),
      stop: (reason) => this.stop(reason),
      stopKernel: (kernel) => this.#stopKernel(kernel),
      kernelExited: (exit) => this.#kernelExited(exit),
    };
  }

  #spawnKernel(
    dir: ConnectionFileDir,
    connection: ConnectionInfo,
    fields: Record<string, unknown> = {},
    options: Parameters<ModeContext['spawnKernel']>[2] = {},
  ): RunningKernel {
    dir.write(connection);
    const process = KernelProcess.spawn(substituteConnectionFile(this.#config.kernelArgv, dir.path), {
      ...options,
      env: this.#kernelEnv,
      watchdog: dir.watchdog,
    });
    const kernel: RunningKernel = { process, connection };
    this.#kernel = kernel;
    // A stop that arrived while ports were being chosen finds this kernel too.
    if (this.#isStopping()) void this.#stopKernel(kernel);
    this.#phase('kernel_spawned', { pid: process.pid, argv0: this.#config.kernelArgv[0], ...fields });
    this.#afterSpawn();
    return kernel;
  }

  async #prepareResponse(): Promise<void> {
    if (this.#config.listener.protocol === 2 && this.#prepared === undefined)
      this.#prepared = (await this.#v2()).prepareSeal(this.#config.listener.publicKey);
  }

  async #kernelExited(exit: KernelExit): Promise<void> {
    this.#phase('kernel_exited', { exit_code: exit.exitCode, signal: exit.signal });
    await this.#ws?.sendEvent({ event: 'kernel_exit', kernel_id: this.#config.kernelId, exit_code: exit.exitCode, signal: exit.signal });
  }

  #serveControl(server: Server): number {
    this.#comm = new CommServer(server, {
      protocol: this.#config.listener.protocol,
      open: (text) => this.#openControl(text),
      target: this,
      logger: this.#logger,
    });
    return this.#comm.port;
  }

  /** Comm port and WebSocket share one authenticator, so one seq order covers both. */
  #openControl(text: string): Result<AuthenticatedControl> {
    if (this.#auth === undefined) return fail('GL_ERR_ENVELOPE_OPEN_FAILED', 'no response has been sealed yet');
    return this.#auth.open(text);
  }

  async #reportReady(kernel: KernelProcess, deadline: number, reported: ConnectionInfo): Promise<'acked' | 'kernel-exited'> {
    const config = this.#config;
    const pid = kernel.pid ?? 0;
    const abort = new AbortController();
    // A kernel the mode replaces by itself (a loopback port clash behind the proxy) does not end the report.
    const fatal = (): boolean => this.#mode?.replacesExitedKernel?.() !== true;
    void kernel.exited.then(() => {
      if (fatal()) abort.abort();
    });
    let text: string;
    if (config.listener.protocol === 2) {
      const plaintext: ResponsePlaintext = {
        kernel_id: config.kernelId,
        token: config.listener.launchToken,
        conn_info: reported,
        comm_port: this.#comm!.port,
        pid,
        pgid: pid,
        mode: config.mode,
        launcher_version: LAUNCHER_VERSION,
      };
      const v2 = await this.#v2();
      const sealed = v2.sealResponse(plaintext, config.listener.publicKey, this.#prepared);
      this.#prepared = undefined;
      this.#ephemeral = sealed.ephemeral;
      this.#auth = new v2.ControlAuthenticator(config.kernelId, config.listener.publicKey, sealed.ephemeral.secretKey);
      text = sealed.text;
    } else {
      text = sealV1({ ...reported, pid, pgid: pid, comm_port: this.#comm!.port, kernel_id: config.kernelId }, config.listener.publicKey);
    }
    try {
      const delivery = await deliverResponse({
        address: config.responseAddress,
        protocol: config.listener.protocol,
        text,
        deadline,
        signal: abort.signal,
        logger: this.#logger,
      });
      // Acknowledged: from here a kernel exit is reported as such (kernel_exit), not as a failed start.
      this.#phase('response_acked', {
        attempts: delivery.attempts,
        protocol: config.listener.protocol,
        ...(delivery.acceptedEarlier === true ? { ack_lost: true } : {}),
      });
      if (config.listener.protocol === 2 && config.responseAddress.scheme !== 'tcp') {
        this.#ws = new (await this.#v2()).WsControlChannel(
          delivery.ws,
          {
            kernelId: config.kernelId,
            address: config.responseAddress,
            listenerPublicKey: config.listener.publicKey,
            ephemeral: this.#ephemeral!,
            open: (t) => this.#openControl(t),
            target: this,
            logger: this.#logger,
          },
          delivery.early,
        );
      }
      return 'acked';
    } catch (e) {
      if (!kernel.running && fatal()) return 'kernel-exited';
      throw e;
    }
  }

  /** Why a kernel ended before its response was acknowledged: a stop the launcher was asked for, or the kernel's own stderr. */
  #failureReason(kernel: KernelProcess): string {
    const tail = kernel.stderrTail();
    return this.#isStopping() ? `the launcher was stopped (${this.#stopReason}) before the host acknowledged the response\n${tail}` : tail;
  }

  /** Sends the failure response (v2; v1 has none, the host finds out by its own timeout); resolves the exit status. */
  async #reportFailure(exit: KernelExit | undefined, reason: string, deadline: number): Promise<number> {
    const config = this.#config;
    const { listener } = config;
    const status = failureExitStatus(exit);
    if (listener.protocol === 1) return status;
    const { sealResponse } = await this.#v2();
    const pid = this.#kernel?.process.pid ?? 0;
    const text = sealFailureResponse(
      { kernelId: config.kernelId, launchToken: listener.launchToken, mode: config.mode, exit, reason, pid },
      (plaintext) => sealResponse(plaintext, listener.publicKey).text,
    );
    if (
      await deliverFailureResponse({ address: config.responseAddress, text, deadline, signal: this.#reports.signal, logger: this.#logger })
    ) {
      this.#phase('failure_reported', { exit_code: exit?.exitCode ?? null, signal: exit?.signal ?? null });
    }
    return status;
  }

  /** Performs a v2 control action. */
  async perform(action: ControlAction, via: ControlRoute): Promise<ControlReply> {
    const reply = await this.#performAction(action, via);
    const activity = this.#mode?.activity?.();
    if (activity === undefined) return reply;
    const { last_activity, execution_state } = activity;
    return { ...reply, ...(last_activity === null ? {} : { last_activity }), ...(execution_state === null ? {} : { execution_state }) };
  }

  async #performAction(action: ControlAction, via: ControlRoute): Promise<ControlReply> {
    const kernel = this.#kernel;
    this.#logger.info({ event: 'control_request', via, action: Object.keys(action)[0] }, 'control request');
    if ('shutdown' in action) {
      void this.stop('shutdown request');
      return { ok: true };
    }
    if (kernel === undefined || !kernel.process.running) return { ok: false, error: 'GL_ERR_KERNEL_EXITED' };
    if ('restart' in action) return (await this.#mode?.restart?.(kernel)) ?? { ok: false, error: 'GL_ERR_CONTROL_REQUEST_INVALID' };
    if ('signal' in action) return { ok: kernel.process.signalGroup(action.signal) };
    return { ok: await this.#interrupt(kernel) };
  }

  async #interrupt(kernel: RunningKernel): Promise<boolean> {
    if (this.#config.interruptMode === 'message') {
      return controlRequest(kernel.connection, kernel.connection.ip, 'interrupt_request', {}, 2_000);
    }
    const ok = kernel.process.signalGroup(this.#config.interruptSignal);
    // Only the kernel has the job-cancelling handler; its children (a JVM, a shell) would die of SIGUSR2.
    if (ok && this.#sparkJobsCancellable()) kernel.process.signalKernel('SIGUSR2');
    return ok;
  }

  #sparkJobsCancellable(): boolean {
    return this.#config.clusterType === 'spark' && this.#config.sparkInitMode !== 'none';
  }

  /** Performs a v1 comm-port request (GP host). */
  async performV1(request: V1Request): Promise<void> {
    if ('shutdown' in request) {
      this.#logger.info({ event: 'control_request', via: 'comm-port', action: 'shutdown', protocol: 1 }, 'control request');
      void this.stop('v1 shutdown request');
      return;
    }
    if (request.signum === 0) return; // liveness poll, answered by the accepted connection itself
    this.#logger.info({ event: 'control_request', via: 'comm-port', signum: request.signum, protocol: 1 }, 'control request');
    const kernel = this.#kernel?.process;
    if (kernel === undefined) return;
    kernel.signalGroup(request.signum === 2 ? this.#config.interruptSignal : request.signum);
    if (request.signum === 2 && this.#sparkJobsCancellable()) kernel.signalKernel('SIGUSR2');
  }

  /**
   * Stops the kernel gracefully: `shutdown_request` on the control channel,
   * then SIGTERM, then SIGKILL, each after the grace period. Idempotent.
   */
  stop(reason: string): Promise<void> {
    if (this.#stopping !== undefined) return this.#stopping;
    const previous = this.#state;
    this.#state = 'stopping';
    this.#logger.info({ event: 'stopping', reason, from: previous }, 'stopping kernel');
    this.#stopReason = reason;
    this.#onStop(reason);
    this.#stopping = this.#stopKernel(this.#kernel);
    return this.#stopping;
  }

  async #stopKernel(kernel: RunningKernel | undefined): Promise<void> {
    if (kernel === undefined) return;
    await stopKernelGracefully(kernel.process, {
      info: kernel.connection,
      bindIp: kernel.connection.ip,
      graceMs: this.#config.shutdownGraceMs,
      logger: this.#logger,
    });
  }

  async #cleanup(): Promise<void> {
    const pid = this.#kernel?.process.pid;
    if (pid !== undefined) {
      // Whatever the kernel left behind in its group goes with it: no orphans.
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // group already empty
      }
    }
    await Promise.all([this.#ws?.close(), this.#comm?.close()]);
    this.#mode?.close();
    this.#dir?.remove();
    this.#state = 'exited';
    this.#phase('launcher_exit');
  }

  /** Gives up a failure report that is still retrying (the CLI calls it a shutdown grace after a stop signal). */
  abandonReports(): void {
    this.#reports.abort();
  }

  /** Emergency path (uncaught error): kill the kernel group and remove the file, synchronously. */
  abort(): void {
    const pid = this.#kernel?.process.pid;
    if (pid !== undefined) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    this.#dir?.remove();
  }
}
