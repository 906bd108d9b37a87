/**
 * Ports taken under a starting kernel (issue: a kernel that hangs instead of
 * dying on a clash), and the ephemeral port range warning.
 */
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isFailureResponse } from '@gateway-launchers/common';
import { PYTHON, kernelClient, waitFor } from './helpers/launcher-process.js';
import { launchKernel, reportedPorts, startLaunch } from './helpers/launched-kernel.js';

const CLASH_ONCE = fileURLToPath(new URL('./fixtures/clash_once.py', import.meta.url));

for (const portName of ['iopub', 'hb'] as const) {
  t.test(`a kernel that hangs because its ${portName} port was taken is killed and restarted on fresh ports`, async (t) => {
    const marker = join(mkdtempSync(join(tmpdir(), 'gl-clash-')), 'marker');
    // ipykernel 6.17 does not exit on this clash: without detection the launch fails at its timeout.
    // A failure response (no retry) rejects here, with the kernel's stderr.
    const {
      run,
      response: r,
      info,
    } = await launchKernel(t, {
      kernelId: `k-clash-${portName}`,
      args: ['--launch-timeout', '120', '--', PYTHON, CLASH_ONCE, marker, '{connection_file}', portName],
    });
    const events = run.logs.map((l) => l.event);
    t.ok(events.includes('port_clash_detected'), "the clash was seen on the kernel's stderr");
    t.ok(events.indexOf('port_clash_detected') < events.indexOf('port_clash_retry'), 'and the kernel was killed before the retry');
    const selections = run.logs.filter((l) => l.event === 'ports_selected');
    t.equal(selections.length, 2, 'ports were selected twice');
    const first = selections[0]?.ports as number[];
    t.notOk(
      reportedPorts(r)
        .slice(0, 5)
        .some((p) => first.includes(p)),
      'none of the first ports is reused',
    );
    const out = await kernelClient(info, 'execute', '6*7').result;
    t.equal(out.result, '42', 'the restarted kernel works (its iopub carried the result)');
    run.child.kill('SIGTERM');
    t.equal((await run.exited).code, 0);
  });
}

t.test('proxy mode: a kernel that hangs on a taken loopback iopub port is killed and restarted behind the same public ports', async (t) => {
  const marker = join(mkdtempSync(join(tmpdir(), 'gl-clash-')), 'marker');
  // The response goes out at once in proxy mode, before the clash.
  const { receiver, run, info } = await launchKernel(t, {
    kernelId: 'k-proxy-iopub-clash',
    range: '23000..24000',
    args: ['--mode', 'proxy', '--', PYTHON, CLASH_ONCE, marker, '{connection_file}', 'iopub'],
  });
  t.ok(await waitFor(() => run.logs.some((l) => l.event === 'kernel_ready'), 120_000), 'a kernel listens behind the relay');
  const events = run.logs.map((l) => l.event);
  t.ok(events.includes('port_clash_detected'), "the clash was seen on the kernel's stderr");
  t.ok(events.includes('port_clash_retry'), 'and the kernel restarted on fresh loopback ports');
  const out = await kernelClient(info, 'execute', '2**10').result;
  t.equal(out.result, '1024', 'the response sent before the clash is still valid');
  t.equal(receiver.received.length, 0, 'no second response was needed');
  run.child.kill('SIGTERM');
  t.equal((await run.exited).code, 0);
});

t.test(
  'a port range inside the ephemeral range (net.ipv4.ip_local_port_range) is warned about, with both ranges; one outside is not',
  { skip: existsSync('/proc/sys/net/ipv4/ip_local_port_range') ? false : 'no /proc/sys/net/ipv4/ip_local_port_range' },
  async (t) => {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'latin1').trim().split(/\s+/).map(Number) as [number, number];
    const launch = async (range: string): Promise<Array<Record<string, unknown>>> => {
      // A kernel that exits at once: the warning comes before it, the failure response after.
      const { receiver, run } = await startLaunch(t, {
        kernelId: 'k-eph',
        range,
        args: ['--', PYTHON, '-c', 'raise SystemExit(3)', '{connection_file}'],
        env: { MIN_PORT_RANGE_SIZE: '0' },
      });
      t.ok(isFailureResponse((await receiver.next(60_000)).plaintext), `${range}: the launch itself goes on`);
      await run.exited;
      return run.logs.filter((l) => l.event === 'port_range_ephemeral_overlap');
    };
    const inside = `${Math.max(lo, 1024)}..${Math.min(hi, Math.max(lo, 1024) + 100)}`;
    const warned = await launch(inside);
    t.equal(warned.length, 1, 'one warning');
    t.match(warned[0], { level: 40, port_range: inside, ephemeral_range: `${lo}..${hi}` });
    // Below the ephemeral range when there is room, else above it.
    const outside = lo > 1124 ? `${lo - 101}..${lo - 1}` : `${hi + 1}..${hi + 101}`;
    t.same(await launch(outside), [], `no warning for ${outside}`);
  },
);
