/**
 * Which connection-info values a host accepts from a launcher that holds a
 * valid token (issue 11): the token proves the launch, not that the launcher
 * may point the host's ZMQ and control connections anywhere. By default:
 *
 * - `ip` is the address the response came from; or, for a response from this
 *   host (loopback), a loopback address or one of this host's addresses; or
 *   inside `allowedKernelNetworks` (CIDRs; `*` allows any address or host name).
 *   A wildcard `ip` is replaced by the response's address before this check.
 * - `transport` is `tcp` (`ipc` only when listed in `allowedTransports`).
 * - `signature_scheme` is HMAC with SHA-2 (`hmac-sha256`, `-sha384`, `-sha512`); others
 *   (`hmac-md5`, `hmac-sha1`) only when listed in `allowedSignatureSchemes`.
 *
 * @module
 */
import { BlockList, isIP } from 'node:net';
import { type ConnectionInfo, GatewayError, localAddresses } from '@gateway-launchers/common';

/** The connection-info policy of a listener, resolved. */
export interface KernelInfoPolicy {
  /** CIDRs (`10.0.0.0/8`, `fd00::/8`) or single addresses; `*` accepts any `ip`, host names included. */
  readonly allowedKernelNetworks: readonly string[];
  readonly allowedTransports: readonly ('tcp' | 'ipc')[];
  readonly allowedSignatureSchemes: readonly string[];
}

/** The default policy: the response's own address, TCP, HMAC with SHA-2. */
export const DEFAULT_KERNEL_INFO_POLICY: KernelInfoPolicy = Object.freeze({
  allowedKernelNetworks: Object.freeze([]) as readonly string[],
  allowedTransports: Object.freeze(['tcp']) as readonly ('tcp' | 'ipc')[],
  allowedSignatureSchemes: Object.freeze(['hmac-sha256', 'hmac-sha384', 'hmac-sha512']) as readonly string[],
});

function isLoopback(address: string): boolean {
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address) || /^::ffff:127\./i.test(address);
}

/**
 * Parses `allowedKernelNetworks` entries into a BlockList (used as an allow
 * list); throws `GL_ERR_USAGE` naming `variable` for a malformed entry.
 */
export function parseNetworks(entries: readonly string[], variable: string): { any: boolean; list: BlockList } {
  const list = new BlockList();
  let any = false;
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === '') continue;
    if (entry === '*') {
      any = true;
      continue;
    }
    const [address = '', bits] = entry.split('/');
    const family = isIP(address);
    const prefix = bits === undefined ? (family === 6 ? 128 : 32) : /^\d{1,3}$/.test(bits) ? Number(bits) : -1;
    if (family === 0 || prefix < 0 || prefix > (family === 6 ? 128 : 32)) {
      throw new GatewayError('GL_ERR_USAGE', `${variable}: '${entry}' is not an address or CIDR network`, { details: { variable } });
    }
    list.addSubnet(address, prefix, family === 6 ? 'ipv6' : 'ipv4');
  }
  return { any, list };
}

/** Checks accepted connection info against the policy; a `GatewayError` to refuse with, or undefined. */
export class KernelInfoChecker {
  readonly #any: boolean;
  readonly #networks: BlockList;
  readonly #policy: KernelInfoPolicy;

  constructor(policy: KernelInfoPolicy) {
    this.#policy = policy;
    const parsed = parseNetworks(policy.allowedKernelNetworks, 'allowedKernelNetworks');
    this.#any = parsed.any;
    this.#networks = parsed.list;
  }

  /** `info.ip` must already have a wildcard replaced by `peerAddress`. */
  check(info: ConnectionInfo, peerAddress: string): GatewayError | undefined {
    if (!(this.#policy.allowedTransports as readonly string[]).includes(info.transport)) {
      return new GatewayError(
        'GL_ERR_TRANSPORT_NOT_ALLOWED',
        `transport '${info.transport}' is not accepted (allowed: ${this.#policy.allowedTransports.join(', ')})`,
      );
    }
    if (!this.#policy.allowedSignatureSchemes.includes(info.signature_scheme)) {
      return new GatewayError(
        'GL_ERR_SIGNATURE_SCHEME_NOT_ALLOWED',
        `signature scheme '${info.signature_scheme}' is not accepted (allowed: ${this.#policy.allowedSignatureSchemes.join(', ')})`,
      );
    }
    if (!this.#ipAllowed(info.ip, peerAddress)) {
      return new GatewayError(
        'GL_ERR_KERNEL_IP_NOT_ALLOWED',
        `kernel ip '${info.ip}' is neither the response's address (${peerAddress}) nor inside allowedKernelNetworks`,
      );
    }
    return undefined;
  }

  #ipAllowed(ip: string, peer: string): boolean {
    if (this.#any) return true;
    const family = isIP(ip);
    if (family === 0) return false; // a host name may resolve anywhere: opt in with '*'
    if (ip.toLowerCase() === peer.toLowerCase()) return true;
    if (isLoopback(peer) && (isLoopback(ip) || localAddresses().includes(ip))) return true;
    return this.#networks.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  }
}
