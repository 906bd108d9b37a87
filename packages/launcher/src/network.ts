/**
 * Which address the kernel binds and which one the launcher reports.
 *
 * @module
 */
import { networkInterfaces } from 'node:os';

/** True for the wildcard addresses. */
export function isWildcard(ip: string): boolean {
  return ip === '0.0.0.0' || ip === '::';
}

/** The first non-internal IPv4 address of this host, or `127.0.0.1`. */
export function firstNonLoopbackIPv4(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** Bind address (kernel and port probes) and reported address for `--ip`. */
export function kernelAddresses(ip: string | undefined): { bind: string; report: string } {
  if (ip === undefined) return { bind: '0.0.0.0', report: firstNonLoopbackIPv4() };
  if (isWildcard(ip)) return { bind: ip, report: firstNonLoopbackIPv4() };
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
