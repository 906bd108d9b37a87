/**
 * A block of consecutive TCP ports held by this test, for tests that need to
 * know exactly which ports of a small range are free. The block is chosen at
 * random below the ephemeral range (so no outgoing connection can use one of
 * its ports) and away from the ranges other test files use; a block any port
 * of which is already bound (another test file running in parallel, another
 * checkout's suite on the same machine) is skipped, so no fixed port is
 * shared between concurrent runs.
 */
import { createServer, type Server } from 'node:net';
import { randomInt } from 'node:crypto';

/** Where blocks are chosen: below Linux's default ephemeral range (32768..), above the suite's fixed kernel ranges. */
const LO = 28_000;
const HI = 32_000;

export interface PortBlock {
  /** The first port of the block. */
  readonly base: number;
  /** Stops holding `base + offset` for each offset, so a launcher can take those ports. */
  release(offsets: readonly number[]): Promise<void>;
  /** Stops holding every port still held. */
  close(): Promise<void>;
}

function bind(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(undefined));
    s.listen(port, '0.0.0.0', () => resolve(s));
  });
}

function closeServer(s: Server): Promise<void> {
  return new Promise((resolve) => s.close(() => resolve()));
}

/** Binds `size` consecutive ports on 0.0.0.0 and holds them until released. */
export async function holdPortBlock(size: number): Promise<PortBlock> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = randomInt(LO, HI - size);
    const held = new Map<number, Server>();
    let complete = true;
    for (let offset = 0; offset < size; offset++) {
      const s = await bind(base + offset);
      if (s === undefined) {
        complete = false;
        break;
      }
      held.set(offset, s);
    }
    if (!complete) {
      await Promise.all([...held.values()].map(closeServer));
      continue;
    }
    const release = async (offsets: readonly number[]): Promise<void> => {
      await Promise.all(
        offsets.map((o) => {
          const s = held.get(o);
          held.delete(o);
          return s === undefined ? undefined : closeServer(s);
        }),
      );
    };
    return { base, release, close: () => release([...held.keys()]) };
  }
  throw new Error(`no block of ${size} free ports found in ${LO}..${HI}`);
}

/**
 * A loopback port nothing listens on: bound on 127.0.0.1 by the OS, then
 * closed. Another process may take it later; tests use it for "nothing is
 * there yet" (a refused connection), not as a port reserved for them.
 */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await closeServer(server);
  return port;
}
