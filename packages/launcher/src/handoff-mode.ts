/**
 * Handoff mode: the launcher binds and listens on the kernel's five ports
 * inside the range (the bind is the reservation, as in proxy mode), then
 * starts the kernel with those listening sockets as inherited descriptors;
 * the kernel's ZMQ sockets adopt them (`ZMQ_USE_FD`) instead of binding. No
 * port is ever free between the choice and the kernel's use, there is no
 * relay, and nothing polls: clients that connect early wait in the listen
 * backlog until the kernel serves them.
 *
 * Only the python preset adopts sockets (its bootstrap,
 * `python/gateway_launcher_handoff.py`, wraps pyzmq's bind); config.ts turns
 * handoff into direct mode for any other kernel. A python whose zmq cannot
 * adopt (pyzmq without `USE_FD`, libzmq < 4.2) says so on the status pipe and
 * binds the same ports itself, each right after closing the inherited socket.
 *
 * The response goes out, per `--handoff-ready`:
 * - `heartbeat` (default): once one heartbeat has been echoed through the
 *   handed hb socket, so a client that counts one missed heartbeat as a dead
 *   kernel (jupyter_client's `wait_for_ready`) finds it beating;
 * - `at-bind`: as soon as the kernel is spawned with the sockets; requests
 *   wait in the backlog until the kernel serves them.
 *
 * Restart in place is not offered (the sockets went to the kernel; a new
 * kernel would need them again): restarts are the host's, as in direct mode,
 * or use proxy mode.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { tcpConnectionInfo } from '@gateway-launchers/common/connection-info';
import { isGatewayError } from '@gateway-launchers/common/errors';
import { type LineItem, LineReader } from '@gateway-launchers/common/line-reader';
import type { KernelExit } from './kernel-process.js';
import { HANDOFF_FDS_ENV, HANDOFF_STATUS_FD_ENV, FIRST_HANDOFF_FD, HandoffSockets } from './handoff-sockets.js';
import { heartbeatEcho } from './heartbeat-probe.js';
import { localKernelHost } from './kernel-control-channel.js';
import type { LaunchMode, ModeContext, ModeStart, RunningKernel } from './launch-mode.js';

/** Longest status line read from the bootstrap. */
const MAX_STATUS_BYTES = 256;

/** When the response goes out in handoff mode. */
export type HandoffReady = 'heartbeat' | 'at-bind';

/** Reads the bootstrap's one status line (at most {@link MAX_STATUS_BYTES}); '' when the kernel closes the pipe without one, or sends a longer one. */
function readStatusLine(stream: Readable): Promise<string> {
  return new Promise((resolve) => {
    const reader = new LineReader(MAX_STATUS_BYTES);
    const done = (item: LineItem | undefined): void => {
      stream.destroy();
      resolve(item?.kind === 'line' ? item.line.toString('latin1') : '');
    };
    stream.on('data', (chunk: Buffer) => {
      const item = reader.first(chunk);
      if (item !== undefined) done(item);
    });
    // The bootstrap cuts its line at MAX_STATUS_BYTES, newline included: a cut line ends at the close.
    stream.on('error', () => done(reader.end()[0]));
    stream.on('close', () => done(reader.end()[0]));
  });
}

/** The kernel adopts the launcher's listening sockets; see the module comment. */
export class HandoffMode implements LaunchMode {
  #sockets: HandoffSockets | undefined;

  readonly #ctx: ModeContext;
  constructor(ctx: ModeContext) {
    this.#ctx = ctx;
  }

  async start(deadline: number): Promise<ModeStart> {
    const ctx = this.#ctx;
    const { config, addresses } = ctx;
    let sockets: HandoffSockets;
    try {
      sockets = this.#sockets = await HandoffSockets.bind({ host: addresses.bind, range: config.portRange });
    } catch (e) {
      if (!isGatewayError(e, 'GL_ERR_PORT_RANGE_EXHAUSTED')) throw e;
      ctx.logger.error({ event: 'ports_exhausted', code: e.code }, e.message);
      return { kind: 'failed', exit: undefined, reason: e.message };
    }
    const commPort = ctx.serveControl(sockets.comm);
    const connection = tcpConnectionInfo(sockets.ports, addresses.bind, randomUUID(), config.kernelName);
    ctx.phase('ports_selected', { ports: sockets.ports, comm_port: commPort, mode: 'handoff', connection_file: ctx.connectionFile });
    if (ctx.isStopping()) return { kind: 'failed', exit: undefined, reason: 'launcher stopped before the kernel started' };
    const fds = sockets.descriptors();
    const kernel = ctx.spawnKernel(
      connection,
      { handoff_ready: config.handoffReady },
      {
        extraStdio: [...fds, 'pipe'],
        extraEnv: { [HANDOFF_FDS_ENV]: sockets.fdsEnv(), [HANDOFF_STATUS_FD_ENV]: String(FIRST_HANDOFF_FD + fds.length) },
      },
    );
    // The kernel holds the sockets now; ours would only compete for connections.
    await sockets.release();
    const status = kernel.process.extraOutput(fds.length);
    if (status !== undefined) void readStatusLine(status).then((line) => this.#onStatus(line));
    if (config.handoffReady === 'at-bind') {
      await ctx.prepareResponse();
      return { kind: 'started', kernel, reported: { ...connection, ip: addresses.report } };
    }
    return this.#awaitHeartbeat(kernel, deadline);
  }

  #onStatus(line: string): void {
    const [word, ...rest] = line.split(' ');
    if (word === 'adopted') this.#ctx.phase('handoff_adopted', { sockets: Number(rest[0]) });
    else if (word === 'direct')
      this.#ctx.logger.warn(
        { event: 'handoff_fallback', reason: rest.join(' ') },
        'the kernel cannot adopt sockets; it binds the reserved ports itself (direct mode)',
      );
  }

  /** Reports once a heartbeat is echoed; fails when the kernel exits, the launch is stopped or the deadline passes first. */
  async #awaitHeartbeat(kernel: RunningKernel, deadline: number): Promise<ModeStart> {
    const ctx = this.#ctx;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), Math.max(0, deadline - performance.now()));
    void kernel.process.exited.then(() => abort.abort());
    void ctx.stopRequested.then(() => abort.abort());
    // The slow, key-agreement half of sealing runs while the kernel boots.
    const [echoed] = await Promise.all([
      heartbeatEcho(localKernelHost(ctx.addresses.bind), kernel.connection.hb_port, abort.signal),
      ctx.prepareResponse(),
    ]);
    clearTimeout(timer);
    if (echoed && kernel.process.running) {
      ctx.phase('kernel_ready');
      return { kind: 'started', kernel, reported: { ...kernel.connection, ip: ctx.addresses.report } };
    }
    if (kernel.process.running && !ctx.isStopping()) {
      const reason = `kernel did not answer a heartbeat within the launch timeout (${ctx.config.launchTimeoutMs} ms)`;
      ctx.logger.error({ event: 'kernel_not_ready', code: 'GL_ERR_KERNEL_NOT_READY' }, reason);
      await ctx.stop('kernel not ready');
      return { kind: 'failed', exit: kernel.process.exit, reason: `${reason}\n${kernel.process.stderrTail()}` };
    }
    if (ctx.isStopping()) return { kind: 'failed', exit: kernel.process.exit, reason: 'launcher stopped before the kernel was ready' };
    const exit = await kernel.process.exited;
    ctx.logger.error(
      { event: 'kernel_exited_early', exit_code: exit.exitCode, signal: exit.signal, spawn_error: exit.spawnError },
      'kernel exited before it was ready',
    );
    return { kind: 'failed', exit, reason: kernel.process.stderrTail() };
  }

  async supervise(kernel: RunningKernel): Promise<KernelExit> {
    const exit = await kernel.process.exited;
    await this.#ctx.kernelExited(exit);
    return exit;
  }

  close(): void {
    // Sockets never handed over (a failed start) are given up; handed ones are already closed here.
    void this.#sockets?.release();
  }
}
