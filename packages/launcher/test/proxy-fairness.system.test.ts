/**
 * Proxy mode is fair between clients (issue 12 §4): a client flooding the
 * public shell port does not hold up another client's request. The flood is
 * bounded in count; the test asserts on events (the real client's reply
 * arrives while the flooder is still sending), never on durations — the
 * durations are in `npm run bench` (section `fairness`).
 *
 * The turn-taking itself is tested in-process (fair-queue.test.ts): how far a
 * real request overtakes a *signed* flood through a real kernel depends on
 * how far the launcher lags the flooder and on ipykernel's own unbounded
 * queue, so it is measured in the bench, not asserted here.
 */
import t from 'tap';
import * as zmq from 'zeromq';
import { IPYKERNEL_ARGV, kernelClient } from './helpers/launcher-process.js';
import { launchKernel } from './helpers/launched-kernel.js';

const RANGE = '52100..53100';
/** Upper bound of the flood: a safety net, far more than a kernel_info round trip needs even on a busy machine. */
const FLOOD_LIMIT = 20_000_000;
/** Messages the flooder has sent before the real client starts. */
const FLOOD_HEAD_START = 2_000;

/** An unsigned Jupyter-shaped message: empty signature, the kernel (and the launcher) must drop it. */
const UNSIGNED = [
  Buffer.from('<IDS|MSG>'),
  Buffer.alloc(0),
  Buffer.from('{"msg_type":"kernel_info_request"}'),
  Buffer.from('{}'),
  Buffer.from('{}'),
  Buffer.from('{}'),
];

t.test('a client flooding shell with unsigned messages does not hold up another client’s kernel_info', async (t) => {
  const { info } = await launchKernel(t, {
    kernelId: 'k-fair',
    range: RANGE,
    args: ['--mode', 'proxy', ...IPYKERNEL_ARGV],
    awaitKernelReady: true,
  });
  const flooder = new zmq.Dealer({ linger: 0 });
  t.teardown(() => flooder.close());
  flooder.connect(`tcp://127.0.0.1:${info.shell_port}`);
  let sent = 0;
  let stop = false;
  let headStart: () => void = () => {};
  const started = new Promise<void>((resolve) => (headStart = resolve));
  const flood = (async () => {
    while (!stop && sent < FLOOD_LIMIT) {
      await flooder.send(UNSIGNED);
      if (++sent === FLOOD_HEAD_START) headStart();
    }
    headStart();
  })();

  await started;
  const reply = await kernelClient(info, 'kernel_info').result;
  const stillFlooding = !stop && sent < FLOOD_LIMIT;
  const sentByReply = sent;
  stop = true;
  await flood;
  t.same(reply, { status: 'ok' }, 'the real client got its kernel_info_reply');
  t.ok(stillFlooding, `the reply arrived while the flood was still running (${sentByReply} flood messages sent by then)`);
  t.ok(sentByReply > FLOOD_HEAD_START, 'the flood kept going while the real client waited');
});
