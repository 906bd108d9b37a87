import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isFailureResponse, type ResponseFailure } from '@gateway-launchers/common';
import { pythonClusterPrelude, rSparkPrelude } from '../src/spark-init.js';
import { GENEROUS_MS, PYTHON, PYTHON_PRESET, kernelClient, waitFor } from './helpers/launcher-process.js';
import { launchKernel, startLaunch } from './helpers/launched-kernel.js';

const STANDINS = fileURLToPath(new URL('./fixtures/standins', import.meta.url));
const RANGE = '44000..45000';
function events(file: string): string[] {
  return existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { event: string }).event)
    : [];
}

function tempLog(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'gl-standin-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'standin.log');
}

/** Runs the python prelude plus `code` with the stand-ins on the path; returns stdout and the recorded events. */
function runPrelude(
  t: Test,
  mode: 'lazy' | 'eager',
  clusterType: 'spark' | 'dask',
  code: string,
): { stdout: string; events: string[]; status: number | null } {
  const log = tempLog(t);
  const r = spawnSync(PYTHON, ['-c', `${pythonClusterPrelude({ mode, clusterType })}\n${code}`], {
    env: { PATH: '/usr/bin:/bin', PYTHONPATH: STANDINS, STANDIN_LOG: log },
    encoding: 'utf8',
  });
  if (r.status !== 0) t.comment(r.stderr);
  return { stdout: r.stdout, events: events(log), status: r.status };
}

t.test(
  'lazy python hook: placeholders until first use, then the real objects; user bindings win; SIGUSR2 before use is harmless',
  async (t) => {
    const r = runPrelude(
      t,
      'lazy',
      'spark',
      [
        'import os, signal',
        'print(repr(_gl_user_ns["spark"]), hasattr(_gl_user_ns["sc"], "_repr_html_"))',
        'os.kill(os.getpid(), signal.SIGUSR2)',
        '_gl_user_ns["sql"] = "mine"',
        'print(_gl_user_ns["spark"].sql("q"))',
        'print(type(_gl_user_ns["spark"]).__name__, type(_gl_user_ns["sc"]).__name__, _gl_user_ns["sql"])',
      ].join('\n'),
    );
    t.equal(r.status, 0);
    t.equal(r.stdout, '<spark: created on first use> False\nrows of q\nSparkSession SparkContext mine\n');
    t.same(
      r.events,
      ['getOrCreate', 'sql', 'session_stop'],
      'SIGUSR2 before the context exists neither creates one nor cancels anything; the session stops at exit',
    );
  },
);

t.test('lazy dask hook binds cluster on first use', async (t) => {
  const r = runPrelude(
    t,
    'lazy',
    'dask',
    'print(repr(_gl_user_ns["cluster"])); _gl_user_ns["cluster"].scale(2); print(repr(_gl_user_ns["cluster"]))',
  );
  t.equal(r.stdout, '<cluster: created on first use>\n<stand-in YarnCluster>\n');
  t.same(r.events, ['YarnCluster.from_current', 'scale']);
});

t.test('eager spark kernel: the session exists before the response, and an interrupt cancels running jobs through SIGUSR2', async (t) => {
  const log = tempLog(t);
  const { run, info, control } = await launchKernel(t, {
    kernelId: 'k-eager',
    range: RANGE,
    args: [...PYTHON_PRESET, '--spark-context-initialization-mode', 'eager'],
    env: { PYTHONPATH: STANDINS, STANDIN_LOG: log },
  });
  t.same(events(log), ['getOrCreate'], 'created before the kernel was reported ready');
  const out = await kernelClient(info, 'execute', 'print(type(spark).__name__, type(sc).__name__); sql("SELECT 2")').result;
  t.equal(out.stdout, 'SparkSession SparkContext\n');
  t.equal(out.result, "'rows of SELECT 2'");
  const cell = kernelClient(info, 'execute_async', 'sc.runJob(60)');
  await cell.sent;
  t.ok(await waitFor(() => events(log).includes('job_started'), GENEROUS_MS), 'the job runs');
  t.same(await control({ interrupt: true }), { ok: true });
  t.equal((await cell.result).ename, 'KeyboardInterrupt', 'SIGINT ends the cell');
  t.ok(await waitFor(() => events(log).includes('cancelAllJobs'), GENEROUS_MS), 'SIGUSR2 cancelled the Spark jobs');
  const again = await kernelClient(info, 'execute', 'sc.runJob(0)').result;
  t.equal(again.result, "'finished'", 'the kernel and its context are still usable');
  await control({ shutdown: true });
  t.equal((await run.exited).code, 0);
  t.ok(events(log).includes('session_stop'), 'the session is stopped when the kernel exits');
});

t.test('eager mode fails the launch with the reason when the session cannot be created', async (t) => {
  const { receiver, run } = await startLaunch(t, {
    kernelId: 'k-eager-fail',
    range: RANGE,
    args: [...PYTHON_PRESET, '--spark-context-initialization-mode', 'eager'],
    env: { PYTHONPATH: STANDINS, STANDIN_FAIL: 'no YARN queue' },
  });
  const { plaintext } = await receiver.next();
  t.ok(isFailureResponse(plaintext), 'a failure response, not a timeout');
  const failure = (plaintext as ResponseFailure).failure;
  t.equal(failure.exit_code, 1);
  t.match(failure.stderr_tail, /stand-in Spark refused: no YARN queue[\s\S]*could not be created \(eager mode\)/, 'carrying the traceback');
  t.not((await run.exited).code, 0);
});

const HAVE_R = spawnSync('R', ['--version'], { stdio: 'ignore' }).status === 0;

/** Installs the stand-in SparkR package into a library of its own, removed with the test; returns the library. */
function installStandinSparkR(t: Test): string {
  const lib = mkdtempSync(join(tmpdir(), 'gl-rlib-'));
  t.teardown(() => rmSync(lib, { recursive: true, force: true }));
  const install = spawnSync(
    'R',
    ['CMD', 'INSTALL', '--no-docs', '--no-html', '--no-multiarch', `--library=${lib}`, join(STANDINS, 'SparkR')],
    { encoding: 'utf8' },
  );
  t.equal(install.status, 0, install.stderr);
  return lib;
}

t.test(
  'r hook with a stand-in SparkR: eager binds spark and sc at start; a failure halts R with the reason',
  { skip: HAVE_R ? false : 'R is not installed' },
  async (t) => {
    const lib = installStandinSparkR(t);
    const log = tempLog(t);
    const env = { PATH: '/usr/bin:/bin', SPARKR_PACKAGE_DIR: lib, STANDIN_LOG: log };
    const r = spawnSync(
      'R',
      ['--slave', '--no-restore', '--no-save', '-e', rSparkPrelude('eager'), '-e', 'cat(class(spark), class(sc), "\\n")'],
      { env, encoding: 'utf8' },
    );
    t.equal(r.stdout, 'SparkSession jobj \n', r.stderr);
    t.match(readFileSync(log, 'utf8'), /^sparkR\.session backend=\ncallJStatic getJavaSparkContext\n$/);
    const failed = spawnSync(
      'R',
      ['--slave', '--no-restore', '--no-save', '-e', rSparkPrelude('eager'), '-e', 'cat("kernel started\\n")'],
      { env: { ...env, STANDIN_FAIL: 'no backend' }, encoding: 'utf8' },
    );
    t.not(failed.status, 0, 'R stops before IRkernel would start');
    t.match(failed.stderr, /stand-in Spark refused: no backend/);
    t.notMatch(failed.stdout, /kernel started/);
  },
);

t.test("the Spark application name (--spark-app-name, GP's --customAppName) reaches SparkSession.builder, quoted safely", async (t) => {
  const name = 'app "quoted" \\ é';
  // That the flag reaches the kernel argv as this prelude: spark-init.test.ts.
  const prelude = pythonClusterPrelude({ mode: 'eager', clusterType: 'spark', appName: name });
  const log = tempLog(t);
  const r = spawnSync(PYTHON, ['-c', prelude], {
    env: { PATH: '/usr/bin:/bin', PYTHONPATH: STANDINS, STANDIN_LOG: log },
    encoding: 'utf8',
  });
  t.equal(r.status, 0, r.stderr);
  const appName = readFileSync(log, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { event: string; name?: string })
    .find((e) => e.event === 'appName');
  t.equal(appName?.name, name, 'the name arrives unchanged');
});

t.test('r hook: the application name reaches sparkR.session', { skip: HAVE_R ? false : 'R is not installed' }, async (t) => {
  const lib = installStandinSparkR(t);
  const log = tempLog(t);
  const r = spawnSync('R', ['--slave', '--no-restore', '--no-save', '-e', rSparkPrelude('eager', 'my "app"'), '-e', 'cat("ok\\n")'], {
    env: { PATH: '/usr/bin:/bin', SPARKR_PACKAGE_DIR: lib, STANDIN_LOG: log },
    encoding: 'utf8',
  });
  t.equal(r.stdout, 'ok\n', r.stderr);
  t.match(readFileSync(log, 'utf8'), /^sparkR\.session backend= appName=my "app"\n/);
});
