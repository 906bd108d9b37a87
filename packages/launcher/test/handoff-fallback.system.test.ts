import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IPYKERNEL_ARGV, PYTHON_PRESET, kernelClient } from './helpers/launcher-process.js';
import { launchKernel } from './helpers/launched-kernel.js';

const RANGE = '30100..31100';

t.test('a kernel that is not the python preset cannot adopt sockets: --mode handoff falls back to direct with a log line', async (t) => {
  const {
    run,
    response: r,
    info,
  } = await launchKernel(t, { kernelId: 'k-fallback', range: RANGE, args: ['--mode', 'handoff', ...IPYKERNEL_ARGV] });
  t.equal(r.mode, 'direct', 'reported as direct');
  const fallback = run.logs.find((l) => l.event === 'handoff_fallback');
  t.match(fallback, { level: 40, reason: /--kernel-language python/ }, 'warned, with the reason');
  t.ok(
    run.logs.some((l) => l.event === 'kernel_ready'),
    'direct readiness (the kernel listened on its own ports)',
  );
  const out = await kernelClient(info, 'execute', '40+2').result;
  t.equal(out.result, '42');
});

t.test('a python whose zmq has no USE_FD binds the reserved ports itself, and says so', async (t) => {
  // A real pyzmq with USE_FD taken away before the bootstrap runs (as pyzmq < 17 lacks it): sitecustomize is imported at start-up.
  const site = mkdtempSync(join(tmpdir(), 'gl-nousefd-'));
  t.teardown(() => rmSync(site, { recursive: true, force: true }));
  writeFileSync(join(site, 'sitecustomize.py'), 'import zmq\ndel zmq.USE_FD\n');
  const {
    run,
    response: r,
    info,
  } = await launchKernel(t, { kernelId: 'k-no-use-fd', range: RANGE, args: PYTHON_PRESET, env: { PYTHONPATH: site } });
  t.equal(r.mode, 'handoff', 'the ports reported are the reserved ones');
  t.match(
    run.logs.find((l) => l.event === 'handoff_fallback'),
    { reason: /no USE_FD/ },
    "the kernel's fallback is logged",
  );
  t.notOk(run.logs.some((l) => l.event === 'handoff_adopted'));
  t.equal((await kernelClient(info, 'execute', '7*6').result).result, '42', 'the kernel serves on the reported ports');
});
