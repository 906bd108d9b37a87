/**
 * Issue 11, smaller findings: a launch token with a trailing newline (as a
 * Kubernetes Secret often gives) and `--ip 127.0.0.2` (Linux routes all of
 * 127.0.0.0/8 locally) are accepted, and the kernel really serves there.
 * That the command line accepts both is checked in-process in command-line.test.ts.
 */
import t from 'tap';
import { IPYKERNEL_ARGV, kernelClient } from './helpers/launcher-process.js';
import { launchKernel } from './helpers/launched-kernel.js';

t.test(
  'KERNEL_LAUNCH_TOKEN with a trailing newline is trimmed, and --ip 127.0.0.2 is a local address',
  { skip: process.platform === 'linux' ? false : '127/8 routing is Linux behaviour' },
  async (t) => {
    // A failure response (the launcher refused its token or its --ip) rejects here.
    const { receiver, run, response, info, control } = await launchKernel(t, {
      kernelId: 'k-ops',
      args: ['--ip', '127.0.0.2', ...IPYKERNEL_ARGV],
      env: (receiver) => ({ KERNEL_LAUNCH_TOKEN: `${receiver.token}\n` }),
      host: '127.0.0.2',
    });
    t.equal(response.token, receiver.token, 'the response carries the trimmed token');
    t.equal(response.conn_info.ip, '127.0.0.2', 'and reports the kernel on 127.0.0.2');
    const out = await kernelClient(info, 'execute', '6*7').result;
    t.equal(out.result, '42', 'where the kernel serves');
    t.same(await control({ shutdown: true }), { ok: true }, 'as does the comm port');
    t.equal((await run.exited).code, 0);
  },
);
