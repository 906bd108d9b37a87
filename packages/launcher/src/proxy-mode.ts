/**
 * Proxy mode, the supervisor behind the relay: the launcher binds the public
 * ports itself (the bind is the reservation), starts the kernel on loopback
 * ports behind a relay, and the response goes out at once. Afterwards it
 * supervises: a restart request, a crash (`--restart-on-crash`) or a port
 * clash on loopback starts a new kernel behind the same public ports and key.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:net';
import { type ConnectionInfo, kernelPortsOf, tcpConnectionInfo } from '@gateway-launchers/common/connection-info';
import type { ControlReply } from '@gateway-launchers/common/control-message';
import { isGatewayError } from '@gateway-launchers/common/errors';
import { MAX_PORT_CLASH_RETRIES } from '@gateway-launchers/common/limits';
import { ANY_PORT_RANGE } from '@gateway-launchers/common/port-range';
import type { KernelExit } from './kernel-process.js';
import type { KernelProxy } from './kernel-proxy.js';
import { procAvailable, waitUntilListening } from './kernel-readiness.js';
import { killOnPortClash } from './port-clash.js';
import { type LaunchMode, type ModeActivity, type ModeContext, type ModeStart, type RunningKernel, PORT_CLASH_RE } from './launch-mode.js';
import { selectPorts } from './port-selector.js';

/** Where the kernel binds, behind the relay. */
const PROXY_KERNEL_HOST = '127.0.0.1';
/** Longest wait for a restart to put a new kernel behind the ports, on top of three shutdown grace periods. */
const RESTART_TIMEOUT_MS = 30_000;
/** A kernel that dies of a port clash within this long of its start is started again on fresh loopback ports. */
const CLASH_WINDOW_MS = 120_000;

/** One kernel behind the relay. */
interface Backend {
  readonly kernel: RunningKernel;
  /** Set once the kernel is seen listening: a later port clash is not a start-up clash. */
  listening: boolean;
  /** `performance.now()` at its spawn. */
  readonly spawnedAt: number;
}

/** The kernel runs behind a relay on the public ports; see the module comment. */
export class ProxyMode implements LaunchMode {
  readonly #key = randomUUID();
  #proxy: KernelProxy | undefined;
  #backend: Backend | undefined;
  /** A restart request waiting for the next kernel to be spawned. */
  #restartWaiter: ((ok: boolean) => void) | undefined;
  #crashRestarts = 0;
  #clashRetries = 0;

  readonly #ctx: ModeContext;
  constructor(ctx: ModeContext) {
    this.#ctx = ctx;
    void ctx.stopRequested.then(() => {
      this.#restartWaiter?.(false);
      this.#restartWaiter = undefined;
    });
  }

  async start(): Promise<ModeStart> {
    const ctx = this.#ctx;
    const { config, addresses } = ctx;
    let commPort: number;
    let proxy: KernelProxy;
    try {
      const held = await selectPorts({ host: addresses.bind, range: config.portRange, count: 1 });
      commPort = ctx.serveControl(held.servers[0] as Server);
      // zeromq (native addon, I/O threads) is loaded only in proxy mode.
      const { KernelProxy } = await import('./kernel-proxy.js');
      proxy = this.#proxy = await KernelProxy.bind({
        host: addresses.bind,
        range: config.portRange,
        exclude: new Set(held.ports),
        key: this.#key,
      });
    } catch (e) {
      if (!isGatewayError(e, 'GL_ERR_PORT_RANGE_EXHAUSTED')) throw e;
      ctx.logger.error({ event: 'ports_exhausted', code: e.code }, e.message);
      return { kind: 'failed', exit: undefined, reason: e.message };
    }
    const pub = proxy.publicPorts;
    const ports = [pub.shell, pub.iopub, pub.stdin, pub.control, pub.hb];
    ctx.phase('ports_selected', { ports, comm_port: commPort, mode: 'proxy', connection_file: ctx.connectionFile });
    const backend = await this.#spawnBehindProxy(undefined);
    return { kind: 'started', kernel: backend.kernel, reported: tcpConnectionInfo(ports, addresses.report, this.#key, config.kernelName) };
  }

  async supervise(): Promise<KernelExit> {
    const ctx = this.#ctx;
    for (;;) {
      const backend = this.#backend as Backend;
      const exit = await backend.kernel.process.exited;
      if (ctx.isStopping()) {
        await ctx.kernelExited(exit);
        return exit;
      }
      const waiter = this.#restartWaiter;
      if (waiter !== undefined) {
        this.#restartWaiter = undefined;
        await this.#spawnBehindProxy(backend.kernel.connection);
        ctx.phase('kernel_restarted', { reason: 'restart request' });
        waiter(true);
        continue;
      }
      if (this.#diedOfStartClash(backend)) {
        this.#clashRetries++;
        ctx.logger.warn(
          { event: 'port_clash_retry', attempt: this.#clashRetries },
          'a loopback kernel port was taken; restarting the kernel on fresh ports behind the same public ports',
        );
        await this.#spawnBehindProxy(undefined);
        continue;
      }
      await ctx.kernelExited(exit);
      if (this.#crashRestarts < ctx.config.restartOnCrash) {
        this.#crashRestarts++;
        ctx.logger.warn(
          { event: 'kernel_crash_restart', restart: this.#crashRestarts, of: ctx.config.restartOnCrash },
          'kernel crashed; restarting it behind the same ports',
        );
        await this.#spawnBehindProxy(backend.kernel.connection);
        continue;
      }
      return exit;
    }
  }

  /** True when `backend`'s kernel has exited of a port clash at its start, and a retry on fresh ports is left. */
  #diedOfStartClash(backend: Backend): boolean {
    const exit = backend.kernel.process.exit;
    return (
      exit !== undefined &&
      !backend.listening &&
      PORT_CLASH_RE.test(backend.kernel.process.stderrTail()) &&
      performance.now() - backend.spawnedAt < CLASH_WINDOW_MS &&
      this.#clashRetries < MAX_PORT_CLASH_RETRIES
    );
  }

  /**
   * A kernel that dies of a loopback port clash before the host acknowledged
   * the response is replaced by {@link supervise} on fresh ports behind the
   * same public ones: the response stays valid, so the launch goes on.
   */
  replacesExitedKernel(): boolean {
    const backend = this.#backend;
    return backend !== undefined && this.#diedOfStartClash(backend);
  }

  /** Starts a kernel on loopback ports (`previous` ones, when given and still free, else fresh ones) and points the relay at it. */
  async #spawnBehindProxy(previous: ConnectionInfo | undefined): Promise<Backend> {
    const ctx = this.#ctx;
    const proxy = this.#proxy as KernelProxy;
    let ports: number[];
    const reuse = previous === undefined ? undefined : kernelPortsOf(previous);
    try {
      const held = await selectPorts(
        reuse === undefined
          ? { host: PROXY_KERNEL_HOST, range: ANY_PORT_RANGE, count: 5 }
          : { host: PROXY_KERNEL_HOST, range: ANY_PORT_RANGE, count: 5, only: reuse },
      );
      ports = [...held.ports];
      await held.release();
    } catch {
      const held = await selectPorts({ host: PROXY_KERNEL_HOST, range: ANY_PORT_RANGE, count: 5 });
      ports = [...held.ports];
      await held.release();
    }
    const connection = tcpConnectionInfo(ports, PROXY_KERNEL_HOST, this.#key, ctx.config.kernelName);
    proxy.resetState();
    proxy.connectBackend(
      {
        shell: connection.shell_port,
        iopub: connection.iopub_port,
        stdin: connection.stdin_port,
        control: connection.control_port,
        hb: connection.hb_port,
      },
      PROXY_KERNEL_HOST,
    );
    const backend: Backend = {
      kernel: ctx.spawnKernel(connection, { kernel_ports: ports }),
      listening: false,
      spawnedAt: performance.now(),
    };
    this.#backend = backend;
    const { process } = backend.kernel;
    const unwatch = killOnPortClash(process, ctx.logger);
    // The response does not wait for readiness here; operators still see when the kernel listens.
    void procAvailable()
      .then((useProc) => waitUntilListening(process, ports, PROXY_KERNEL_HOST, performance.now() + ctx.config.launchTimeoutMs, useProc))
      .then((outcome) => {
        unwatch();
        if (outcome !== 'ready' || this.#backend !== backend) return;
        backend.listening = true;
        ctx.phase('kernel_ready', { pid: process.pid });
      });
    return backend;
  }

  /** Replaces the kernel process behind the same public ports and key. */
  async restart(kernel: RunningKernel): Promise<ControlReply> {
    if (this.#proxy === undefined || this.#restartWaiter !== undefined || this.#ctx.isStopping())
      return { ok: false, error: 'GL_ERR_CONTROL_REQUEST_INVALID' };
    const restarted = new Promise<boolean>((resolve) => {
      const timer = setTimeout(
        () => {
          this.#restartWaiter = undefined;
          resolve(false);
        },
        RESTART_TIMEOUT_MS + 3 * this.#ctx.config.shutdownGraceMs,
      );
      this.#restartWaiter = (ok) => {
        clearTimeout(timer);
        resolve(ok);
      };
    });
    await this.#ctx.stopKernel(kernel);
    const ok = await restarted;
    return ok ? { ok: true } : { ok: false, error: 'GL_ERR_KERNEL_EXITED' };
  }

  activity(): ModeActivity | undefined {
    return this.#proxy?.activity();
  }

  close(): void {
    this.#proxy?.close();
  }
}
