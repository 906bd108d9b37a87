/**
 * One port serves every protocol: the first bytes of a connection say which
 * (design §4). `{` starts a v2 JSON line, `GET ` a WebSocket upgrade, a base64
 * character a Gateway Provisioners v1 payload (whose base64 of `{"` begins
 * with `eyJ`). Anything else is refused.
 *
 * @module
 */

/** The protocol a connection speaks, or `more` when its first bytes do not tell yet. */
export type SniffResult = 'v2' | 'websocket' | 'v1' | 'unknown' | 'more';

const GET = Buffer.from('GET ', 'latin1');

function isBase64Byte(b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2b || b === 0x2f;
}

/**
 * Classifies the first bytes of a connection. With `ended`, the stream has
 * ended, so a prefix that could still become `GET ` is classified as it stands.
 */
export function sniff(head: Buffer, ended = false): SniffResult {
  const first = head[0];
  if (first === undefined) return ended ? 'unknown' : 'more';
  if (first === 0x7b) return 'v2';
  if (first === 0x47) {
    const n = Math.min(head.length, GET.length);
    if (head.subarray(0, n).equals(GET.subarray(0, n))) {
      if (n === GET.length) return 'websocket';
      if (!ended) return 'more';
    }
  }
  return isBase64Byte(first) ? 'v1' : 'unknown';
}
