/**
 * The Python distribution `gateway-launchers-jupyter`, tested the way an
 * operator installs it: a venv made once with Debian's interpreter and
 * `--system-site-packages` (jupyter_client, jupyter_server, ipykernel come from
 * Debian), `pip install` fully offline (no index, no build isolation), then
 * its pytest suite. Each pytest test becomes one tap test here, so it counts
 * in `npm test`'s closing line.
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PACKAGE = join(ROOT, 'packages/jupyter');
/** In the repository's ignored tmp/: created once, reused by later runs. */
const VENV = join(ROOT, 'tmp/jupyter-venv');
const VPY = join(VENV, 'bin/python');
const SYSTEM_PYTHON = '/usr/bin/python3';

// The suite starts real Jupyter Servers and kernels on a busy machine.
t.setTimeout(60 * 60_000);

interface PytestResult {
  nodeid: string;
  outcome: 'passed' | 'failed' | 'skipped';
  details: string;
}

/** pip with no configuration, index or find-links: what a machine without network has. */
function pip(args: string[]): { status: number | null; output: string } {
  const r = spawnSync(VPY, ['-m', 'pip', '--isolated', '--disable-pip-version-check', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

function runPytest(report: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    // From a directory outside the package: the tests import the installed distribution, not src/.
    const child = spawn(
      VPY,
      ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', '--rootdir', join(PACKAGE, 'tests'), join(PACKAGE, 'tests')],
      {
        cwd: join(ROOT, 'tmp'),
        env: { ...process.env, GL_PYTEST_REPORT: report, GL_REPO_ROOT: ROOT, GL_NODE: process.execPath, PYTHONDONTWRITEBYTECODE: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    const keep = (c: Buffer): void => {
      output = (output + c.toString()).slice(-200_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('close', (code) => resolve({ code, output }));
  });
}

mkdirSync(join(ROOT, 'tmp'), { recursive: true });
let installed = false;

await t.test('pip installs ./packages/jupyter offline into a --system-site-packages venv and registers the provisioner', async (t) => {
  if (!existsSync(VPY)) {
    const r = spawnSync(SYSTEM_PYTHON, ['-m', 'venv', '--system-site-packages', VENV], { encoding: 'utf8' });
    t.equal(r.status, 0, `python3 -m venv: ${r.stderr}`);
  }
  pip(['uninstall', '-y', 'gateway-launchers-jupyter']);
  const r = pip(['install', '--no-index', '--no-build-isolation', './packages/jupyter']);
  t.equal(r.status, 0, r.output.slice(-3000));
  const ep = spawnSync(
    VPY,
    [
      '-c',
      "from jupyter_client.provisioning import KernelProvisionerFactory as K; print(K.instance().get_provisioner_entries()['gateway-launcher'])",
    ],
    { cwd: join(ROOT, 'tmp'), encoding: 'utf8' },
  );
  t.equal(ep.stdout.trim(), 'gateway_launchers_jupyter.provisioner:GatewayLauncherProvisioner', ep.stderr);
  installed = r.status === 0;
});

const report = join(ROOT, 'tmp', `pytest-report-${process.pid}.jsonl`);
const run = installed ? await runPytest(report) : { code: null, output: 'not installed' };
const results: PytestResult[] = existsSync(report)
  ? readFileSync(report, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as PytestResult)
  : [];
rmSync(report, { force: true });

if (results.length === 0) {
  t.test('the pytest suite ran', (t) => {
    t.fail(`pytest reported no test (exit ${run.code}):\n${run.output.slice(-5000)}`);
    t.end();
  });
}
for (const r of results) {
  t.test(`pytest ${r.nodeid}`, r.outcome === 'skipped' ? { skip: r.details || 'skipped' } : {}, (t) => {
    t.equal(r.outcome, 'passed', r.details.slice(-5000));
    t.end();
  });
}
if (results.length > 0 && run.code !== 0 && results.every((r) => r.outcome !== 'failed')) {
  t.test('pytest exited cleanly', (t) => {
    t.fail(`pytest exited ${run.code} with no failed test:\n${run.output.slice(-5000)}`);
    t.end();
  });
}
