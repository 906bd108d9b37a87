import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { generateKeyPair, toBase64 } from '@gateway-launchers/common';
import { GENEROUS_MS, LAUNCHER_CLI } from './helpers/launcher-process.js';
import { LAUNCHER_VERSION } from '../src/version.js';

const KEY = toBase64(generateKeyPair().publicKey);
const GOOD = [
  '--kernel-id',
  'k1',
  '--response-address',
  '127.0.0.1:9',
  '--public-key',
  KEY,
  '--',
  'python3',
  '-m',
  'ipykernel_launcher',
  '-f',
  '{connection_file}',
];

function cli(
  args: string[],
  env: Record<string, string> = { KERNEL_LAUNCH_TOKEN: 'tok' },
): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [LAUNCHER_CLI, ...args], {
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
    timeout: GENEROUS_MS,
  });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

/**
 * A usage error is also reported to the listener when flags and environment
 * name a valid one; here nothing listens at 127.0.0.1:9, so each run retries
 * for a few seconds before it exits. The runs go in parallel (a few at a time).
 */
function cliAsync(
  args: string[],
  env: Record<string, string> = { KERNEL_LAUNCH_TOKEN: 'tok' },
): Promise<{ status: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [LAUNCHER_CLI, ...args], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const PARALLEL = 12;

/**
 * Cases whose error comes after the launch token is read (its absence would
 * be the error otherwise). The others run without one: nothing to report a
 * usage error with, so they exit at once instead of retrying the report.
 */
const NEEDS_TOKEN = new Set([
  'bad port range',
  'too small port range',
  'no kernel command',
  'kernel command without {connection_file}',
  'host name for --ip',
  'foreign address for --ip',
  'unknown placeholder in the kernel argv',
  'a preset and a command after --',
  'an alternate SIGINT that is not a signal',
]);
let running = 0;
const queue: Array<() => void> = [];
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= PARALLEL) await new Promise<void>((resolve) => queue.push(resolve));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    queue.shift()?.();
  }
}

function without(flag: string): string[] {
  const i = GOOD.indexOf(flag);
  return [...GOOD.slice(0, i), ...GOOD.slice(i + 2)];
}

function withValue(flag: string, value: string): string[] {
  const args = [...GOOD];
  args[args.indexOf(flag) + 1] = value;
  return args;
}

const cases: Array<[string, string[], RegExp, Record<string, string>?]> = [
  ['missing kernel id', without('--kernel-id'), /--kernel-id \(or KERNEL_ID\) is required/],
  ['invalid kernel id', withValue('--kernel-id', 'bad id!'), /kernel id .* is invalid/],
  ['malformed response address', withValue('--response-address', 'nohost'), /response address 'nohost' is invalid.*GL_ERR_ADDRESS_INVALID/],
  ['response address port out of range', withValue('--response-address', '127.0.0.1:70000'), /port 70000 is outside 1\.\.65535/],
  [
    'unsubstituted placeholder in a flag',
    withValue('--kernel-id', '{kernel_id}'),
    /still contains a \{placeholder\}.*GL_ERR_PLACEHOLDER_UNSUBSTITUTED/,
  ],
  [
    'unknown placeholder in the kernel argv',
    [...GOOD.slice(0, 7), 'python3', '{response_address}', '{connection_file}'],
    /contains \{response_address\}/,
  ],
  [
    'public key that is neither kind',
    withValue('--public-key', 'bm90IGEga2V5'),
    /neither a base64 32-byte X25519 key.*GL_ERR_PUBLIC_KEY_INVALID/,
  ],
  ['bad port range', [...GOOD.slice(0, 6), '--port-range', '10..20', ...GOOD.slice(6)], /port range '10\.\.20'.*GL_ERR_PORT_RANGE_BOUNDS/],
  [
    'too small port range',
    [...GOOD.slice(0, 6), '--port-range', '40000..40010', ...GOOD.slice(6)],
    /at least 1000 are required.*GL_ERR_PORT_RANGE_TOO_SMALL/,
  ],
  ['missing launch token', GOOD, /KERNEL_LAUNCH_TOKEN.*GL_ERR_LAUNCH_TOKEN_MISSING/, {}],
  ['unknown flag', ['--bogus', 'x', ...GOOD], /Unknown argument/],
  ['no kernel command', GOOD.slice(0, 6), /no kernel to start/],
  [
    'kernel command without {connection_file}',
    [...GOOD.slice(0, 7), 'python3', '-m', 'ipykernel_launcher'],
    /must pass \{connection_file\}/,
  ],
  ['bad choice', ['--mode', 'sideways', ...GOOD], /--mode must be one of direct, proxy/],
  ['bad number', ['--launch-timeout', 'soon', ...GOOD], /--launch-timeout must be a non-negative number/],
  ['number out of range', ['--launch-timeout', '0', ...GOOD], /--launch-timeout must be a number from 1 to 86400, got '0'/],
  ['grace too long for a timer', ['--shutdown-grace', '3000000', ...GOOD], /--shutdown-grace must be a number from 0.1 to 3600/],
  ['fractional count', ['--restart-on-crash', '1.5', ...GOOD], /--restart-on-crash must be a whole number from 0 to 100/],
  ['host name for --ip', ['--ip', 'localhost', ...GOOD], /--ip 'localhost' is not an IP address/],
  ['foreign address for --ip', ['--ip', '203.0.113.9', ...GOOD], /--ip '203.0.113.9' is not an address of this host/],
  ['bad choice from env', GOOD, /KERNEL_PORT_MODE must be one of direct, proxy/, { KERNEL_LAUNCH_TOKEN: 'tok', KERNEL_PORT_MODE: 'weird' }],
  ['stray positional argument', ['extra', ...GOOD], /unexpected argument 'extra'/],
  ['flag without a value', [...GOOD.slice(0, 6), '--ip'], /--ip needs a value/],
  ['v1 key with a ws:// address', [], /protocol v1 .* needs a host:port response address/],
  [
    'a number flag that is not a number names what was typed',
    ['--launch-timeout', 'abc', ...GOOD],
    /--launch-timeout must be a non-negative number, got 'abc'/,
  ],
  ['a number flag without a value', [...GOOD.slice(0, 6), '--launch-timeout'], /--launch-timeout needs a value/],
  ['an unknown log level', ['--log-level', 'verbose', ...GOOD], /log level 'verbose' is not one of trace, debug, info/],
  [
    'an unknown log level from the environment',
    GOOD,
    /log level 'chatty' is not one of/,
    { KERNEL_LAUNCH_TOKEN: 'tok', LOG_LEVEL: 'chatty' },
  ],
  [
    'an http:// response address',
    withValue('--response-address', 'http://127.0.0.1:8877'),
    /http:\/\/ is not a response address scheme.*host:port.*ws:\/\//,
  ],
  ['an unbracketed IPv6 response address', withValue('--response-address', '::1:8877'), /an IPv6 address must be bracketed: \[::1\]:8877/],
  [
    'a preset and a command after --',
    ['--kernel-language', 'python', ...GOOD],
    /--kernel-language python starts its own kernel command.*Give one or the other/,
  ],
  ['an alternate SIGINT that is not a signal', ['--alternate-sigint', 'USR9', ...GOOD], /--alternate-sigint 'USR9' is not a signal/],
  [
    'an enum value from the environment that is wrong in any case',
    [
      '--RemoteProcessProxy.kernel-id',
      'k1',
      '--RemoteProcessProxy.response-address',
      '127.0.0.1:9',
      '--RemoteProcessProxy.public-key',
      KEY,
    ],
    /KERNEL_CLUSTER_TYPE must be one of spark, dask, none, got 'yarn'/,
    { KERNEL_LAUNCH_TOKEN: 'tok', KERNEL_CLUSTER_TYPE: 'YARN' },
  ],
];

const results = new Map(
  cases
    .filter(([name]) => name !== 'v1 key with a ws:// address')
    .map(([name, args, , env]) => [
      name,
      limited(() => cliAsync(args, env ?? (NEEDS_TOKEN.has(name) ? { KERNEL_LAUNCH_TOKEN: 'tok' } : {}))),
    ]),
);

for (const [name, , message] of cases) {
  if (name === 'v1 key with a ws:// address') continue;
  t.test(`usage error: ${name} exits 2 with one line naming it`, async (t) => {
    const r = await results.get(name)!;
    t.equal(r.status, 2, r.stderr);
    t.match(r.stderr, message);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    t.match(r.stderr, /^gateway-launcher: /);
  });
}

t.test('usage error: v1 key with a ws:// address exits 2', async (t) => {
  const { generateV1KeyPair } = await import('@gateway-launchers/common');
  const v1 = await generateV1KeyPair(1024);
  const r = cli(
    ['--kernel-id', 'k1', '--response-address', 'ws://127.0.0.1:9/x', '--public-key', v1.publicKeyBase64, '--', 'k', '{connection_file}'],
    {},
  );
  t.equal(r.status, 2);
  t.match(r.stderr, /protocol v1 .* needs a host:port response address/);
});

t.test('GP/EG flag spellings are accepted', async (t) => {
  const r = cli([
    '--RemoteProcessProxy.kernel-id',
    '{kernel_id}',
    '--RemoteProcessProxy.response-address',
    '127.0.0.1:9',
    '--RemoteProcessProxy.public-key',
    KEY,
    '--',
    'k',
    '{connection_file}',
  ]);
  t.equal(r.status, 2, 'the alias was read (its unsubstituted value is what fails)');
  t.match(r.stderr, /--kernel-id '\{kernel_id\}' still contains a \{placeholder\}|still contains a \{placeholder\}/);
});

t.test('--help lists every option and its environment variable; --version prints the version', async (t) => {
  const help = cli(['--help']);
  t.equal(help.status, 0);
  const { LAUNCHER_OPTIONS } = await import('../src/launcher-options.js');
  for (const o of LAUNCHER_OPTIONS) {
    t.match(help.stdout, `--${o.name}`, `--${o.name} in help`);
    for (const e of o.env ?? []) t.match(help.stdout, e, `${e} in help`);
  }
  const v = cli(['--version']);
  t.equal(v.status, 0);
  t.equal(v.stdout.trim(), LAUNCHER_VERSION);
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  t.equal(LAUNCHER_VERSION, pkg.version, 'version.ts matches package.json');
});

t.test('a PEM public key given as its own argument is read as the key (here: a v1 RSA key, which then needs host:port)', async (t) => {
  const { generateV1KeyPair } = await import('@gateway-launchers/common');
  const v1 = await generateV1KeyPair(1024);
  const pem = `-----BEGIN PUBLIC KEY-----\n${v1.publicKeyBase64.match(/.{1,64}/g)!.join('\n')}\n-----END PUBLIC KEY-----\n`;
  const r = cli(['--kernel-id', 'k1', '--response-address', 'ws://127.0.0.1:9/x', '--public-key', pem, '--', 'k', '{connection_file}'], {});
  t.equal(r.status, 2);
  t.match(r.stderr, /protocol v1 .* needs a host:port response address/, 'the PEM text was taken as the RSA key, not as a flag');
});

t.test('the options as the parser and config see them', async (t) => {
  const { parseArgs } = await import('../src/cli-args.js');
  const { buildConfig } = await import('../src/config.js');
  const env = { KERNEL_LAUNCH_TOKEN: 'tok' };
  const build = async (args: string[], extra: Record<string, string> = {}) => {
    const p = await parseArgs(args, { ...env, ...extra });
    if (p.kind !== 'run') throw new Error('not a run');
    return buildConfig(p.options, p.kernelArgv, { ...env, ...extra }, p.style);
  };
  const gp = [
    '--RemoteProcessProxy.kernel-id',
    'k1',
    '--RemoteProcessProxy.response-address',
    '127.0.0.1:9',
    '--RemoteProcessProxy.public-key',
    KEY,
    '--RemoteProcessProxy.port-range',
    '40000..41000',
  ];

  await t.test('GP spellings and no kernel named: the python preset', async (t) => {
    const c = await build(gp);
    t.equal(c.kernelLanguage, 'python');
    // The python preset (in handoff mode, its default, ipykernel starts through the handoff bootstrap).
    t.equal(c.kernelArgv[0], 'python3');
    t.match(c.kernelArgv.join(' '), /ipykernel/);
    t.same(c.kernelArgv.slice(-2), ['-f', '{connection_file}']);
  });
  await t.test("GP spellings: KERNEL_LANGUAGE (any case, as GP's images write it) names the preset", async (t) => {
    t.equal((await build(gp, { KERNEL_LANGUAGE: 'R' })).kernelLanguage, 'r');
  });
  await t.test('our spellings and no kernel named: still a usage error', async (t) => {
    await t.rejects(build(['--kernel-id', 'k1', '--response-address', '127.0.0.1:9', '--public-key', KEY]), {
      message: /no kernel to start/,
    });
  });
  await t.test('KERNEL_LANGUAGE from the environment gives way to a command after --', async (t) => {
    const c = await build([...GOOD], { KERNEL_LANGUAGE: 'python' });
    t.equal(c.kernelLanguage, undefined);
    t.same(c.kernelArgv, ['python3', '-m', 'ipykernel_launcher', '-f', '{connection_file}']);
  });
  await t.test('every flag has an environment variable; enum values from it are case-insensitive', async (t) => {
    const { LAUNCHER_OPTIONS } = await import('../src/launcher-options.js');
    t.same(
      LAUNCHER_OPTIONS.filter((o) => (o.env ?? []).length === 0).map((o) => o.name),
      [],
      'no option without an environment variable',
    );
    const c = await build(['--kernel-language', 'python'], {
      KERNEL_ID: 'k1',
      KERNEL_RESPONSE_ADDRESS: '127.0.0.1:9',
      KERNEL_PUBLIC_KEY: KEY,
      KERNEL_SPARK_CONTEXT_INIT_MODE: 'Lazy',
      KERNEL_CLUSTER_TYPE: 'DASK',
      KERNEL_CLASS_NAME: 'my.Kernel',
      KERNEL_PORT_MODE: 'Proxy',
      KERNEL_INTERRUPT_MODE: 'MESSAGE',
      KERNEL_ALTERNATE_SIGINT: 'usr2',
      KERNEL_SPARK_APP_NAME: 'app1',
    });
    t.equal(c.sparkInitMode, 'lazy');
    t.equal(c.clusterType, 'dask');
    t.equal(c.mode, 'proxy');
    t.equal(c.interruptMode, 'message');
    t.equal(c.interruptSignal, 'SIGUSR2');
    t.ok(c.kernelArgv.includes('--IPKernelApp.kernel_class=my.Kernel'));
  });
  await t.test("GP's R launcher flag --customAppName and Toree's --alternate-sigint are accepted", async (t) => {
    const r = await build([
      ...gp,
      '--kernel-language',
      'r',
      '--RemoteProcessProxy.spark-context-initialization-mode',
      'lazy',
      '--customAppName',
      'my-app',
    ]);
    t.match(r.kernelArgv.join(' '), /sparkR\.session\(appName = "my-app"\)/);
    const scala = await build([...gp, '--kernel-language', 'scala', '--alternate-sigint', 'USR2']);
    t.same(scala.kernelArgv.slice(1, 5), ['--profile', '{connection_file}', '--alternate-sigint', 'USR2'], 'passed on to Toree');
    t.equal(scala.interruptSignal, 'SIGUSR2', 'and interrupts send it');
    t.equal((await build([...gp, '--alternate-sigint', '12'])).interruptSignal, 'SIGUSR2', 'a number works too');
  });
});
