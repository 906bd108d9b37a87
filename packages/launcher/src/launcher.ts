/**
 * The launcher's lifecycle, as an explicit state machine:
 *
 * `starting` (ports, connection file, kernel, readiness) → `reporting`
 * (sealed response until acknowledged) → `running` (control, supervision) →
 * `stopping` → `exited`. A kernel that dies before `running` turns into a
 * failure response; a kernel that dies at start because a port was taken
 * under it is started again on fresh ports.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:net';
import { type ConnectionInfo, kernelPortsOf, tcpConnectionInfo } from '@gateway-launchers/common/connection-info';
import type { ControlAction, ControlReply, V1Request } from '@gateway-launchers/common/control-message';
import { sealV1 } from '@gateway-launchers/common/envelope-v1';
import type { BoxKeyPair, PreparedSeal } from '@gateway-launchers/common/envelope-v2';
import { type Result, GatewayError, fail, isGatewayError } from '@gateway-launchers/common/errors';
import { MAX_PORT_CLASH_RETRIES, MAX_RESPONSE_BYTES, STDERR_TAIL_BYTES } from '@gateway-launchers/common/limits';
import type { LauncherLogger } from './deferred-logger.js';
import { ANY_PORT_RANGE } from '@gateway-launchers/common/port-range';
import type { ResponsePlaintext } from '@gateway-launchers/common/response-message';
import type { LauncherConfig } from './config.js';
import { ConnectionFileDir } from './connection-file.js';
import { CommServer, type ControlTarget } from './comm-server.js';
import type { AuthenticatedControl, ControlAuthenticator } from './control-auth.js';
import { controlRequest } from './kernel-control-channel.js';
import { KernelProcess, type KernelExit, exitStatusOf } from './kernel-process.js';
import { procAvailable, waitUntilListening } from './kernel-readiness.js';
import { stopKernelGracefully } from './kernel-stop.js';
import { substituteConnectionFile } from './kernel-argv.js';
import { kernelAddresses } from './network.js';
import { selectPorts } from './port-selector.js';
import { deliverResponse } from './response-delivery.js';
import type { WsControlChannel } from './ws-control-channel.js';
import type { KernelProxy } from './kernel-proxy.js';
import { LAUNCHER_VERSION } from './version.js';

/**
 * What is only needed once the kernel runs — tweetnacl (sealing, control
 * authentication) and `ws` — is loaded after the kernel is spawned, while it
 * boots, so that none of it delays the kernel.
 */
function loadV2() {
  return Promise.all([import('@gateway-launchers/common/envelope-v2'), import('./control-auth.js'), import('./ws-control-channel.js')]).then(([envelope, auth, ws]) => ({
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

/** Extra time a failure response gets past the launch deadline. */
const FAILURE_REPORT_GRACE_MS = 5_000;

const PORT_CLASH_RE = /Address already in use|EADDRINUSE/i;
/** Proxy mode: where the kernel binds, behind the relay. */
const PROXY_KERNEL_HOST = '127.0.0.1';
/** Proxy mode: longest wait for a restart to put a new kernel behind the ports, on top of three shutdown grace periods. */
const RESTART_TIMEOUT_MS = 30_000;
/** Proxy mode: a kernel that dies of a port clash within this long of its start is started again on fresh loopback ports. */
const CLASH_WINDOW_MS = 30_000;

/** Runs one kernel from start to exit. */
export class Launcher implements ControlTarget {
  #state: LauncherState = 'starting';
  #kernel: KernelProcess | undefined;
  #info: ConnectionInfo | undefined;
  #comm: CommServer | undefined;
  #ws: WsControlChannel | undefined;
  #stopping: Promise<void> | undefined;
  readonly #addresses: { bind: string; report: string };
  /** v2: the ephemeral key pair of the sealed response (control requests are sealed to it). */
  #ephemeral: BoxKeyPair | undefined;
  #auth: ControlAuthenticator | undefined;
  #dir: ConnectionFileDir | undefined;
  readonly #kernelEnv: NodeJS.ProcessEnv;
  /** Proxy mode: the relay behind the public ports. */
  #proxy: KernelProxy | undefined;
  /** Address the kernel binds: the public one in direct mode, loopback behind the proxy. */
  #kernelBindIp: string;
  /** Proxy mode: a restart request waiting for the next kernel to be spawned. */
  #restartWaiter: ((ok: boolean) => void) | undefined;
  #crashRestarts = 0;
  #stopReason = '';
  /** Proxy mode: whether the current kernel has been seen listening (a later port clash is not a start-up clash). */
  #kernelReady = false;
  /** v2: ephemeral key pair and shared key computed while the kernel starts. */
  #prepared: PreparedSeal | undefined;

  constructor(
    private readonly config: LauncherConfig,
    private readonly logger: LauncherLogger,
    env: NodeJS.ProcessEnv = process.env,
    private readonly hooks: LauncherHooks = {},
  ) {
    this.#addresses = kernelAddresses(config.ip);
    this.#kernelBindIp = config.mode === 'proxy' ? PROXY_KERNEL_HOST : this.#addresses.bind;
    const kernelEnv = { ...env };
    delete kernelEnv.KERNEL_LAUNCH_TOKEN; // a secret the kernel has no use for
    this.#kernelEnv = kernelEnv;
  }

  /** Current lifecycle state. */
  get state(): LauncherState {
    return this.#state;
  }

  #v2Loaded: ReturnType<typeof loadV2> | undefined;
  #spawnedOnce = false;

  /** The protocol v2 modules, loaded on first use. */
  #v2(): ReturnType<typeof loadV2> {
    return (this.#v2Loaded ??= loadV2());
  }

  /** After the first spawn: start loading the deferred modules while the kernel boots. */
  #afterSpawn(): void {
    if (this.#spawnedOnce) return;
    this.#spawnedOnce = true;
    this.hooks.kernelSpawned?.();
    if (this.config.listener.protocol === 2) void this.#v2();
  }

  #isStopping(): boolean {
    return this.#state === 'stopping';
  }

  #ms(): number {
    // performance.now() counts from process start: phase times and the launch deadline do too.
    return Math.round(performance.now());
  }

  #phase(event: string, fields: Record<string, unknown> = {}, msg = event.replaceAll('_', ' ')): void {
    this.logger.info({ event, ms: this.#ms(), ...fields }, msg);
  }

  /** Runs the lifecycle; resolves to the exit status the process should end with. */
  async run(): Promise<number> {
    const deadline = this.config.launchTimeoutMs;
    try {
      this.#dir = new ConnectionFileDir(this.config.kernelId, this.config.connectionDir);
      if (this.config.mode === 'proxy') return await this.#runProxy(deadline);
      const started = await this.#startKernel(deadline);
      if (started.kind !== 'ready') {
        return await this.#reportFailure(started.exit, started.reason, deadline);
      }
      const kernel = started.kernel;
      this.#state = 'reporting';
      const delivered = await this.#reportReady(kernel, deadline, { ...this.#info!, ip: this.#addresses.report });
      if (delivered === 'kernel-exited') {
        const exit = await kernel.exited;
        return await this.#reportFailure(exit, this.#failureReason(kernel), deadline);
      }
      if (this.#state === 'reporting') this.#state = 'running';
      const exit = await kernel.exited;
      this.#phase('kernel_exited', { exit_code: exit.exitCode, signal: exit.signal });
      await this.#ws?.sendEvent({ event: 'kernel_exit', kernel_id: this.config.kernelId, exit_code: exit.exitCode, signal: exit.signal });
      return exitStatusOf(exit);
    } catch (e) {
      const err = isGatewayError(e) ? e : new GatewayError('GL_ERR_KERNEL_START_FAILED', `launcher failed: ${(e as Error).message}`, { cause: e });
      this.logger.error({ event: 'launcher_failed', code: err.code, err: err.message }, err.message);
      const reported = this.#state === 'running' || this.#state === 'stopping' || err.code === 'GL_ERR_RESPONSE_UNDELIVERED' || err.code === 'GL_ERR_RESPONSE_REFUSED';
      await this.stop('launcher failure');
      const exit = this.#kernel?.exit;
      // Nothing reached the host yet: tell it why, so it fails in seconds rather than at its timeout.
      if (!reported) await this.#reportFailure(exit, `${err.code}: ${err.message}`, deadline);
      return exit !== undefined && exitStatusOf(exit) !== 0 ? exitStatusOf(exit) : 1;
    } finally {
      await this.#cleanup();
    }
  }

  async #startKernel(deadline: number): Promise<
    | { kind: 'ready'; kernel: KernelProcess }
    | { kind: 'failed'; exit: KernelExit | undefined; reason: string }
  > {
    const { config } = this;
    const key = randomUUID();
    const exclude = new Set<number>();
    let commServer: Server | undefined;
    const useProc = await procAvailable();
    for (let attempt = 0; ; attempt++) {
      let held;
      try {
        held = await selectPorts({ host: this.#addresses.bind, range: config.portRange, count: commServer === undefined ? 6 : 5, exclude });
      } catch (e) {
        if (isGatewayError(e, 'GL_ERR_PORT_RANGE_EXHAUSTED')) {
          this.logger.error({ event: 'ports_exhausted', code: e.code }, e.message);
          return { kind: 'failed', exit: undefined, reason: e.message };
        }
        throw e;
      }
      if (commServer === undefined) {
        commServer = held.servers[5] as Server;
        this.#startCommServer(commServer);
      }
      const info = tcpConnectionInfo(held.ports.slice(0, 5), this.#addresses.bind, key, config.kernelName);
      this.#info = info;
      this.#dir!.write(info);
      await held.release([commServer]);
      this.#phase('ports_selected', { ports: held.ports.slice(0, 5), comm_port: this.#comm?.port, attempt, connection_file: this.#dir!.path });
      if (this.#isStopping()) return { kind: 'failed', exit: undefined, reason: 'launcher stopped before the kernel started' };
      const kernel = KernelProcess.spawn(substituteConnectionFile(config.kernelArgv, this.#dir!.path), { env: this.#kernelEnv, watchdog: this.#dir!.watchdog });
      this.#kernel = kernel;
      if (this.#isStopping()) void this.#stopKernel(kernel);
      this.#phase('kernel_spawned', { pid: kernel.pid, argv0: config.kernelArgv[0] });
      // The slow, key-agreement half of sealing runs while the kernel boots.
      this.#afterSpawn();
      if (config.listener.protocol === 2 && this.#prepared === undefined) this.#prepared = (await this.#v2()).prepareSeal(config.listener.publicKey);
      const outcome = await this.#waitReady(kernel, info, deadline, useProc);
      if (outcome === 'ready') {
        this.#phase('kernel_ready');
        return { kind: 'ready', kernel };
      }
      if (outcome === 'timeout') {
        const reason = `kernel did not listen on its ports within the launch timeout (${config.launchTimeoutMs} ms)`;
        this.logger.error({ event: 'kernel_not_ready', code: 'GL_ERR_KERNEL_NOT_READY' }, reason);
        await this.stop('kernel not ready');
        return { kind: 'failed', exit: kernel.exit, reason: `${reason}\n${kernel.stderrTail()}` };
      }
      const exit = await kernel.exited;
      const tail = kernel.stderrTail();
      if (!this.#isStopping() && PORT_CLASH_RE.test(tail) && attempt < MAX_PORT_CLASH_RETRIES) {
        for (const p of kernelPortsOf(info)) exclude.add(p);
        this.logger.warn({ event: 'port_clash_retry', attempt: attempt + 1 }, 'a kernel port was taken before the kernel bound it; retrying on fresh ports');
        continue;
      }
      this.logger.error({ event: 'kernel_exited_early', exit_code: exit.exitCode, signal: exit.signal, spawn_error: exit.spawnError }, 'kernel exited before it was ready');
      return { kind: 'failed', exit, reason: tail };
    }
  }

  #waitReady(kernel: KernelProcess, info: ConnectionInfo, deadline: number, useProc: boolean): Promise<'ready' | 'exited' | 'timeout'> {
    return waitUntilListening(kernel, kernelPortsOf(info), this.#kernelBindIp, deadline, useProc);
  }

  #startCommServer(server: Server): void {
    this.#comm = new CommServer(server, {
      protocol: this.config.listener.protocol,
      open: (text) => this.#openControl(text),
      target: this,
      logger: this.logger,
    });
  }

  /** Comm port and WebSocket share one authenticator, so one seq order covers both. */
  #openControl(text: string): Result<AuthenticatedControl> {
    if (this.#auth === undefined) return fail('GL_ERR_ENVELOPE_OPEN_FAILED', 'no response has been sealed yet');
    return this.#auth.open(text);
  }

  async #reportReady(kernel: KernelProcess, deadline: number, reported: ConnectionInfo): Promise<'acked' | 'kernel-exited'> {
    const { config } = this;
    const pid = kernel.pid ?? 0;
    const abort = new AbortController();
    void kernel.exited.then(() => abort.abort());
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
        logger: this.logger,
      });
      // Acknowledged: from here a kernel exit is reported as such (kernel_exit), not as a failed start.
      this.#phase('response_acked', { attempts: delivery.attempts, protocol: config.listener.protocol, ...(delivery.acceptedEarlier === true ? { ack_lost: true } : {}) });
      if (config.listener.protocol === 2 && config.responseAddress.scheme !== 'tcp') {
        this.#ws = new (await this.#v2()).WsControlChannel(delivery.ws, {
          kernelId: config.kernelId,
          address: config.responseAddress,
          listenerPublicKey: config.listener.publicKey,
          ephemeral: this.#ephemeral!,
          open: (t) => this.#openControl(t),
          target: this,
          logger: this.logger,
        }, delivery.early);
      }
      return 'acked';
    } catch (e) {
      if (!kernel.running) return 'kernel-exited';
      throw e;
    }
  }

  /** Why a kernel ended before its response was acknowledged: a stop the launcher was asked for, or the kernel's own stderr. */
  #failureReason(kernel: KernelProcess): string {
    const tail = kernel.stderrTail();
    return this.#isStopping() ? `the launcher was stopped (${this.#stopReason}) before the host acknowledged the response\n${tail}` : tail;
  }

  async #reportFailure(exit: KernelExit | undefined, reason: string, deadline: number): Promise<number> {
    const { config } = this;
    const status = exit === undefined ? 1 : exitStatusOf(exit) === 0 ? 1 : exitStatusOf(exit);
    if (config.listener.protocol === 1) {
      // v1 has no failure response; the host finds out by its own timeout.
      return status;
    }
    const v2 = await this.#v2();
    // Control characters escape to six bytes each in JSON; keep the tail printable and the sealed text within the listener's limit.
    let tail = reason.replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '\uFFFD').slice(-STDERR_TAIL_BYTES);
    let plaintext: ResponsePlaintext;
    let sealed;
    for (;;) {
      plaintext = {
        kernel_id: config.kernelId,
        token: config.listener.launchToken,
        failure: { exit_code: exit?.exitCode ?? null, signal: exit?.signal ?? null, stderr_tail: tail },
        pid: this.#kernel?.pid ?? 0,
        pgid: this.#kernel?.pid ?? 0,
        mode: config.mode,
        launcher_version: LAUNCHER_VERSION,
      };
      sealed = v2.sealResponse(plaintext, config.listener.publicKey);
      if (Buffer.byteLength(sealed.text) < MAX_RESPONSE_BYTES || tail.length === 0) break;
      tail = tail.slice(Math.floor(tail.length / 2));
    }
    try {
      const d = await deliverResponse({
        address: config.responseAddress,
        protocol: 2,
        text: sealed.text,
        deadline: Math.max(deadline, performance.now() + FAILURE_REPORT_GRACE_MS),
        logger: this.logger,
      });
      d.ws?.terminate();
      this.#phase('failure_reported', { exit_code: exit?.exitCode ?? null, signal: exit?.signal ?? null });
    } catch (e) {
      this.logger.error({ event: 'failure_unreported', code: isGatewayError(e) ? e.code : 'unknown' }, `failure response not delivered: ${(e as Error).message}`);
    }
    return status;
  }

  /**
   * Proxy mode: bind the public sockets (the reservation), start the kernel
   * behind them on loopback, report at once, then supervise: restarts in
   * place, crash restarts (`--restart-on-crash`) and port clashes on loopback
   * keep the public ports and the key.
   */
  async #runProxy(deadline: number): Promise<number> {
    const { config } = this;
    const key = randomUUID();
    let commServer: Server;
    try {
      const held = await selectPorts({ host: this.#addresses.bind, range: config.portRange, count: 1 });
      commServer = held.servers[0] as Server;
      this.#startCommServer(commServer);
      // zeromq (native addon, I/O threads) is loaded only in proxy mode.
      const { KernelProxy } = await import('./kernel-proxy.js');
      this.#proxy = await KernelProxy.bind({ host: this.#addresses.bind, range: config.portRange, exclude: new Set(held.ports) });
    } catch (e) {
      if (!isGatewayError(e, 'GL_ERR_PORT_RANGE_EXHAUSTED')) throw e;
      this.logger.error({ event: 'ports_exhausted', code: e.code }, e.message);
      return this.#reportFailure(undefined, e.message, deadline);
    }
    const pub = this.#proxy.publicPorts;
    this.#phase('ports_selected', { ports: [pub.shell, pub.iopub, pub.stdin, pub.control, pub.hb], comm_port: this.#comm?.port, mode: 'proxy', connection_file: this.#dir!.path });
    let kernel = await this.#spawnBehindProxy(key, undefined);
    const reported = tcpConnectionInfo([pub.shell, pub.iopub, pub.stdin, pub.control, pub.hb], this.#addresses.report, key, config.kernelName);
    this.#state = 'reporting';
    if ((await this.#reportReady(kernel, deadline, reported)) === 'kernel-exited') {
      const exit = await kernel.exited;
      return this.#reportFailure(exit, this.#failureReason(kernel), deadline);
    }
    if (!this.#isStopping()) this.#state = 'running';
    let clashRetries = 0;
    for (;;) {
      const startedAt = performance.now();
      const exit = await kernel.exited;
      if (this.#isStopping()) {
        this.#phase('kernel_exited', { exit_code: exit.exitCode, signal: exit.signal });
        await this.#ws?.sendEvent({ event: 'kernel_exit', kernel_id: config.kernelId, exit_code: exit.exitCode, signal: exit.signal });
        return exitStatusOf(exit);
      }
      const waiter = this.#restartWaiter;
      if (waiter !== undefined) {
        this.#restartWaiter = undefined;
        kernel = await this.#spawnBehindProxy(key, this.#info);
        this.#phase('kernel_restarted', { reason: 'restart request' });
        waiter(true);
        continue;
      }
      if (!this.#kernelReady && PORT_CLASH_RE.test(kernel.stderrTail()) && performance.now() - startedAt < CLASH_WINDOW_MS && clashRetries < MAX_PORT_CLASH_RETRIES) {
        clashRetries++;
        this.logger.warn({ event: 'port_clash_retry', attempt: clashRetries }, 'a loopback kernel port was taken; restarting the kernel on fresh ports behind the same public ports');
        kernel = await this.#spawnBehindProxy(key, undefined);
        continue;
      }
      this.#phase('kernel_exited', { exit_code: exit.exitCode, signal: exit.signal });
      await this.#ws?.sendEvent({ event: 'kernel_exit', kernel_id: config.kernelId, exit_code: exit.exitCode, signal: exit.signal });
      if (this.#crashRestarts < config.restartOnCrash) {
        this.#crashRestarts++;
        this.logger.warn({ event: 'kernel_crash_restart', restart: this.#crashRestarts, of: config.restartOnCrash }, 'kernel crashed; restarting it behind the same ports');
        kernel = await this.#spawnBehindProxy(key, this.#info);
        continue;
      }
      return exitStatusOf(exit);
    }
  }

  /** Starts a kernel on loopback ports (`previous`, when given and still free, else fresh ones) and points the relay at it. */
  async #spawnBehindProxy(key: string, previous: ConnectionInfo | undefined): Promise<KernelProcess> {
    let ports: number[];
    const reuse = previous === undefined ? undefined : kernelPortsOf(previous);
    try {
      const held = await selectPorts(reuse === undefined ? { host: PROXY_KERNEL_HOST, range: ANY_PORT_RANGE, count: 5 } : { host: PROXY_KERNEL_HOST, range: ANY_PORT_RANGE, count: 5, only: reuse });
      ports = [...held.ports];
      await held.release();
    } catch {
      const held = await selectPorts({ host: PROXY_KERNEL_HOST, range: ANY_PORT_RANGE, count: 5 });
      ports = [...held.ports];
      await held.release();
    }
    const info = tcpConnectionInfo(ports, PROXY_KERNEL_HOST, key, this.config.kernelName);
    this.#info = info;
    this.#kernelReady = false;
    this.#dir!.write(info);
    this.#proxy!.resetState();
    this.#proxy!.connectBackend({ shell: info.shell_port, iopub: info.iopub_port, stdin: info.stdin_port, control: info.control_port, hb: info.hb_port }, PROXY_KERNEL_HOST);
    const kernel = KernelProcess.spawn(substituteConnectionFile(this.config.kernelArgv, this.#dir!.path), { env: this.#kernelEnv, watchdog: this.#dir!.watchdog });
    this.#kernel = kernel;
    this.#afterSpawn();
    // A stop that arrived while ports were being chosen finds this kernel too.
    if (this.#isStopping()) void this.#stopKernel(kernel);
    this.#phase('kernel_spawned', { pid: kernel.pid, argv0: this.config.kernelArgv[0], kernel_ports: ports });
    // The response does not wait for readiness here; operators still see when the kernel listens.
    void procAvailable()
      .then((useProc) => this.#waitReady(kernel, info, performance.now() + this.config.launchTimeoutMs, useProc))
      .then((outcome) => {
        if (outcome !== 'ready' || this.#kernel !== kernel) return;
        this.#kernelReady = true;
        this.#phase('kernel_ready', { pid: kernel.pid });
      });
    return kernel;
  }

  /** Proxy mode: replace the kernel process behind the same public ports and key. */
  async #restartInPlace(kernel: KernelProcess): Promise<ControlReply> {
    if (this.#proxy === undefined) return { ok: false, error: 'GL_ERR_CONTROL_REQUEST_INVALID' };
    if (this.#restartWaiter !== undefined || this.#isStopping()) return { ok: false, error: 'GL_ERR_CONTROL_REQUEST_INVALID' };
    const restarted = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.#restartWaiter = undefined;
        resolve(false);
      }, RESTART_TIMEOUT_MS + 3 * this.config.shutdownGraceMs);
      this.#restartWaiter = (ok) => {
        clearTimeout(timer);
        resolve(ok);
      };
    });
    await this.#stopKernel(kernel);
    const ok = await restarted;
    return ok ? { ok: true } : { ok: false, error: 'GL_ERR_KERNEL_EXITED' };
  }

  /** Performs a v2 control action. */
  async perform(action: ControlAction, via: 'comm' | 'ws'): Promise<ControlReply> {
    const reply = await this.#performAction(action, via);
    if (this.#proxy === undefined) return reply;
    const { last_activity, execution_state } = this.#proxy.activity();
    return { ...reply, ...(last_activity === null ? {} : { last_activity }), ...(execution_state === null ? {} : { execution_state }) };
  }

  async #performAction(action: ControlAction, via: 'comm' | 'ws'): Promise<ControlReply> {
    const kernel = this.#kernel;
    this.logger.info({ event: 'control_request', via, action: Object.keys(action)[0] }, 'control request');
    if ('shutdown' in action) {
      void this.stop('shutdown request');
      return { ok: true };
    }
    if (kernel === undefined || !kernel.running) return { ok: false, error: 'GL_ERR_KERNEL_EXITED' };
    if ('restart' in action) return this.#restartInPlace(kernel);
    if ('signal' in action) return { ok: kernel.signalGroup(action.signal) };
    return { ok: await this.#interrupt(kernel) };
  }

  async #interrupt(kernel: KernelProcess): Promise<boolean> {
    if (this.config.interruptMode === 'message' && this.#info !== undefined) {
      return controlRequest(this.#info, this.#kernelBindIp, 'interrupt_request', {}, 2_000);
    }
    const ok = kernel.signalGroup('SIGINT');
    // Only the kernel has the job-cancelling handler; its children (a JVM, a shell) would die of SIGUSR2.
    if (ok && this.#sparkJobsCancellable()) kernel.signalKernel('SIGUSR2');
    return ok;
  }

  #sparkJobsCancellable(): boolean {
    return this.config.clusterType === 'spark' && this.config.sparkInitMode !== 'none';
  }

  /** Performs a v1 comm-port request (GP host). */
  async performV1(request: V1Request): Promise<void> {
    if ('shutdown' in request) {
      this.logger.info({ event: 'control_request', via: 'comm', action: 'shutdown', protocol: 1 }, 'control request');
      void this.stop('v1 shutdown request');
      return;
    }
    if (request.signum === 0) return; // liveness poll, answered by the accepted connection itself
    this.logger.info({ event: 'control_request', via: 'comm', signum: request.signum, protocol: 1 }, 'control request');
    const kernel = this.#kernel;
    if (kernel === undefined) return;
    kernel.signalGroup(request.signum);
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
    this.logger.info({ event: 'stopping', reason, from: previous }, 'stopping kernel');
    this.#stopReason = reason;
    this.#restartWaiter?.(false);
    this.#restartWaiter = undefined;
    this.#stopping = this.#stopKernel(this.#kernel);
    return this.#stopping;
  }

  async #stopKernel(kernel: KernelProcess | undefined): Promise<void> {
    if (kernel === undefined) return;
    await stopKernelGracefully(kernel, { info: this.#info, bindIp: this.#kernelBindIp, graceMs: this.config.shutdownGraceMs, logger: this.logger });
  }

  async #cleanup(): Promise<void> {
    const pid = this.#kernel?.pid;
    if (pid !== undefined) {
      // Whatever the kernel left behind in its group goes with it: no orphans.
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // group already empty
      }
    }
    await Promise.all([this.#ws?.close(), this.#comm?.close()]);
    this.#proxy?.close();
    this.#dir?.remove();
    this.#state = 'exited';
    this.#phase('launcher_exit');
  }

  /** Emergency path (uncaught error): kill the kernel group and remove the file, synchronously. */
  abort(): void {
    const pid = this.#kernel?.pid;
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
