/**
 * Readiness seen from outside the kernel: the kernel is ready when each of its
 * ports has a listening socket that belongs to the kernel's process (or its
 * process group), read from `/proc/net/tcp{,6}` and `/proc/<pid>/fd`. Where
 * `/proc` is not available a plain TCP connect probe is used.
 *
 * @module
 */
import { readFile, readdir, readlink } from 'node:fs/promises';
import { connect, isIP } from 'node:net';
import type { KernelProcess } from './kernel-process.js';
import { sleep } from './backoff.js';
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
 * `ipv6`: whether the kernel may listen on IPv6 (an IPv4 bind shows in
 * /proc/net/tcp only, which halves the work of each poll).
 */
export async function kernelListening(ports: readonly number[], pid: number, pgid: number, ipv6 = true): Promise<boolean> {
  const wanted = new Set(ports);
  const inodes = await listeningInodes(wanted, ipv6);
  if (inodes.size < wanted.size) return false;
  const owned = new Set<string>();
  await socketInodesOf(pid, owned);
  const allOwned = (): boolean => ports.every((p) => [...(inodes.get(p) ?? [])].some((i) => owned.has(i)));
  if (allOwned()) return true;
  for (const other of await pidsInGroup(pgid)) if (other !== pid) await socketInodesOf(other, owned);
  return allOwned();
}

/** True when a TCP connection to every port on `host` succeeds (fallback without /proc). */
export async function portsAccepting(host: string, ports: readonly number[], timeoutMs = 200): Promise<boolean> {
  const probe = (port: number): Promise<boolean> =>
    new Promise((resolve) => {
      const s = connect({ host, port });
      const done = (ok: boolean): void => {
        s.destroy();
        resolve(ok);
      };
      s.setTimeout(timeoutMs, () => done(false));
      s.once('connect', () => done(true));
      s.once('error', () => done(false));
    });
  const results = await Promise.all(ports.map(probe));
  return results.every(Boolean);
}

/**
 * Readiness poll interval. Each poll reads /proc/net/tcp (whose cost grows
 * with the host's socket count); 10 ms keeps the added latency small while
 * leaving the CPU to the starting kernel.
 */
const READY_POLL_MS = 10;

/**
 * Waits until `kernel` listens on all of `ports` (bound on `bindIp`), exits,
 * or `deadline` (a `performance.now()` value) passes.
 */
export async function waitUntilListening(kernel: KernelProcess, ports: readonly number[], bindIp: string, deadline: number, useProc: boolean): Promise<'ready' | 'exited' | 'timeout'> {
  const exited = kernel.exited.then(() => 'exited' as const);
  const stop = new AbortController();
  void exited.then(() => stop.abort());
  const poll = async (): Promise<'ready' | 'timeout'> => {
    while (performance.now() < deadline && !stop.signal.aborted) {
      const pid = kernel.pid;
      if (pid !== undefined) {
        const ok = useProc ? await kernelListening(ports, pid, pid, isIP(bindIp) !== 4) : await portsAccepting(localKernelHost(bindIp), ports);
        if (ok) return 'ready';
      }
      await sleep(READY_POLL_MS, stop.signal);
    }
    return 'timeout';
  };
  const result = await Promise.race([exited, poll()]);
  stop.abort();
  // A kernel that died in the same instant is not ready.
  return result === 'ready' && !kernel.running ? 'exited' : result;
}
