/**
 * The cluster start-up hook as configuration: which presets, cluster types
 * and modes get one, and what reaches the kernel argv. Running the hooks
 * (Python, R, stand-in Spark) is in spark-init.system.test.ts.
 */
import t from 'tap';
import { generateKeyPair, toBase64 } from '@gateway-launchers/common';
import { buildConfig, resolveOptions } from '../src/config.js';
import { pythonClusterPrelude } from '../src/spark-init.js';

const KEY = toBase64(generateKeyPair().publicKey);
const ENV = { KERNEL_ID: 'k1', KERNEL_RESPONSE_ADDRESS: '127.0.0.1:9', KERNEL_PUBLIC_KEY: KEY, KERNEL_LAUNCH_TOKEN: 'tok' };

function config(flags: Record<string, string>, afterDashDash: string[] = []) {
  return buildConfig(resolveOptions(flags, ENV), afterDashDash, ENV);
}

t.test('the python preset gets the start-up hook only for a cluster type and a mode that ask for one', async (t) => {
  t.same(
    config({ 'kernel-language': 'python', mode: 'direct' }).kernelArgv.slice(1, 3),
    ['-m', 'ipykernel_launcher'],
    'mode none: plain ipykernel_launcher',
  );
  t.same(
    config({
      'kernel-language': 'python',
      mode: 'direct',
      'spark-context-initialization-mode': 'lazy',
      'cluster-type': 'none',
    }).kernelArgv.slice(1, 3),
    ['-m', 'ipykernel_launcher'],
    'cluster type none: no hook',
  );
  const handoff = config({ 'kernel-language': 'python' }).kernelArgv[2] as string;
  t.match(handoff, /_gl_handoff\.install\(\)[\s\S]*kernelapp\.launch_new_instance\(\)/, 'handoff (the default) only adds its bootstrap');
  t.notMatch(handoff, /spark objects/, 'and no cluster hook');
  const lazy = config({ 'kernel-language': 'python', 'spark-context-initialization-mode': 'lazy', 'kernel-class-name': 'my.Kernel' });
  t.equal(lazy.kernelArgv[1], '-c');
  t.match(lazy.kernelArgv[2], /spark objects, lazy[\s\S]*launch_instance\(user_ns=_gl_user_ns\)/);
  t.same(
    lazy.kernelArgv.slice(3),
    ['-f', '{connection_file}', '--IPKernelApp.kernel_class=my.Kernel'],
    'connection file and kernel class still reach ipykernel',
  );
  t.equal(lazy.clusterType, 'spark', 'a python spark kernel gets SIGUSR2 after SIGINT');
  const ipv6 = config({ 'kernel-language': 'python', 'spark-context-initialization-mode': 'eager', ip: '::1' });
  t.match(ipv6.kernelArgv[2], /zmq\.IPV6[\s\S]*spark objects, eager/, 'IPv6 and the hook combine');
  t.match(
    config({ 'kernel-language': 'python', 'spark-context-initialization-mode': 'lazy', 'cluster-type': 'dask' }).kernelArgv[2],
    /dask_yarn\.YarnCluster\.from_current\(\)/,
  );
});

t.test('the r preset gets SparkR through -e before IRkernel starts, and never SIGUSR2', async (t) => {
  const r = config({ 'kernel-language': 'r', 'spark-context-initialization-mode': 'eager' });
  const i = r.kernelArgv.indexOf('IRkernel::main()');
  t.equal(r.kernelArgv[i - 3], '-e');
  t.match(r.kernelArgv[i - 2], /SparkR, eager/);
  t.equal(r.clusterType, 'none', 'R quits on SIGUSR2, so it is never sent');
  t.notOk(
    config({ 'kernel-language': 'r' }).kernelArgv.some((a) => a.includes('SparkR')),
    'mode none: no hook',
  );
});

t.test('spark initialization without a preset, or dask for r, is a usage error', async (t) => {
  t.throws(
    () => config({ 'spark-context-initialization-mode': 'lazy' }, ['python3', '-m', 'ipykernel_launcher', '-f', '{connection_file}']),
    { code: 'GL_ERR_USAGE', message: /needs --kernel-language python or r/ },
  );
  t.throws(() => config({ 'kernel-language': 'r', 'spark-context-initialization-mode': 'lazy', 'cluster-type': 'dask' }), {
    code: 'GL_ERR_USAGE',
    message: /dask is for the python preset/,
  });
});

t.test("the Spark application name (--spark-app-name, GP's --customAppName) reaches the hook in the kernel argv", async (t) => {
  const name = 'app "quoted" \\ é';
  const python = config({ 'kernel-language': 'python', 'spark-context-initialization-mode': 'eager', 'spark-app-name': name });
  t.ok(
    (python.kernelArgv[2] as string).includes(pythonClusterPrelude({ mode: 'eager', clusterType: 'spark', appName: name })),
    'python: the prelude that names it',
  );
  t.notMatch(
    config({ 'kernel-language': 'python', 'spark-context-initialization-mode': 'eager' }).kernelArgv[2],
    /appName/,
    'no name: Spark chooses',
  );
  t.match(
    config({ 'kernel-language': 'r', 'spark-context-initialization-mode': 'lazy', 'spark-app-name': 'n1' }).kernelArgv.join(' '),
    /sparkR\.session\(appName = "n1"\)/,
    'r: sparkR.session',
  );
});
