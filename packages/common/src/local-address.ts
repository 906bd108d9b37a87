/**
 * Local addresses, shared by the launcher and the listener.
 *
 * The listener advertises, when not told an address, the first non-loopback
 * IPv4 address of the host that no `GP_PROHIBITED_LOCAL_IPS` pattern matches
 * (Gateway Provisioners' rule, so deployments that exclude e.g. Docker bridge
 * addresses keep working): {@link firstNonLoopbackIPv4}.
 *
 * The launcher decides which address the kernel binds and which one it reports.
 *
 * Without `--ip` the kernel binds every address, and the launcher reports the
 * address of the interface this host would use to reach the listener: the
 * host that reads the response connects back along the same route. A UDP
 * socket `connect`ed toward the response address reveals it (the kernel picks
 * the source address; no packet is sent). Addresses matching
 * `GP_PROHIBITED_LOCAL_IPS` are never reported.
 *
 * @module
 */
import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { isProhibitedIp } from './prohibited-ips.js';

/** Longest wait for resolving the response host and asking the route. */
const ROUTE_LOOKUP_TIMEOUT_MS = 2_000;

/** True for the wildcard addresses. */
export function isWildcard(ip: string): boolean {
  return ip === '0.0.0.0' || ip === '::';
}

/** The non-internal IPv4 addresses of this host (or of `interfaces`), in interface order. */
export function nonLoopbackIPv4s(interfaces: ReturnType<typeof networkInterfaces> = networkInterfaces()): string[] {
  return Object.values(interfaces).flatMap((addrs) =>
    (addrs ?? []).filter((a) => a.family === 'IPv4' && !a.internal).map((a) => a.address),
  );
}

/**
 * The first non-internal IPv4 address of this host (or of `all`) not in
 * `prohibited`; when every one is prohibited, the first one; with none at
 * all, `127.0.0.1`.
 */
export function firstNonLoopbackIPv4(prohibited: readonly RegExp[] = [], all: readonly string[] = nonLoopbackIPv4s()): string {
  return all.find((ip) => !isProhibitedIp(ip, prohibited)) ?? all[0] ?? '127.0.0.1';
}

/**
 * The local IPv4 address the routing table picks toward `host:port`, or
 * undefined when the host does not resolve to IPv4 or there is no route.
 */
export async function routedIPv4(host: string, port: number, timeoutMs = ROUTE_LOOKUP_TIMEOUT_MS): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
    timer.unref();
  });
  const ask = async (): Promise<string | undefined> => {
    const target = isIP(host) === 4 ? host : isIP(host) === 6 ? undefined : (await lookup(host, { family: 4 })).address;
    if (target === undefined) return undefined;
    const socket = createSocket('udp4');
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.connect(port, target, () => resolve());
      });
      return socket.address().address;
    } finally {
      socket.close();
    }
  };
  try {
    return await Promise.race([ask().catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The address to report for a kernel bound to all addresses: the routed one
 * toward the listener unless prohibited, else the first allowed non-loopback
 * IPv4 address.
 */
export async function reportedAddress(
  toward: { readonly host: string; readonly port: number },
  prohibited: readonly RegExp[],
): Promise<string> {
  const routed = await routedIPv4(toward.host, toward.port);
  if (routed !== undefined && !isWildcard(routed) && !isProhibitedIp(routed, prohibited)) return routed;
  return firstNonLoopbackIPv4(prohibited);
}

/**
 * Bind address (kernel and port probes) and reported address for `--ip`.
 * `report`, when given, is the address to report for a wildcard bind (see
 * {@link reportedAddress}).
 */
export function kernelAddresses(ip: string | undefined, report?: string): { bind: string; report: string } {
  if (ip === undefined || isWildcard(ip)) return { bind: ip ?? '0.0.0.0', report: report ?? firstNonLoopbackIPv4() };
  return { bind: ip, report: ip };
}

/** Every address of this host's interfaces. */
export function localAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((addrs) => (addrs ?? []).map((a) => a.address));
}

/**
 * True for a wildcard, an address one of this host's interfaces has, or (on
 * Linux, which routes all of 127.0.0.0/8 to the loopback interface and lets
 * any of it be bound) any 127.x.y.z.
 */
export function isLocalAddress(ip: string): boolean {
  if (process.platform === 'linux' && /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip)) return true;
  return isWildcard(ip) || localAddresses().includes(ip);
}
