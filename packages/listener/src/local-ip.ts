/**
 * The address a listener advertises when it is not told one: the first
 * non-loopback IPv4 address of the host that no `GP_PROHIBITED_LOCAL_IPS`
 * pattern matches (Gateway Provisioners' rule, so existing deployments that
 * exclude e.g. Docker bridge addresses keep working).
 *
 * @module
 */
import { networkInterfaces } from 'node:os';

/** Non-internal IPv4 addresses of this host, in interface order. */
export function publicIPv4Addresses(interfaces: ReturnType<typeof networkInterfaces> = networkInterfaces()): string[] {
  const out: string[] = [];
  for (const list of Object.values(interfaces)) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) out.push(a.address);
  }
  return out;
}

// Parsed in common: the launcher honours the same list for the address it reports.
export { parseProhibitedIps } from '@gateway-launchers/common/prohibited-ips';

/**
 * The first public IPv4 address not matched by `prohibited`; when every one
 * is prohibited, the first public one; with none at all, `127.0.0.1`.
 */
export function selectLocalIp(prohibited: readonly RegExp[], addresses: readonly string[] = publicIPv4Addresses()): string {
  const allowed = addresses.find((ip) => !prohibited.some((re) => re.test(ip)));
  return allowed ?? addresses[0] ?? '127.0.0.1';
}
