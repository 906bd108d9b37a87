import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IPYKERNEL_ARGV, kernelClient } from './helpers/launcher-process.js';
import { PYTHON_PRESET, launch } from './helpers/handoff-launch.js';

const RANGE = '30100..31100';

t.test('a kernel that is not the python preset cannot adopt sockets: --mode handoff falls back to direct with a log line', async (t) => {
  const { run, r, info } = await launch(t, RANGE, 'k-fallback', ['--mode', 'handoff', ...IPYKERNEL_ARGV]);
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
  const { run, r, info } = await launch(t, RANGE, 'k-no-use-fd', PYTHON_PRESET, { PYTHONPATH: site });
  t.equal(r.mode, 'handoff', 'the ports reported are the reserved ones');
  t.match(
    run.logs.find((l) => l.event === 'handoff_fallback'),
    { reason: /no USE_FD/ },
    "the kernel's fallback is logged",
  );
  t.notOk(run.logs.some((l) => l.event === 'handoff_adopted'));
  t.equal((await kernelClient(info, 'execute', '7*6').result).result, '42', 'the kernel serves on the reported ports');
});
