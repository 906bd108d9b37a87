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
  // A GP v1 payload is base64 of a JSON object, so it starts with "eyJ" (base64 of '{"').
  // Anything else (an HTTP health probe, a scanner) is not taken for a v1 launcher.
  const n = Math.min(head.length, V1_PREFIX.length);
  if (!head.subarray(0, n).equals(V1_PREFIX.subarray(0, n))) return 'unknown';
  if (n < V1_PREFIX.length) return ended ? 'unknown' : 'more';
  return 'v1';
}

const V1_PREFIX = Buffer.from('eyJ');
