/**
 * Handoff mode's reservation: the launcher binds and listens on the kernel's
 * five ports inside the range (plus the comm port, which it keeps), then
 * hands the five listening sockets to the kernel as inherited descriptors.
 * The port is never free between the choice and the kernel's use of it, so
 * nothing can take it in between, and clients that connect before the
 * kernel's ZMQ sockets adopt the descriptors wait in the listen backlog.
 *
 * @module
 */
import type { Server } from 'node:net';
import { GatewayError } from '@gateway-launchers/common/errors';
import type { PortRange } from '@gateway-launchers/common/port-range';
import { selectPorts } from './port-selector.js';

/** Descriptor number of the first handed socket in the kernel (after stdin, stdout, stderr). */
export const FIRST_HANDOFF_FD = 3;
/** Kernel environment: `port:fd` pairs the kernel's bootstrap adopts (see python/gateway_launcher_handoff.py). */
export const HANDOFF_FDS_ENV = 'GL_HANDOFF_FDS';
/** Kernel environment: the descriptor the bootstrap writes its one status line to. */
export const HANDOFF_STATUS_FD_ENV = 'GL_HANDOFF_STATUS_FD';

/** Options of {@link HandoffSockets.bind}. */
export interface HandoffBindOptions {
  /** Address to bind (`--ip`, or a wildcard). */
  readonly host: string;
  readonly range: PortRange;
  /** Random source in [0,1) for the scan's start (tests fix it). */
  readonly random?: () => number;
}

/** The listening descriptor behind a `net.Server` (libuv exposes it on Unix). */
function descriptorOf(server: Server): number {
  const fd = (server as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw new GatewayError(
      'GL_ERR_KERNEL_START_FAILED',
      'handoff mode: this platform does not expose listening socket descriptors; use --mode direct or proxy',
    );
  }
  return fd;
}

/**
 * Five listening sockets in kernel port order (shell, iopub, stdin, control,
 * hb), held until handed to a kernel, and the comm port's server, kept by the
 * launcher.
 */
export class HandoffSockets {
  /** The five kernel ports, in connection-info order. */
  readonly ports: readonly number[];
  /** The comm port's listening server (the launcher serves control on it). */
  readonly comm: Server;
  readonly #servers: readonly Server[];

  private constructor(ports: readonly number[], servers: readonly Server[], comm: Server) {
    this.ports = ports;
    this.#servers = servers;
    this.comm = comm;
    // Until the kernel has the sockets, nobody knows the ports; whoever connects anyway is not served by us.
    for (const s of this.#servers) s.on('connection', (socket) => socket.destroy());
  }

  /**
   * Binds six free ports of `range` on `host` (a taken port is skipped; the
   * bind is the reservation). Throws `GL_ERR_PORT_RANGE_EXHAUSTED` when fewer
   * are free.
   */
  static async bind(options: HandoffBindOptions): Promise<HandoffSockets> {
    const held = await selectPorts({
      host: options.host,
      range: options.range,
      count: 6,
      ...(options.random === undefined ? {} : { random: options.random }),
    });
    return new HandoffSockets(held.ports.slice(0, 5), held.servers.slice(0, 5), held.servers[5] as Server);
  }

  /** `comm` port number. */
  get commPort(): number {
    return (this.comm.address() as { port: number }).port;
  }

  /** The five descriptors, for `spawn`'s stdio array after stdin, stdout and stderr (so they are fds 3 to 7 in the kernel). */
  descriptors(): number[] {
    return this.#servers.map(descriptorOf);
  }

  /** {@link HANDOFF_FDS_ENV}'s value: which kernel descriptor belongs to which port. */
  fdsEnv(): string {
    return this.ports.map((port, i) => `${port}:${FIRST_HANDOFF_FD + i}`).join(',');
  }

  /**
   * Closes the launcher's copies of the five sockets. Called once the kernel
   * has been spawned with them: the kernel's copies keep the ports bound and
   * listening. Before a spawn, this gives the ports up.
   */
  async release(): Promise<void> {
    await Promise.all(this.#servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
