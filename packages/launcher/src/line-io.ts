/**
 * Bounded reads from a socket: one JSON line (or everything up to end of
 * stream) within a size and a time limit. The line itself is cut by common's
 * {@link LineReader}; this module adds the socket's events and the deadline.
 *
 * @module
 */
import type { Socket } from 'node:net';
import { GatewayError } from '@gateway-launchers/common/errors';
import { LineReader } from '@gateway-launchers/common/line-reader';

/**
 * Reads up to the first `\n`, or to end of stream when `acceptEof` allows it,
 * at most `limit` bytes and `timeoutMs`. Rejects with `GL_ERR_ENVELOPE_TOO_LARGE`
 * or `GL_ERR_READ_TIMEOUT`, or with the socket's error.
 */
export function readLine(socket: Socket, limit: number, timeoutMs: number, options: { acceptEof?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new LineReader(limit);
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
      const item = reader.first(chunk);
      if (item === undefined) return;
      if (item.kind === 'overlong') finish(new GatewayError('GL_ERR_ENVELOPE_TOO_LARGE', `message exceeds ${limit} bytes`));
      else finish(item.line.toString('utf8'));
    }
    function onEnd(): void {
      const [last] = reader.end();
      if (options.acceptEof === true && last?.kind === 'line') finish(last.line.toString('utf8'));
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
