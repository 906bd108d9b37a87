/** Starting gateway-launcher in handoff mode against a test receiver, for the handoff tests. */
import type { Test } from 'tap';
import * as zmq from 'zeromq';
import { isFailureResponse, type ConnectionInfo, type ResponseSuccess } from '@gateway-launchers/common';
import { Receiver } from './receiver.js';
import { PYTHON, controlText, replyOf, runLauncher, sendComm } from './launcher-process.js';

/** The python preset, on Debian's interpreter (the one with ipykernel). */
export const PYTHON_PRESET = ['--kernel-language', 'python', '--python', PYTHON];

/** One heartbeat through the kernel's hb port with a zeromq.js REQ socket. */
export async function heartbeat(info: ConnectionInfo, timeoutMs: number): Promise<boolean> {
  const req = new zmq.Request({ linger: 0, receiveTimeout: timeoutMs, sendTimeout: timeoutMs });
  try {
    req.connect(`tcp://127.0.0.1:${info.hb_port}`);
    await req.send('ping');
    const [echo] = await req.receive();
    return echo?.toString() === 'ping';
  } catch {
    return false;
  } finally {
    req.close();
  }
}

/**
 * Runs the launcher with `args` in `range` and waits for its success response.
 * A generous --shutdown-grace: on a loaded machine ipykernel can need more than
 * the default 3 s to answer shutdown_request, and the tests check the graceful path.
 */
export async function launch(t: Test, range: string, kernelId: string, args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const receiver = await Receiver.start(range);
  t.teardown(() => receiver.close());
  const run = runLauncher(
    [
      '--kernel-id',
      kernelId,
      '--response-address',
      receiver.address,
      '--public-key',
      receiver.publicKey,
      '--port-range',
      range,
      '--shutdown-grace',
      '20',
      ...args,
    ],
    {
      KERNEL_LAUNCH_TOKEN: receiver.token,
      ...env,
    },
  );
  t.teardown(() => run.stop());
  const { plaintext, epk } = await receiver.next(60_000);
  if (isFailureResponse(plaintext)) throw new Error(`kernel failed: ${plaintext.failure.stderr_tail}`);
  const r = plaintext as ResponseSuccess;
  const info = { ...r.conn_info, ip: '127.0.0.1' };
  const control = async (action: Parameters<typeof controlText>[1]): Promise<Record<string, unknown>> =>
    replyOf(await sendComm(r.comm_port, controlText(kernelId, action, epk, receiver.keys.secretKey)), epk, receiver.keys.secretKey);
  return { run, r, info, control };
}
