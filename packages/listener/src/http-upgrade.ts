/**
 * A deliberately small parser for the one HTTP request the listener serves:
 * the WebSocket upgrade of a launcher. The listener reads the request head
 * itself (bounded in size and time, like every other read) and hands `ws` a
 * request object with the fields its `handleUpgrade` uses, so no HTTP server
 * with its own timers and keep-alive rules sits in front of the port.
 *
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { type Result, fail, ok } from '@gateway-launchers/common';

/** Default largest upgrade request head, in bytes. */
export const MAX_UPGRADE_HEAD_BYTES = 8 * 1024;

/** A parsed request head. */
export interface UpgradeRequestHead {
  readonly method: string;
  readonly url: string;
  readonly httpVersion: string;
  /** Header names lower-cased; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
}

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Index just past the blank line ending the head, or -1 while it is incomplete. */
export function findHeadEnd(buf: Buffer): number {
  const at = buf.indexOf(CRLFCRLF);
  return at < 0 ? -1 : at + CRLFCRLF.length;
}

/** Parses a request head (the bytes before and including the blank line). */
export function parseUpgradeHead(head: Buffer): Result<UpgradeRequestHead> {
  const lines = head.toString('latin1').split('\r\n');
  const m = /^([A-Z]{1,16}) (\/[\x21-\x7e]*) HTTP\/(1\.[01])$/.exec(lines[0] ?? '');
  if (m === null) return fail('GL_ERR_UPGRADE_INVALID', 'request line is not METHOD /path HTTP/1.x');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) return fail('GL_ERR_UPGRADE_INVALID', 'header line without a name');
    const name = line.slice(0, colon).toLowerCase();
    if (!TOKEN_RE.test(name)) return fail('GL_ERR_UPGRADE_INVALID', 'header name is not a token');
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return ok({ method: m[1] as string, url: m[2] as string, httpVersion: m[3] as string, headers });
}

/** The request object `ws`'s `handleUpgrade` reads (method, url, headers, socket). */
export function toIncomingMessage(head: UpgradeRequestHead, socket: Socket): IncomingMessage {
  return {
    method: head.method,
    url: head.url,
    httpVersion: head.httpVersion,
    headers: { ...head.headers },
    socket,
  } as unknown as IncomingMessage;
}

/** An HTTP/1.1 error response that closes the connection, with the error code as JSON body. */
export function httpErrorResponse(status: 400 | 408 | 413 | 431 | 503, code: string): string {
  const reasons = {
    400: 'Bad Request',
    408: 'Request Timeout',
    413: 'Content Too Large',
    431: 'Request Header Fields Too Large',
    503: 'Service Unavailable',
  } as const;
  const body = `${JSON.stringify({ ok: false, error: code })}\n`;
  return `HTTP/1.1 ${status} ${reasons[status]}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}
