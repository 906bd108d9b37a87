/** A small Jupyter client over zeromq.js, signed with packages/common's wire module (IPv4 and IPv6). */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import * as zmq from 'zeromq';
import {
  type ConnectionInfo,
  MessageSigner,
  createMessage,
  parseMessage,
  serializeMessage,
  type JupyterMessage,
} from '@gateway-launchers/common';
import { GENEROUS_MS } from './launcher-process.js';

export function zmqUrl(info: ConnectionInfo, port: number): string {
  return `tcp://${isIP(info.ip) === 6 ? `[${info.ip}]` : info.ip}:${port}`;
}

/** Sends one request on the shell channel and resolves the signed reply. */
export async function shellRequest(
  info: ConnectionInfo,
  msgType: string,
  content: Record<string, unknown>,
  timeoutMs = GENEROUS_MS,
): Promise<JupyterMessage> {
  const socket = new zmq.Dealer({ linger: 0, receiveTimeout: timeoutMs, ipv6: isIP(info.ip) === 6 });
  try {
    socket.connect(zmqUrl(info, info.shell_port));
    const signer = new MessageSigner(info.key, info.signature_scheme);
    const msg = createMessage(msgType, content, { session: randomUUID() });
    await socket.send(serializeMessage(msg, signer));
    for (;;) {
      const reply = parseMessage(await socket.receive(), signer);
      if (!reply.ok) throw reply.error;
      if (reply.value.parent_header.msg_id === msg.header.msg_id) return reply.value;
    }
  } finally {
    socket.close();
  }
}

/** One heartbeat through the kernel's hb port with a REQ socket: true when it echoes within `timeoutMs`. */
export async function heartbeat(info: ConnectionInfo, timeoutMs: number): Promise<boolean> {
  const req = new zmq.Request({ linger: 0, receiveTimeout: timeoutMs, sendTimeout: timeoutMs, ipv6: isIP(info.ip) === 6 });
  try {
    req.connect(zmqUrl(info, info.hb_port));
    await req.send('ping');
    const [echo] = await req.receive();
    return echo?.toString() === 'ping';
  } catch {
    return false;
  } finally {
    req.close();
  }
}
