import t from 'tap';
import { PYTHON_PRESET, waitFor } from './helpers/launcher-process.js';
import { launchKernel } from './helpers/launched-kernel.js';
import { shellRequest } from './helpers/zmq-client.js';

const RANGE = '29000..30000';

t.test('--handoff-ready at-bind: the response goes out before the kernel serves; early requests wait in the backlog', async (t) => {
  const {
    run,
    response: r,
    info,
  } = await launchKernel(t, {
    kernelId: 'k-at-bind',
    range: RANGE,
    args: [...PYTHON_PRESET, '--mode', 'handoff', '--handoff-ready', 'at-bind'],
  });
  t.equal(r.mode, 'handoff');
  t.ok(await waitFor(() => run.logs.some((l) => l.event === 'response_acked'), 30_000), 'response acknowledged');
  const acked = run.logs.findIndex((l) => l.event === 'response_acked');
  t.notOk(
    run.logs.slice(0, acked).some((l) => l.event === 'kernel_ready'),
    'no readiness wait before the response',
  );
  const reply = await shellRequest(info, 'kernel_info_request', {}, 60_000);
  t.equal(reply.header.msg_type, 'kernel_info_reply', 'a request sent at once is answered');
  t.ok(await waitFor(() => run.logs.some((l) => l.event === 'handoff_adopted'), 30_000), 'sockets adopted');
});
