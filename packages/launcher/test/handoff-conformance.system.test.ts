import t from 'tap';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PYTHON, PYTHON_PRESET, writeConnectionFile } from './helpers/launcher-process.js';
import { launchKernel } from './helpers/launched-kernel.js';

const RANGE = '31200..32200';
const CONFORMANCE = fileURLToPath(new URL('./fixtures/conformance_through_launcher.py', import.meta.url));

t.test("jupyter_kernel_test's conformance suite passes against ipykernel started through the launcher in handoff mode", async (t) => {
  const { info, control, run } = await launchKernel(t, { kernelId: 'k-conformance', range: RANGE, args: PYTHON_PRESET });
  const file = writeConnectionFile(info);
  t.teardown(() => rmSync(dirname(file), { recursive: true, force: true }));
  const child = spawn(PYTHON, [CONFORMANCE, file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const status = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  const line = out.trim().split('\n').pop() ?? '';
  let result: { run: number; failures: number; errors: number; skipped: string[]; details: string[] };
  try {
    result = JSON.parse(line) as typeof result;
  } catch {
    t.fail(`conformance runner failed (${String(status)}): ${err.slice(-3000)}`);
    return;
  }
  t.ok(result.run >= 12, `${result.run} conformance tests ran`);
  t.equal(result.failures + result.errors, 0, result.details.join('\n---\n') || 'no failures or errors');
  t.same(
    result.skipped.filter((name) => !name.includes("hist_access_type='range'")),
    [],
    'nothing skipped but the history range check left out on purpose (see the fixture)',
  );
  t.same(await control({ shutdown: true }), { ok: true });
  await run.exited;
});
