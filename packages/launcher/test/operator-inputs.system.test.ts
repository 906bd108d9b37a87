/**
 * Issue 11, smaller findings: a launch token with a trailing newline (as a
 * Kubernetes Secret often gives) and `--ip 127.0.0.2` (Linux routes all of
 * 127.0.0.0/8 locally) are accepted, and the kernel really serves there.
 */
import t from 'tap';
import { isFailureResponse, type ResponseSuccess } from '@gateway-launchers/common';
import { Receiver } from './helpers/receiver.js';
import { IPYKERNEL_ARGV, controlText, kernelClient, replyOf, runLauncher, sendComm } from './helpers/launcher-process.js';

t.test(
  'KERNEL_LAUNCH_TOKEN with a trailing newline is trimmed, and --ip 127.0.0.2 is a local address',
  { skip: process.platform === 'linux' ? false : '127/8 routing is Linux behaviour' },
  async (t) => {
    const receiver = await Receiver.start();
    t.teardown(() => receiver.close());
    const run = runLauncher(
      [
        '--kernel-id',
        'k-ops',
        '--response-address',
        receiver.address,
        '--public-key',
        receiver.publicKey,
        '--ip',
        '127.0.0.2',
        ...IPYKERNEL_ARGV,
      ],
      {
        KERNEL_LAUNCH_TOKEN: `${receiver.token}\n`,
      },
    );
    t.teardown(() => run.stop());
    const { plaintext, epk } = await receiver.next(60_000);
    t.notOk(isFailureResponse(plaintext), 'the launcher did not refuse its token or its --ip');
    const r = plaintext as ResponseSuccess;
    t.equal(r.token, receiver.token, 'the response carries the trimmed token');
    t.equal(r.conn_info.ip, '127.0.0.2', 'and reports the kernel on 127.0.0.2');
    const out = await kernelClient(r.conn_info, 'execute', '6*7').result;
    t.equal(out.result, '42', 'where the kernel serves');
    t.same(
      replyOf(
        await sendComm(r.comm_port, controlText('k-ops', { shutdown: true }, epk, receiver.keys.secretKey), '127.0.0.2'),
        epk,
        receiver.keys.secretKey,
      ),
      { ok: true },
    );
    t.equal((await run.exited).code, 0);
  },
);
