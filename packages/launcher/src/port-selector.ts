/**
 * Finds free ports inside a range by binding them on the address the kernel
 * will use: a random start, then a full scan of the range with wrap-around,
 * so a range with only a few free ports still works and an exhausted range
 * fails with a clear error. Each port is held (listening) until released.
 *
 * @module
 */
import { createServer, type Server } from 'node:net';
import { GatewayError } from '@gateway-launchers/common/errors';
import { type PortRange, formatPortRange } from '@gateway-launchers/common/port-range';

/** Ports held by listening sockets until {@link HeldPorts.release}. */
export interface HeldPorts {
  readonly ports: readonly number[];
  /** The listening servers, in `ports` order (a caller may keep one, e.g. as the comm server). */
  readonly servers: readonly Server[];
  /** Closes every held server except those listed in `keep`. */
  release(keep?: readonly Server[]): Promise<void>;
}

/** Options of {@link selectPorts}. */
export interface SelectPortsOptions {
  /** Address to bind (`0.0.0.0`, `::`, `127.0.0.1`, `::1`, a local address). */
  readonly host: string;
  readonly range: PortRange;
  readonly count: number;
  /** Ports not to use (e.g. ones a failed kernel start held). */
  readonly exclude?: ReadonlySet<number>;
  /** Random source in [0,1) for the start position (tests fix it). */
  readonly random?: () => number;
  /** Bind exactly these ports (all or nothing), e.g. to restart a kernel on the ports it had. */
  readonly only?: readonly number[];
}

function tryListen(host: string, port: number): Promise<Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    const onError = (err: NodeJS.ErrnoException): void => {
      server.close();
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') resolve(undefined);
      else reject(err);
    };
    server.once('error', onError);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}

async function closeAll(servers: readonly Server[]): Promise<void> {
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
}

/**
 * Binds `count` distinct free ports inside `range` on `host`. Throws
 * `GL_ERR_PORT_RANGE_EXHAUSTED` when the range has fewer free ports.
 */
export async function selectPorts(options: SelectPortsOptions): Promise<HeldPorts> {
  const { host, range, count } = options;
  const servers: Server[] = [];
  const ports: number[] = [];
  // Excluded ports the OS handed out for port 0: held until the end so it does not hand them out again.
  const discarded: Server[] = [];
  try {
    if (options.only !== undefined) {
      for (const port of options.only) {
        const s = await tryListen(host, port);
        if (s === undefined) break;
        servers.push(s);
        ports.push(port);
      }
    } else if (range.any) {
      for (let attempts = 0; ports.length < count && attempts < count * 8; attempts++) {
        const s = await tryListen(host, 0);
        if (s === undefined) continue;
        const port = (s.address() as { port: number }).port;
        if (options.exclude?.has(port) === true) {
          discarded.push(s);
          continue;
        }
        servers.push(s);
        ports.push(port);
      }
    } else {
      const size = range.hi - range.lo + 1;
      const start = Math.floor((options.random ?? Math.random)() * size);
      for (let i = 0; i < size && ports.length < count; i++) {
        const port = range.lo + ((start + i) % size);
        if (options.exclude?.has(port) === true) continue;
        const s = await tryListen(host, port);
        if (s === undefined) continue;
        servers.push(s);
        ports.push(port);
      }
    }
    if (ports.length < count) {
      throw new GatewayError(
        'GL_ERR_PORT_RANGE_EXHAUSTED',
        `only ${ports.length} of the ${count} ports needed are free in ${formatPortRange(range)} on ${host}; free ports or widen --port-range`,
        { details: { range: formatPortRange(range), host, found: ports.length, needed: count } },
      );
    }
  } catch (e) {
    await closeAll(servers);
    throw e;
  } finally {
    await closeAll(discarded);
  }
  return {
    ports,
    servers,
    release: (keep = []) => closeAll(servers.filter((s) => !keep.includes(s))),
  };
}
