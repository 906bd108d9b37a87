/**
 * Speaks to the kernel on its Jupyter control channel: `shutdown_request` for
 * a graceful stop and `interrupt_request` for kernels whose interrupt mode is
 * `message`. zeromq is imported only when a message is actually sent.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import type { ConnectionInfo } from '@gateway-launchers/common/connection-info';
import { MessageSigner, createMessage, parseMessage, serializeMessage } from '@gateway-launchers/common/wire';

/** Address the launcher uses to reach the kernel it started. */
export function localKernelHost(kernelBindIp: string): string {
  if (kernelBindIp === '0.0.0.0') return '127.0.0.1';
  if (kernelBindIp === '::') return '::1';
  return kernelBindIp;
}

/**
 * Sends a request of `msgType` on the control channel and waits for the
 * matching reply, at most `timeoutMs`. Resolves true when a signed reply came.
 */
export async function controlRequest(
  info: ConnectionInfo,
  kernelBindIp: string,
  msgType: 'shutdown_request' | 'interrupt_request',
  content: Record<string, unknown>,
  timeoutMs: number,
): Promise<boolean> {
  const zmq = await import('zeromq');
  const host = localKernelHost(kernelBindIp);
  const socket = new zmq.Dealer({ linger: 0, receiveTimeout: timeoutMs, sendTimeout: timeoutMs, ipv6: isIP(host) === 6 });
  try {
    socket.connect(`tcp://${isIP(host) === 6 ? `[${host}]` : host}:${info.control_port}`);
    const signer = new MessageSigner(info.key, info.signature_scheme);
    const msg = createMessage(msgType, content, { session: randomUUID() });
    await socket.send(serializeMessage(msg, signer));
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const frames = await socket.receive();
      const reply = parseMessage(frames, signer);
      if (reply.ok && reply.value.parent_header.msg_id === msg.header.msg_id) return true;
    }
    return false;
  } catch {
    return false;
  } finally {
    socket.close();
  }
}
