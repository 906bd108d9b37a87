/**
 * The host's ephemeral port range (`net.ipv4.ip_local_port_range`), from
 * which Linux picks the local port of every outgoing connection and of every
 * bind to port 0. In direct mode a kernel port inside it can be taken by
 * anyone's outgoing connection between the launcher's release and the
 * kernel's bind, so a port range that overlaps it is worth a warning.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { type PortRange, formatPortRange } from '@gateway-launchers/common/port-range';
import type { LauncherLogger } from './deferred-logger.js';

/** Where Linux exposes the range. */
export const IP_LOCAL_PORT_RANGE_FILE = '/proc/sys/net/ipv4/ip_local_port_range';

/** The ephemeral range read from `file` (two numbers), or undefined where there is none. */
export function readEphemeralRange(file = IP_LOCAL_PORT_RANGE_FILE): { readonly lo: number; readonly hi: number } | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch {
    return undefined;
  }
  const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(text);
  if (m === null) return undefined;
  const lo = Number(m[1]);
  const hi = Number(m[2]);
  return lo <= hi ? { lo, hi } : undefined;
}

/**
 * Logs `port_range_ephemeral_overlap` (warn) when `range` shares ports with
 * the ephemeral range; `any` (0..0) is the ephemeral range by definition and
 * is not warned about.
 */
export function warnIfEphemeral(range: PortRange, logger: LauncherLogger, file = IP_LOCAL_PORT_RANGE_FILE): void {
  if (range.any) return;
  const eph = readEphemeralRange(file);
  if (eph === undefined || range.hi < eph.lo || range.lo > eph.hi) return;
  const ephemeral = `${eph.lo}..${eph.hi}`;
  logger.warn(
    { event: 'port_range_ephemeral_overlap', port_range: formatPortRange(range), ephemeral_range: ephemeral },
    `the port range ${formatPortRange(range)} overlaps the ephemeral port range ${ephemeral} (net.ipv4.ip_local_port_range): outgoing connections may take a kernel port before the kernel binds it; choose a range outside it`,
  );
}
