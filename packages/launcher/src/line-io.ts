/**
 * Bounded reads from a socket: one JSON line (or everything up to end of
 * stream) within a size and a time limit.
 *
 * @module
 */
import type { Socket } from 'node:net';
import { GatewayError } from '@gateway-launchers/common/errors';

/**
 * Reads up to the first `\n`, or to end of stream when `untilEnd` allows it,
 * at most `limit` bytes and `timeoutMs`. Rejects with `GL_ERR_ENVELOPE_TOO_LARGE`
 * or `GL_ERR_READ_TIMEOUT`, or with the socket's error.
 */
export function readLine(socket: Socket, limit: number, timeoutMs: number, options: { acceptEof?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(
      () => finish(new GatewayError('GL_ERR_READ_TIMEOUT', `no complete message within ${timeoutMs} ms`)),
      timeoutMs,
    );
    function finish(result: string | Error): void {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.off('close', onClose);
      if (typeof result === 'string') resolve(result);
      else reject(result);
    }
    function onData(chunk: Buffer): void {
      const nl = chunk.indexOf(0x0a);
      const part = nl < 0 ? chunk : chunk.subarray(0, nl);
      size += part.length;
      if (size > limit) return finish(new GatewayError('GL_ERR_ENVELOPE_TOO_LARGE', `message exceeds ${limit} bytes`));
      chunks.push(part);
      if (nl >= 0) finish(Buffer.concat(chunks).toString('utf8'));
    }
    function onEnd(): void {
      if (options.acceptEof === true && size > 0) finish(Buffer.concat(chunks).toString('utf8'));
      else finish(new GatewayError('GL_ERR_READ_TIMEOUT', 'peer closed before a complete message'));
    }
    function onError(err: Error): void {
      finish(err);
    }
    function onClose(): void {
      finish(new GatewayError('GL_ERR_READ_TIMEOUT', 'connection closed before a complete message'));
    }
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('error', onError);
    socket.once('close', onClose);
  });
}
