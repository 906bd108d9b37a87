/**
 * Readiness seen from outside the kernel: the kernel is ready when each of its
 * ports accepts a connection and, where `/proc` is available, the listening
 * socket belongs to the kernel's process (or its process group), read from
 * `/proc/net/tcp{,6}` and `/proc/<pid>/fd`. The cheap connect probe runs
 * each step; the socket table is read only once every port accepts.
 *
 * @module
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { connect, isIP } from 'node:net';
import type { KernelProcess } from './kernel-process.js';
import { localKernelHost } from './kernel-control-channel.js';

const LISTEN = '0A';

/** Socket inodes listening on each of `ports` (from /proc/net/tcp, and tcp6 when `ipv6`). */
export async function listeningInodes(ports: ReadonlySet<number>, ipv6 = true): Promise<Map<number, Set<string>>> {
  const found = new Map<number, Set<string>>();
  for (const file of ipv6 ? ['/proc/net/tcp', '/proc/net/tcp6'] : ['/proc/net/tcp']) {
    let text: string;
    try {
      text = await readFile(file, 'latin1');
    } catch {
      continue;
    }
    const lines = text.split('\n');
    for (let i = 1; i < lines.length; i++) {
      const cols = (lines[i] as string).trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== LISTEN) continue;
      const local = cols[1] as string;
      const port = parseInt(local.slice(local.indexOf(':') + 1), 16);
      if (!ports.has(port)) continue;
      let set = found.get(port);
      if (set === undefined) found.set(port, (set = new Set()));
      set.add(cols[9] as string);
    }
  }
  return found;
}

async function socketInodesOf(pid: number, into: Set<string>): Promise<void> {
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch {
    return;
  }
  await Promise.all(
    fds.map(async (fd) => {
      try {
        const link = await readlink(`/proc/${pid}/fd/${fd}`);
        if (link.startsWith('socket:[')) into.add(link.slice(8, -1));
      } catch {
        // fd closed meanwhile
      }
    }),
  );
}

async function pidsInGroup(pgid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** True when /proc exposes what {@link kernelListening} reads. */
export async function procAvailable(): Promise<boolean> {
  try {
    await readFile('/proc/net/tcp', 'latin1');
    await readdir(`/proc/${process.pid}/fd`);
    return true;
  } catch {
    return false;
  }
}

/**
 * True when every port in `ports` has a listening socket owned by `pid` or,
 * failing that, by a process of group `pgid` (a wrapper script's child).
 * `ipv6`: whether the kernel may listen on IPv6 (an IPv4 bind of a C or
 * Python kernel shows in /proc/net/tcp only, which halves the work of each
 * poll). A JVM (Toree) binds an IPv4 address through a dual-stack socket,
 * listed in /proc/net/tcp6 as `::ffff:a.b.c.d`: tcp6 is read too when tcp
 * lacks a port.
 */
export async function kernelListening(ports: readonly number[], pid: number, pgid: number, ipv6 = true): Promise<boolean> {
  const wanted = new Set(ports);
  let inodes = await listeningInodes(wanted, ipv6);
  if (inodes.size < wanted.size && !ipv6) inodes = await listeningInodes(wanted, true);
  if (inodes.size < wanted.size) return false;
  const owned = new Set<string>();
  await socketInodesOf(pid, owned);
  const allOwned = (): boolean => ports.every((p) => [...(inodes.get(p) ?? [])].some((i) => owned.has(i)));
  if (allOwned()) return true;
  for (const other of await pidsInGroup(pgid)) if (other !== pid) await socketInodesOf(other, owned);
  return allOwned();
}

/** True when a TCP connection to `port` on `host` is accepted within `timeoutMs`; the connection is closed at once. */
export function portAccepting(host: string, port: number, timeoutMs = 200): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean): void => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * Probes `ports` in order, skipping those in `accepted` (which it extends),
 * and stops at the first that refuses: until the kernel binds, a step costs
 * one refused loopback connect. True once every port has accepted.
 */
export async function acceptingInOrder(host: string, ports: readonly number[], accepted: Set<number>): Promise<boolean> {
  for (const port of ports) {
    if (accepted.has(port)) continue;
    if (!(await portAccepting(host, port))) return false;
    accepted.add(port);
  }
  return true;
}

/** Shortest and longest pause between readiness steps, in ms. */
const READY_POLL_MIN_MS = 10;
const READY_POLL_MAX_MS = 50;
/** Pause as a share of the time since the kernel was spawned. */
const READY_POLL_SHARE = 0.02;

/**
 * Pause before the next readiness step, `elapsedMs` after the spawn: 10 ms
 * for the first half second (a fast kernel is seen at once), then 2 % of the
 * time spent so far, at most 50 ms. Readiness is seen at most 2 % later than
 * it happens, and a slow start (a loaded node, an eager Spark session) costs
 * steps in proportion to the logarithm of its duration, not to the duration.
 */
export function readyPollDelay(elapsedMs: number): number {
  return Math.min(READY_POLL_MAX_MS, Math.max(READY_POLL_MIN_MS, Math.round(elapsedMs * READY_POLL_SHARE)));
}

/** Longest time between two connect probes when the kernel opens no socket (a wrapper script whose child is the kernel). */
const READY_PROBE_BACKSTOP_MS = 200;
/** Steps that still probe after the kernel opened a socket (it exists a moment before it listens). */
const STEPS_AFTER_NEW_SOCKET = 2;

/**
 * Tells whether a process opened a socket since the last look: the names in
 * `/proc/<pid>/fd` are read (one directory read) and only descriptors not
 * there before are resolved (`readlink`). A kernel binding its ports opens
 * sockets; the files a Python kernel opens and closes by the hundred while
 * it imports are not worth a probe.
 */
class SocketWatch {
  #names = new Set<string>();
  #pending = 0;

  /** True when a new socket appeared now or within the last {@link STEPS_AFTER_NEW_SOCKET} looks, or the descriptors cannot be read. */
  opened(pid: number): boolean {
    let names: string[];
    try {
      names = readdirSync(`/proc/${pid}/fd`);
    } catch {
      return true;
    }
    const previous = this.#names;
    this.#names = new Set(names);
    for (const fd of names) {
      if (previous.has(fd)) continue;
      let link;
      try {
        link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue; // closed meanwhile
      }
      if (link.startsWith('socket:')) {
        this.#pending = STEPS_AFTER_NEW_SOCKET + 1;
        break;
      }
    }
    if (this.#pending === 0) return false;
    this.#pending--;
    return true;
  }
}

/**
 * Waits until `kernel` listens on all of `ports` (bound on `bindIp`), exits,
 * or `deadline` (a `performance.now()` value) passes.
 *
 * A step looks for new sockets of the kernel ({@link SocketWatch}); only
 * after one appeared (or {@link READY_PROBE_BACKSTOP_MS} passed) are the ports
 * probed with connects ({@link acceptingInOrder}), and only once all of them
 * accept is ownership checked in the socket table (`useProc`,
 * {@link kernelListening}): a port can accept because another process took
 * it, and that is not a ready kernel. Reading the whole socket table every
 * step instead cost milliseconds per step on a node with a thousand sockets
 * (see docs/performance-notes.md). Steps follow {@link readyPollDelay}.
 */
export async function waitUntilListening(
  kernel: KernelProcess,
  ports: readonly number[],
  bindIp: string,
  deadline: number,
  useProc: boolean,
): Promise<'ready' | 'exited' | 'timeout'> {
  const exited = kernel.exited.then(() => 'exited' as const);
  const stop = new AbortController();
  void exited.then(() => stop.abort());
  const host = localKernelHost(bindIp);
  const accepted = new Set<number>();
  const start = performance.now();
  // One timer and one abort listener for the whole wait, not one per step.
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  stop.signal.addEventListener(
    'abort',
    () => {
      clearTimeout(timer);
      wake?.();
    },
    { once: true },
  );
  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, ms);
    });
  const sockets = new SocketWatch();
  let lastProbe = -Infinity;
  const poll = async (): Promise<'ready' | 'timeout'> => {
    while (performance.now() < deadline && !stop.signal.aborted) {
      const pid = kernel.pid;
      const now = performance.now();
      // Probe after the kernel opened a socket, and now and then regardless (a descriptor number reused, a wrapper's child).
      const due = !useProc || pid === undefined || sockets.opened(pid) || now - lastProbe >= READY_PROBE_BACKSTOP_MS;
      if (pid !== undefined && due) {
        lastProbe = now;
        if (await acceptingInOrder(host, ports, accepted)) {
          if (!useProc || (await kernelListening(ports, pid, pid, isIP(bindIp) !== 4))) return 'ready';
        }
      }
      if (stop.signal.aborted) break;
      await pause(Math.min(readyPollDelay(performance.now() - start), Math.max(0, deadline - performance.now())));
    }
    return 'timeout';
  };
  const result = await Promise.race([exited, poll()]);
  stop.abort();
  // A kernel that died in the same instant is not ready.
  return result === 'ready' && !kernel.running ? 'exited' : result;
}
