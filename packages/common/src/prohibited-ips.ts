/**
 * `GP_PROHIBITED_LOCAL_IPS`, Gateway Provisioners' list of local addresses
 * never to advertise (Docker bridges, link-local management networks). The
 * listener skips them when it picks the address launchers connect to; the
 * launcher skips them when it picks the address it reports for the kernel.
 *
 * @module
 */
import { GatewayError } from './errors.js';

/**
 * Parses `GP_PROHIBITED_LOCAL_IPS`: comma-separated regular expressions, each
 * matched at the start of an address (like Python's `re.match`). Empty entries
 * are ignored. An invalid pattern throws `GL_ERR_USAGE`.
 */
export function parseProhibitedIps(value: string | undefined): RegExp[] {
  const out: RegExp[] = [];
  for (const raw of (value ?? '').split(',')) {
    const p = raw.trim();
    if (p === '') continue;
    try {
      out.push(new RegExp(`^(?:${p})`));
    } catch (cause) {
      throw new GatewayError('GL_ERR_USAGE', `GP_PROHIBITED_LOCAL_IPS entry '${p}' is not a valid regular expression`, {
        cause,
        details: { variable: 'GP_PROHIBITED_LOCAL_IPS' },
      });
    }
  }
  return out;
}

/** True when one of `prohibited` matches `ip`. */
export function isProhibitedIp(ip: string, prohibited: readonly RegExp[]): boolean {
  return prohibited.some((re) => re.test(ip));
}
