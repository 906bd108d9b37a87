import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateV1KeyPair, isFailureResponse, openV1, type ResponseSuccess, type ConnectionInfo } from '@gateway-launchers/common';
import { Receiver, startV1Receiver } from '../../packages/launcher/test/helpers/receiver.js';
import {
  CELL_STARTED,
  GENEROUS_MS,
  PATIENT_LAUNCHER_ENV,
  controlText,
  groupAlive,
  kernelClient,
  sendComm,
  replyOf,
  waitFor,
} from '../../packages/launcher/test/helpers/launcher-process.js';
import {
  PYTHON,
  SPARK_SUBMIT_DOUBLE,
  STANDINS,
  alive,
  hostEnv,
  installBundle,
  renderKernelspecs,
  standinEvents,
  startProcess,
} from './helpers/deploy.js';

const RANGE = '49000..50000';
const HAVE_R = spawnSync('Rscript', ['-e', 'library(IRkernel)'], { stdio: 'ignore' }).status === 0;
/**
 * The container sees only appMasterEnv: the launcher's time limits are raised
 * there, as an operator would for a busy cluster (a kernel slow to start or to
 * answer shutdown_request on a loaded machine is given time, not signalled).
 */
const PATIENT_CONTAINER_OPTS = Object.entries(PATIENT_LAUNCHER_ENV)
  .map(([k, v]) => `--conf spark.yarn.appMasterEnv.${k}=${v}`)
  .join(' ');

interface SubmitRecord {
  argv: string[];
  name: string;
  proxyUser: string | null;
  conf: Record<string, string>;
  archives: string;
  files: string | null;
  primary: string;
  appArgs: string[];
  workDir: string;
  driverPid: number;
  env: Record<string, string>;
}

/** A Spark "distribution" whose spark-submit is the double; R/lib holds the stand-in SparkR when R is here. */
function fakeSparkHome(t: Test): string {
  const home = mkdtempSync(join(tmpdir(), 'gl-spark-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  mkdirSync(join(home, 'bin'));
  symlinkSync(SPARK_SUBMIT_DOUBLE, join(home, 'bin/spark-submit'));
  mkdirSync(join(home, 'R/lib'), { recursive: true });
  if (HAVE_R) {
    const r = spawnSync(
      'R',
      ['CMD', 'INSTALL', '--no-docs', '--no-html', '--no-multiarch', `--library=${join(home, 'R/lib')}`, join(STANDINS, 'SparkR')],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`stand-in SparkR did not install: ${r.stderr}`);
  }
  return home;
}

const { home, cleanup } = installBundle();
t.teardown(cleanup);

t.test(
  'python kernelspec: run.sh submits in cluster mode, the kernel runs in the driver container with lazy Spark and cancellable jobs',
  async (t) => {
    const sparkHome = fakeSparkHome(t);
    const work = mkdtempSync(join(tmpdir(), 'gl-yarn-'));
    t.teardown(() => rmSync(work, { recursive: true, force: true }));
    const spec = renderKernelspecs(home, { python: PYTHON, 'spark-home': sparkHome }, ['yarn_python']).yarn_python!;
    const receiver = await Receiver.start(RANGE);
    t.teardown(() => receiver.close());
    const record = join(work, 'submit.json');
    const log = join(work, 'standin.log');
    // An operator archive in SPARK_OPTS (a Python environment, say) must survive next to ours.
    const extra = join(work, 'pyenv.tar.gz');
    spawnSync('tar', ['-czf', extra, '-C', work, '.']);
    const sparkOpts = `${spec.env!.SPARK_OPTS} ${PATIENT_CONTAINER_OPTS} --conf spark.yarn.appMasterEnv.PYTHONPATH=${STANDINS} --conf "spark.yarn.appMasterEnv.STANDIN_LOG=${log}" --archives ${extra}#pyenv`;
    const launch = {
      KERNEL_ID: 'k-yarn-py',
      KERNEL_RESPONSE_ADDRESS: receiver.address,
      KERNEL_PUBLIC_KEY: receiver.publicKey,
      KERNEL_PORT_RANGE: RANGE,
      KERNEL_LAUNCH_TOKEN: receiver.token,
      KERNEL_USERNAME: 'alice',
    };
    const submit = startProcess(
      spec.argv,
      hostEnv(spec, launch, {
        SPARK_OPTS: sparkOpts,
        GP_IMPERSONATION_ENABLED: 'True',
        SPARK_SUBMIT_DOUBLE_RECORD: record,
        SPARK_SUBMIT_DOUBLE_ROOT: work,
      }),
    );
    const submitted = await submit.exited;
    t.equal(submitted.code, 0, `run.sh returns once the application is accepted: ${submit.output()}`);

    const rec = JSON.parse(readFileSync(record, 'utf8')) as SubmitRecord;
    t.teardown(() => {
      try {
        process.kill(rec.driverPid, 'SIGKILL');
      } catch {
        // gone
      }
    });
    t.equal(rec.name, 'k-yarn-py', '--name is the kernel id');
    t.equal(rec.conf['spark.yarn.submit.waitAppCompletion'], 'false');
    t.equal(rec.proxyUser, 'alice', 'GP_IMPERSONATION_ENABLED=True submits with --proxy-user KERNEL_USERNAME');
    t.equal(rec.conf['spark.pyspark.python'], PYTHON, "the kernelspec's SPARK_OPTS reach spark-submit");
    t.match(rec.archives, /gateway-launcher\.tar\.gz#gateway-launcher/, 'the bundle archive is shipped');
    t.match(rec.archives, /pyenv\.tar\.gz#pyenv/, "and the operator's archive is merged, not dropped");
    t.match(rec.primary, /launch_gateway_launcher\.py$/);
    t.same(
      rec.appArgs,
      ['--kernel-language', 'python', '--spark-context-initialization-mode', 'lazy', '--launch-token-file', 'kernel-launch-token'],
      'launcher flags from the kernelspec, the token as a file',
    );
    for (const v of ['KERNEL_ID', 'KERNEL_RESPONSE_ADDRESS', 'KERNEL_PUBLIC_KEY', 'KERNEL_PORT_RANGE', 'KERNEL_USERNAME'])
      t.equal(rec.env[v], launch[v as keyof typeof launch], `${v} reaches the container as appMasterEnv`);
    t.notOk(rec.argv.join(' ').includes(receiver.token), 'the token is on no spark-submit argument');
    t.notOk('KERNEL_LAUNCH_TOKEN' in rec.env, 'nor in the container environment');
    t.equal(readFileSync(join(rec.workDir, 'kernel-launch-token'), 'utf8'), receiver.token, 'it arrives as a localised file');
    t.notOk(existsSync(rec.files!.split(',').at(-1)!.split('#')[0]!), 'run.sh removed its copy on the host once spark-submit was done');

    const { plaintext, epk } = await receiver.next();
    t.notOk(
      isFailureResponse(plaintext),
      `success response (container stderr: ${existsSync(join(rec.workDir, 'stderr')) ? readFileSync(join(rec.workDir, 'stderr'), 'utf8').slice(-2000) : ''})`,
    );
    const r = plaintext as ResponseSuccess;
    const info = { ...r.conn_info, ip: '127.0.0.1' };
    const env = await kernelClient(
      info,
      'execute',
      'import os, sys; print(sys.executable, os.environ.get("PYSPARK_GATEWAY_PORT"), os.getcwd() == os.environ.get("PWD", os.getcwd()), repr(spark))',
    ).result;
    t.equal(
      env.stdout,
      `${PYTHON} 25333 True <spark: created on first use>\n`,
      "the kernel runs on the driver's interpreter, inherits its Py4J gateway, and spark is not created yet",
    );
    t.notOk(
      standinEvents(log).some((e) => e.event === 'getOrCreate'),
      'no session before first use',
    );
    const used = await kernelClient(info, 'execute', 'sql("SELECT 1")').result;
    t.equal(used.result, "'rows of SELECT 1'", 'first use of sql creates the session and runs the query');
    t.match(
      standinEvents(log).find((e) => e.event === 'getOrCreate'),
      { gateway_port: '25333' },
      "the session was built with the driver's gateway",
    );

    const cell = kernelClient(info, 'execute_async', 'sc.runJob(60)');
    await cell.sent;
    t.ok(await waitFor(() => standinEvents(log).some((e) => e.event === 'job_started'), GENEROUS_MS), 'the job runs');
    t.same(
      replyOf(
        await sendComm(r.comm_port, controlText('k-yarn-py', { interrupt: true }, epk, receiver.keys.secretKey)),
        epk,
        receiver.keys.secretKey,
      ),
      { ok: true },
    );
    t.equal((await cell.result).ename, 'KeyboardInterrupt', 'SIGINT interrupted the cell');
    t.ok(
      await waitFor(() => standinEvents(log).some((e) => e.event === 'cancelAllJobs'), GENEROUS_MS),
      'and SIGUSR2 made the hook cancel the Spark jobs',
    );

    t.same(
      replyOf(
        await sendComm(r.comm_port, controlText('k-yarn-py', { shutdown: true }, epk, receiver.keys.secretKey)),
        epk,
        receiver.keys.secretKey,
      ),
      { ok: true },
    );
    t.ok(await waitFor(() => !alive(rec.driverPid), GENEROUS_MS), 'the driver (launcher) exits: the YARN application would end');
    t.notOk(groupAlive(r.pid), 'kernel gone');
    t.ok(
      standinEvents(log).some((e) => e.event === 'session_stop'),
      'the kernel stopped its Spark session on the way out',
    );
    t.match(
      readFileSync(join(rec.workDir, 'stderr'), 'utf8'),
      /"event":"response_acked"/,
      "the launcher's logs are in the container's stderr, as YARN keeps them",
    );
  },
);

t.test(
  'r kernelspec (protocol v1, as Gateway Provisioners uses it): IRkernel in the driver container with lazy SparkR, surviving an interrupt',
  { skip: HAVE_R ? false : 'R with IRkernel is not installed' },
  async (t) => {
    const sparkHome = fakeSparkHome(t);
    const work = mkdtempSync(join(tmpdir(), 'gl-yarn-'));
    t.teardown(() => rmSync(work, { recursive: true, force: true }));
    const spec = renderKernelspecs(home, { rscript: 'Rscript', 'spark-home': sparkHome }, ['yarn_r']).yarn_r!;
    const keys = await generateV1KeyPair(1024);
    const v1 = await startV1Receiver();
    t.teardown(v1.close);
    const { port, payload } = v1;
    const record = join(work, 'submit.json');
    const log = join(work, 'standin.log');
    const launch = {
      KERNEL_ID: 'k-yarn-r',
      KERNEL_RESPONSE_ADDRESS: `127.0.0.1:${port}`,
      KERNEL_PUBLIC_KEY: keys.publicKeyBase64,
      KERNEL_PORT_RANGE: RANGE,
    };
    const submit = startProcess(
      spec.argv,
      hostEnv(spec, launch, {
        SPARK_OPTS: `${spec.env!.SPARK_OPTS} ${PATIENT_CONTAINER_OPTS} --conf spark.yarn.appMasterEnv.STANDIN_LOG=${log}`,
        SPARK_SUBMIT_DOUBLE_RECORD: record,
        SPARK_SUBMIT_DOUBLE_ROOT: work,
      }),
    );
    t.equal((await submit.exited).code, 0, submit.output());
    const rec = JSON.parse(readFileSync(record, 'utf8')) as SubmitRecord;
    t.teardown(() => {
      try {
        process.kill(rec.driverPid, 'SIGKILL');
      } catch {
        // gone
      }
    });
    t.match(rec.primary, /launch_gateway_launcher\.R$/, 'an R primary resource, so Spark runs the driver with Rscript');
    t.equal(rec.files, null, 'no token file without a launch token (protocol v1)');
    t.equal(rec.proxyUser, null, 'no impersonation unless enabled');

    const opened = openV1(await payload, keys);
    t.ok(
      opened.ok,
      `v1 payload opens (container stderr: ${existsSync(join(rec.workDir, 'stderr')) ? readFileSync(join(rec.workDir, 'stderr'), 'utf8').slice(-1500) : ''})`,
    );
    if (!opened.ok) return;
    const v = opened.value as unknown as ConnectionInfo & { comm_port: number; pid: number };
    const info: ConnectionInfo = { ...v, ip: '127.0.0.1' };
    const before = await kernelClient(
      info,
      'execute',
      'cat(Sys.getenv("EXISTING_SPARKR_BACKEND_PORT"), exists("spark"), "SparkR" %in% loadedNamespaces())',
    ).result;
    t.equal(before.stdout, '25334 TRUE TRUE', 'IRkernel inherits the SparkR backend; spark is bound and SparkR loaded');
    t.notOk(
      standinEvents(log).some((e) => String(e.event).startsWith('sparkR.session')),
      'but no session is created before first use',
    );
    const df = await kernelClient(info, 'execute', 'cat(nrow(createDataFrame(1:3)), class(spark))').result;
    t.equal(df.stdout, '3 SparkSession', "a SparkR function's first call creates the session, which spark then is");
    t.equal(standinEvents(log).filter((e) => String(e.event).startsWith('sparkR.session')).length, 1, 'exactly one session');
    t.match(
      standinEvents(log).find((e) => String(e.event).startsWith('sparkR.session'))?.event,
      /backend=25334/,
      "built on the driver's backend",
    );

    // IRkernel sends a top-level expression's output when it completes: the marker is out before the sleep starts.
    const cell = kernelClient(info, 'execute_async', `cat(${JSON.stringify(`${CELL_STARTED}\n`)})\nSys.sleep(30)`);
    await cell.printed(CELL_STARTED);
    t.equal(await sendComm(v.comm_port, '{"signum": 2}', '127.0.0.1', { newline: false }), '', 'v1 interrupt');
    await cell.result;
    const after = await kernelClient(info, 'execute', 'cat(1 + 1)').result;
    t.equal(after.stdout, '2', 'the R kernel is alive after the interrupt (no SIGUSR2, which R would quit on)');

    await sendComm(v.comm_port, '{"shutdown": 1}', '127.0.0.1', { newline: false });
    t.ok(await waitFor(() => !alive(rec.driverPid), GENEROUS_MS), 'the R driver exits after the launcher');
    t.notOk(groupAlive(v.pid), 'kernel gone');
  },
);

t.test('run.sh refuses to submit without SPARK_HOME, without a kernel id, or with impersonation but no user', async (t) => {
  const runSh = join(home, 'yarn/run.sh');
  const base = { PATH: process.env.PATH, SPARK_HOME: '/nonexistent', KERNEL_ID: 'k1' };
  const cases: Array<[string, Record<string, string | undefined>, RegExp]> = [
    ['no SPARK_HOME', { ...base, SPARK_HOME: undefined }, /SPARK_HOME must point/],
    ['no kernel id', { ...base, KERNEL_ID: undefined }, /KERNEL_ID is not set/],
    ['impersonation without user', { ...base, GP_IMPERSONATION_ENABLED: 'True' }, /needs KERNEL_USERNAME/],
    ['unsupported language', { ...base, KERNEL_LANGUAGE: 'scala' }, /'scala' is not supported/],
  ];
  for (const [name, env, re] of cases) {
    const r = spawnSync(runSh, [], { env, encoding: 'utf8' });
    t.equal(r.status, 1, `${name}: exit 1`);
    t.match(r.stderr, re, name);
  }
});

t.test('run.sh keeps a user-supplied value inside its word of SPARK_OPTS: no argument injection into spark-submit', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gl-yarn-opts-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'spark/bin'), { recursive: true });
  const record = join(dir, 'argv.txt');
  writeFileSync(join(dir, 'spark/bin/spark-submit'), `#!/bin/sh\nfor a in "$@"; do printf '%s\\0' "$a"; done > '${record}'\n`, {
    mode: 0o755,
  });
  writeFileSync(join(dir, 'archive.tar.gz'), '');
  const r = spawnSync(join(home, 'yarn/run.sh'), ['--kernel-language', 'python'], {
    env: {
      PATH: process.env.PATH,
      SPARK_HOME: join(dir, 'spark'),
      GATEWAY_LAUNCHER_ARCHIVE: join(dir, 'archive.tar.gz'),
      KERNEL_ID: 'k-opts',
      KERNEL_USERNAME: 'bob --proxy-user root *',
      SPARK_OPTS: '--conf spark.yarn.appMasterEnv.PYTHONUSERBASE=/home/${KERNEL_USERNAME}/.local --conf "spark.app.note=two words"',
    },
    encoding: 'utf8',
  });
  t.equal(r.status, 0, r.stderr);
  const argv = readFileSync(record, 'utf8').split('\0').slice(0, -1);
  t.ok(
    argv.includes('spark.yarn.appMasterEnv.PYTHONUSERBASE=/home/bob --proxy-user root */.local'),
    'the expanded value stayed one word, unglobbed',
  );
  t.ok(argv.includes('spark.app.note=two words'), 'quotes in SPARK_OPTS still group words');
  t.notOk(argv.includes('--proxy-user'), 'no --proxy-user was injected');
  t.notOk(argv.includes('root'), 'no stray word from the value');
});
