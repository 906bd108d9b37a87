/**
 * A minimal v2 response receiver built from packages/common, for launcher
 * tests that must not depend on the listener package.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { randomBytes } from 'node:crypto';
import {
  type BoxKeyPair,
  type ResponsePlaintext,
  generateKeyPair,
  openResponse,
  toBase64,
  parsePortRange,
  type PortRange,
} from '@gateway-launchers/common';
import { RESPONSE_WAIT_MS } from './launcher-process.js';

export interface Received {
  plaintext: ResponsePlaintext;
  epk: Uint8Array;
}

export class Receiver {
  readonly keys: BoxKeyPair = generateKeyPair();
  readonly token = randomBytes(32).toString('base64url');
  readonly publicKey = toBase64(this.keys.publicKey);
  readonly received: Received[] = [];
  readonly refusals: string[] = [];
  /** When set, an accepted response is acknowledged only once this resolves (to hold a launcher in its reporting phase). */
  ackGate: Promise<void> | undefined;
  #waiters: Array<(r: Received) => void> = [];
  #server: Server;
  #sockets = new Set<Socket>();
  port = 0;

  constructor(readonly range: PortRange = parsePortRange('0..0')) {
    this.#server = createServer((socket) => this.#onConnection(socket));
  }

  static async start(range?: string, port = 0, host = '127.0.0.1'): Promise<Receiver> {
    const r = new Receiver(range === undefined ? undefined : parsePortRange(range, { minSize: 0 }));
    await r.listen(port, host);
    return r;
  }

  listen(port: number, host = '127.0.0.1'): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.port = (this.#server.address() as { port: number }).port;
        resolve();
      });
    });
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  #onConnection(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => {});
    let buf = '';
    socket.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const opened = openResponse(buf.slice(0, nl), this.keys.secretKey, { portRange: this.range });
      if (!opened.ok) {
        this.refusals.push(opened.error.code);
        socket.end(`${JSON.stringify({ ok: false, error: opened.error.code })}\n`);
        return;
      }
      if (opened.value.plaintext.token !== this.token) {
        this.refusals.push('GL_ERR_TOKEN_MISMATCH');
        socket.end(`${JSON.stringify({ ok: false, error: 'GL_ERR_TOKEN_MISMATCH' })}\n`);
        return;
      }
      const ack = (): void => void socket.end(`${JSON.stringify({ ok: true })}\n`);
      if (this.ackGate === undefined) ack();
      else void this.ackGate.then(ack);
      const r = { plaintext: opened.value.plaintext, epk: opened.value.envelope.epk };
      this.received.push(r);
      for (const w of this.#waiters.splice(0)) w(r);
    });
  }

  next(timeoutMs = RESPONSE_WAIT_MS): Promise<Received> {
    const have = this.received.shift();
    if (have !== undefined) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no response received in time')), timeoutMs);
      this.#waiters.push((r) => {
        clearTimeout(timer);
        this.received.splice(this.received.indexOf(r), 1);
        resolve(r);
      });
    });
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/**
 * A response port as Gateway Provisioners' ResponseManager has it (protocol
 * v1): reads a connection to its end, answers nothing. `payload` resolves with
 * the first payload received.
 */
export async function startV1Receiver(): Promise<{ port: number; payload: Promise<string>; close: () => Promise<void> }> {
  let gotPayload: (p: string) => void = () => {};
  const payload = new Promise<string>((resolve) => (gotPayload = resolve));
  const server = createServer((socket) => {
    let data = '';
    socket.on('error', () => {});
    socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
    socket.on('end', () => {
      gotPayload(data);
      socket.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as { port: number }).port,
    payload,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
