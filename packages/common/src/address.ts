/**
 * Response addresses and host names. A response address is `host:port`,
 * `tcp://host:port`, `ws://host:port/path` or `wss://host:port/path`; IPv6
 * literals are bracketed (`[::1]:8877`).
 *
 * @module
 */
import { isIP } from 'node:net';
import { GatewayError } from './errors.js';

/** A parsed response address. */
export interface ResponseAddress {
  /** `tcp` for plain line framing, `ws`/`wss` for WebSocket. */
  readonly scheme: 'tcp' | 'ws' | 'wss';
  /** Host name or IP literal, without brackets. */
  readonly host: string;
  /** Port 1..65535. */
  readonly port: number;
  /** WebSocket path (always starting with `/`), or `''` for TCP. */
  readonly path: string;
  /** The URL a WebSocket client connects to, or `host:port` for TCP. */
  readonly href: string;
}

const HOST_LABEL_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * True when `host` is a syntactically valid DNS host name (RFC 1123). A name
 * whose last label is all digits is refused (RFC 3696 §2): `300.1.1.1` or
 * `10.1` is a mistyped or shorthand IPv4 address, which resolvers would read
 * differently (`inet_aton`) or look up in DNS.
 */
export function isValidHostName(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false;
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  const labels = name.split('.');
  if (/^\d+$/.test(labels[labels.length - 1] ?? '')) return false;
  return labels.every((label) => HOST_LABEL_RE.test(label));
}

/** True when `ip` is an IPv4/IPv6 literal or a valid host name. */
export function isValidHost(ip: unknown): ip is string {
  return typeof ip === 'string' && (isIP(ip) !== 0 || isValidHostName(ip));
}

/** Formats `host:port`, bracketing IPv6 literals. */
export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

function parsePort(text: string, input: string): number {
  if (!/^\d{1,5}$/.test(text)) throw invalid(input, `port '${text}' is not a number`);
  const port = Number(text);
  if (port < 1 || port > 65535) throw invalid(input, `port ${port} is outside 1..65535`);
  return port;
}

function invalid(input: string, why: string): GatewayError {
  return new GatewayError(
    'GL_ERR_ADDRESS_INVALID',
    `response address '${input}' is invalid: ${why} (expected host:port, tcp://host:port, ws://host:port/path or wss://host:port/path)`,
    { details: { input } },
  );
}

/** Parses a response address or throws `GL_ERR_ADDRESS_INVALID`. */
export function parseResponseAddress(input: string): ResponseAddress {
  const text = input.trim();
  if (/^https?:\/\//i.test(text)) {
    throw invalid(
      input,
      `${text.slice(0, text.indexOf(':'))}:// is not a response address scheme; the listener speaks plain TCP (host:port) or WebSocket (ws://host:port/path, wss://…)`,
    );
  }
  if (/^wss?:\/\//i.test(text)) {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw invalid(input, 'not a valid URL');
    }
    const scheme = url.protocol === 'wss:' ? 'wss' : 'ws';
    if (url.username !== '' || url.password !== '') throw invalid(input, 'credentials are not allowed in the URL');
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    if (!isValidHost(host)) throw invalid(input, `host '${host}' is not an IP address or host name`);
    const port = url.port === '' ? (scheme === 'wss' ? 443 : 80) : parsePort(url.port, input);
    return { scheme, host, port, path: url.pathname + url.search, href: url.href };
  }
  const rest = text.replace(/^tcp:\/\//i, '');
  if (!rest.includes('[') && (rest.match(/:/g)?.length ?? 0) > 1) {
    const colon = rest.lastIndexOf(':');
    const hint =
      isIP(rest.slice(0, colon)) === 6 && /^\d+$/.test(rest.slice(colon + 1))
        ? `[${rest.slice(0, colon)}]:${rest.slice(colon + 1)}`
        : '[ipv6]:port';
    throw invalid(input, `an IPv6 address must be bracketed: ${hint}`);
  }
  const m = /^(?:\[([^\]]+)\]|([^:/[\]]+)):(\d+)$/.exec(rest);
  if (m === null) throw invalid(input, 'missing host or port');
  const host = (m[1] ?? m[2]) as string;
  if (m[1] !== undefined && isIP(host) !== 6) throw invalid(input, `'[${host}]' is not an IPv6 address`);
  if (!isValidHost(host)) throw invalid(input, `host '${host}' is not an IP address or host name`);
  const port = parsePort(m[3] as string, input);
  return { scheme: 'tcp', host, port, path: '', href: formatHostPort(host, port) };
}
