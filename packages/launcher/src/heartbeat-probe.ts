/**
 * One heartbeat through a kernel's hb port, spoken in ZMTP 3.0 (NULL
 * mechanism) over a plain TCP socket: greeting, READY as a DEALER, one
 * single-frame message, and the kernel's echo of it. Handoff mode uses it to
 * know that the kernel serves the sockets it was handed, with no zeromq
 * addon loaded and no polling: the connection waits in the listen backlog
 * until the kernel adopts the socket, and the echo is the first byte of
 * interest that comes back.
 *
 * Everything read is bounded: the greeting, and frames of at most
 * {@link MAX_FRAME_BYTES}; anything else ends the attempt.
 *
 * @module
 */
import { connect, isIP, type Socket } from 'node:net';
import { sleep } from './backoff.js';

/** Largest frame (command or message) accepted from the kernel. */
const MAX_FRAME_BYTES = 1024;
/** Pause before connecting again after a refused or reset connection (a kernel that binds the port itself after a fallback). */
const RECONNECT_MS = 50;
const PAYLOAD = Buffer.from('gateway-launcher-ready');
const GREETING_BYTES = 64;
const READY_NAME = Buffer.from('\x05READY', 'latin1');

/** Our ZMTP 3.0 greeting: signature, version 3.0, mechanism NULL, as-server 0, filler. */
function greeting(): Buffer {
  const g = Buffer.alloc(GREETING_BYTES);
  g[0] = 0xff;
  g[9] = 0x7f;
  g[10] = 3;
  g[11] = 0;
  g.write('NULL', 12, 'ascii');
  return g;
}

/** A short frame: flags, one-byte size, body. */
function shortFrame(flags: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([flags, body.length]), body]);
}

/** READY command naming us a DEALER (a ROUTER accepts it). */
function ready(): Buffer {
  const name = Buffer.from('Socket-Type');
  const value = Buffer.from('DEALER');
  const size = Buffer.alloc(4);
  size.writeUInt32BE(value.length);
  return shortFrame(0x04, Buffer.concat([READY_NAME, Buffer.from([name.length]), name, size, value]));
}

/** What one connection attempt came to. */
type Attempt = 'echoed' | 'closed' | 'aborted' | 'protocol';

/** Reads ZMTP from `socket` until the echo of {@link PAYLOAD} arrives. */
function exchange(socket: Socket, signal: AbortSignal): Promise<Attempt> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    let greeted = false;
    const finish = (a: Attempt): void => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(a);
    };
    const onAbort = (): void => finish('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('error', () => finish('closed'));
    socket.on('close', () => finish('closed'));
    // One step at a time, each after the peer's: libzmq drops a connection whose greeting arrives with more bytes behind it.
    socket.on('connect', () => socket.write(greeting()));
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (!greeted) {
        if (buf.length < GREETING_BYTES) return;
        if (buf[0] !== 0xff || buf[9] !== 0x7f || (buf[10] ?? 0) < 3) return finish('protocol');
        greeted = true;
        buf = buf.subarray(GREETING_BYTES);
        socket.write(ready());
      }
      for (;;) {
        if (buf.length < 2) return;
        const flags = buf[0] as number;
        const long = (flags & 0x02) !== 0;
        const head = long ? 9 : 2;
        if (buf.length < head) return;
        const size = long ? Number(buf.readBigUInt64BE(1)) : (buf[1] as number);
        if (size > MAX_FRAME_BYTES) return finish('protocol');
        if (buf.length < head + size) {
          if (buf.length > MAX_FRAME_BYTES + 9) return finish('protocol');
          return;
        }
        const body = buf.subarray(head, head + size);
        buf = buf.subarray(head + size);
        if ((flags & 0x04) !== 0) {
          // The peer's READY: now the heartbeat. Other commands (ERROR) end the attempt.
          if (body.subarray(0, 6).equals(READY_NAME)) socket.write(shortFrame(0x00, PAYLOAD));
          else return finish('protocol');
          continue;
        }
        // The echo is a one-frame message.
        if ((flags & 0x01) === 0 && body.equals(PAYLOAD)) return finish('echoed');
      }
    });
  });
}

/**
 * Resolves true once the kernel's hb socket on `host`:`port` echoes one
 * heartbeat, false when `signal` aborts first (the kernel exited, the launch
 * deadline passed). A refused or reset connection is tried again after a
 * short pause; a peer that does not speak ZMTP 3 ends the wait with false.
 */
export async function heartbeatEcho(host: string, port: number, signal: AbortSignal): Promise<boolean> {
  while (!signal.aborted) {
    const socket = connect({ host, port, family: isIP(host) === 6 ? 6 : 4 });
    const attempt = await exchange(socket, signal);
    if (attempt === 'echoed') return true;
    if (attempt !== 'closed') return false;
    await sleep(RECONNECT_MS, signal);
  }
  return false;
}
