/**
 * Direct mode: the kernel binds the five ports the launcher chose (and
 * released) inside the range, and the response goes out once it listens on
 * all of them. The comm port comes out of the same selection and is kept. A
 * kernel that dies at start because a port was taken between release and
 * bind is started again on fresh ports (one that would hang instead of dying
 * is killed when it reports the clash: see `port-clash.ts`).
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:net';
import { kernelPortsOf, tcpConnectionInfo } from '@gateway-launchers/common/connection-info';
import { isGatewayError } from '@gateway-launchers/common/errors';
import type { KernelExit } from './kernel-process.js';
import { MAX_PORT_CLASH_RETRIES } from '@gateway-launchers/common/limits';
import { type LaunchMode, type ModeContext, type ModeStart, type RunningKernel, PORT_CLASH_RE } from './launch-mode.js';
import { procAvailable, waitUntilListening } from './kernel-readiness.js';
import { killOnPortClash } from './port-clash.js';
import { warnIfEphemeral } from './ephemeral-ports.js';
import { selectPorts } from './port-selector.js';

/** The kernel binds the launcher's chosen ports itself; see the module comment. */
export class DirectMode implements LaunchMode {
  readonly #ctx: ModeContext;
  constructor(ctx: ModeContext) {
    this.#ctx = ctx;
  }

  async start(deadline: number): Promise<ModeStart> {
    const ctx = this.#ctx;
    const { config, addresses } = ctx;
    const key = randomUUID();
    const exclude = new Set<number>();
    let comm: { server: Server; port: number } | undefined;
    warnIfEphemeral(config.portRange, ctx.logger);
    const useProc = await procAvailable();
    for (let attempt = 0; ; attempt++) {
      let held;
      try {
        held = await selectPorts({ host: addresses.bind, range: config.portRange, count: comm === undefined ? 6 : 5, exclude });
      } catch (e) {
        if (isGatewayError(e, 'GL_ERR_PORT_RANGE_EXHAUSTED')) {
          ctx.logger.error({ event: 'ports_exhausted', code: e.code }, e.message);
          return { kind: 'failed', exit: undefined, reason: e.message };
        }
        throw e;
      }
      if (comm === undefined) {
        const server = held.servers[5] as Server;
        comm = { server, port: ctx.serveControl(server) };
      }
      const ports = held.ports.slice(0, 5);
      const connection = tcpConnectionInfo(ports, addresses.bind, key, config.kernelName);
      await held.release([comm.server]);
      ctx.phase('ports_selected', { ports, comm_port: comm.port, attempt, connection_file: ctx.connectionFile });
      if (ctx.isStopping()) return { kind: 'failed', exit: undefined, reason: 'launcher stopped before the kernel started' };
      const kernel = ctx.spawnKernel(connection);
      const unwatch = killOnPortClash(kernel.process, ctx.logger);
      let outcome;
      try {
        // The slow, key-agreement half of sealing runs while the kernel boots.
        await ctx.prepareResponse();
        outcome = await waitUntilListening(kernel.process, ports, addresses.bind, deadline, useProc);
      } finally {
        unwatch();
      }
      if (outcome === 'ready') {
        ctx.phase('kernel_ready');
        return { kind: 'started', kernel, reported: { ...connection, ip: addresses.report } };
      }
      if (outcome === 'timeout') {
        const reason = `kernel did not listen on its ports within the launch timeout (${config.launchTimeoutMs} ms)`;
        ctx.logger.error({ event: 'kernel_not_ready', code: 'GL_ERR_KERNEL_NOT_READY' }, reason);
        await ctx.stop('kernel not ready');
        return { kind: 'failed', exit: kernel.process.exit, reason: `${reason}\n${kernel.process.stderrTail()}` };
      }
      const exit = await kernel.process.exited;
      const tail = kernel.process.stderrTail();
      if (!ctx.isStopping() && PORT_CLASH_RE.test(tail) && attempt < MAX_PORT_CLASH_RETRIES) {
        for (const p of kernelPortsOf(connection)) exclude.add(p);
        ctx.logger.warn(
          { event: 'port_clash_retry', attempt: attempt + 1 },
          'a kernel port was taken before the kernel bound it; retrying on fresh ports',
        );
        continue;
      }
      ctx.logger.error(
        { event: 'kernel_exited_early', exit_code: exit.exitCode, signal: exit.signal, spawn_error: exit.spawnError },
        'kernel exited before it was ready',
      );
      return { kind: 'failed', exit, reason: tail };
    }
  }

  async supervise(kernel: RunningKernel): Promise<KernelExit> {
    const exit = await kernel.process.exited;
    await this.#ctx.kernelExited(exit);
    return exit;
  }

  close(): void {
    // Nothing held: the kernel owns its ports, the launcher the comm server.
  }
}
