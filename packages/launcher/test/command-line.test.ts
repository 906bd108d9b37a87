/**
 * The launcher's command line read in-process: argv and environment in, an
 * invocation (help, version, a validated config) or a usage error with its
 * code and one-line message out. What only a process shows (exit status 2,
 * the stderr line, the report to the listener) is in cli-usage.test.ts.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ErrorCode, type GatewayError, generateKeyPair, generateV1KeyPair, isGatewayError, toBase64 } from '@gateway-launchers/common';
import { type Invocation, readCommandLine, usageLine } from '../src/command-line.js';
import type { LauncherConfig } from '../src/config.js';
import { LAUNCHER_OPTIONS } from '../src/launcher-options.js';
import { LAUNCHER_VERSION } from '../src/version.js';

const KEY = toBase64(generateKeyPair().publicKey);
const TOKEN = { KERNEL_LAUNCH_TOKEN: 'tok' };
const KERNEL = ['--', 'python3', '-m', 'ipykernel_launcher', '-f', '{connection_file}'];
const GOOD = ['--kernel-id', 'k1', '--response-address', '127.0.0.1:9', '--public-key', KEY, ...KERNEL];
/** GP's and EG's spellings of the three flags every launch needs. */
const GP = [
  '--RemoteProcessProxy.kernel-id',
  'k1',
  '--RemoteProcessProxy.response-address',
  '127.0.0.1:9',
  '--RemoteProcessProxy.public-key',
  KEY,
  '--RemoteProcessProxy.port-range',
  '40000..41000',
];

function without(flag: string): string[] {
  const i = GOOD.indexOf(flag);
  return [...GOOD.slice(0, i), ...GOOD.slice(i + 2)];
}

function withValue(flag: string, value: string): string[] {
  const args = [...GOOD];
  args[args.indexOf(flag) + 1] = value;
  return args;
}

/** `extra` flags before the kernel command. */
function withFlags(...extra: string[]): string[] {
  return [...GOOD.slice(0, 6), ...extra, ...GOOD.slice(6)];
}

/** The config `argv` and `env` give; throws when they give anything else. */
async function config(argv: readonly string[], env: NodeJS.ProcessEnv = TOKEN): Promise<LauncherConfig> {
  const invocation: Invocation = await readCommandLine(argv, env);
  if (invocation.kind !== 'run') throw new Error(`not a run: ${invocation.kind}`);
  return invocation.config;
}

/** The usage error `argv` and `env` give; throws when they give none. */
async function usageError(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<GatewayError> {
  try {
    const invocation = await readCommandLine(argv, env);
    throw new Error(`no usage error: ${invocation.kind}`);
  } catch (e) {
    if (!isGatewayError(e)) throw e;
    return e;
  }
}

/** name, argv, environment, the error's code, its message. */
const USAGE_ERRORS: Array<[string, string[], NodeJS.ProcessEnv, ErrorCode, RegExp]> = [
  ['missing kernel id', without('--kernel-id'), TOKEN, 'GL_ERR_USAGE', /^--kernel-id \(or KERNEL_ID\) is required$/],
  ['invalid kernel id', withValue('--kernel-id', 'bad id!'), TOKEN, 'GL_ERR_USAGE', /^--kernel-id: kernel id .* is invalid/],
  ['missing response address', without('--response-address'), TOKEN, 'GL_ERR_USAGE', /--response-address \(or KERNEL_RESPONSE_ADDRESS\)/],
  ['missing public key', without('--public-key'), TOKEN, 'GL_ERR_USAGE', /--public-key \(or KERNEL_PUBLIC_KEY\) is required/],
  ['malformed response address', withValue('--response-address', 'nohost'), TOKEN, 'GL_ERR_ADDRESS_INVALID', /response address 'nohost'/],
  [
    'response address port out of range',
    withValue('--response-address', '127.0.0.1:70000'),
    TOKEN,
    'GL_ERR_ADDRESS_INVALID',
    /port 70000 is outside 1\.\.65535/,
  ],
  [
    'an http:// response address',
    withValue('--response-address', 'http://127.0.0.1:8877'),
    TOKEN,
    'GL_ERR_ADDRESS_INVALID',
    /http:\/\/ is not a response address scheme.*host:port.*ws:\/\//,
  ],
  [
    'an unbracketed IPv6 response address',
    withValue('--response-address', '::1:8877'),
    TOKEN,
    'GL_ERR_ADDRESS_INVALID',
    /an IPv6 address must be bracketed: \[::1\]:8877/,
  ],
  [
    'unsubstituted placeholder in a flag',
    withValue('--kernel-id', '{kernel_id}'),
    TOKEN,
    'GL_ERR_PLACEHOLDER_UNSUBSTITUTED',
    /^--kernel-id '\{kernel_id\}' still contains a \{placeholder\}/,
  ],
  [
    'unknown placeholder in the kernel argv',
    [...GOOD.slice(0, 7), 'python3', '{response_address}', '{connection_file}'],
    TOKEN,
    'GL_ERR_PLACEHOLDER_UNSUBSTITUTED',
    /kernel argument '\{response_address\}' contains \{response_address\}/,
  ],
  [
    'public key that is neither kind',
    withValue('--public-key', 'bm90IGEga2V5'),
    TOKEN,
    'GL_ERR_PUBLIC_KEY_INVALID',
    /neither a base64 32-byte X25519 key/,
  ],
  ['bad port range', withFlags('--port-range', '10..20'), TOKEN, 'GL_ERR_PORT_RANGE_BOUNDS', /port range '10\.\.20': lower end 10/],
  ['port range of the wrong form', withFlags('--port-range', '40000-41000'), TOKEN, 'GL_ERR_PORT_RANGE_SYNTAX', /not of the form lo\.\.hi/],
  ['too small port range', withFlags('--port-range', '40000..40010'), TOKEN, 'GL_ERR_PORT_RANGE_TOO_SMALL', /at least 1000 are required/],
  [
    'a port range smaller than MIN_PORT_RANGE_SIZE from the given environment',
    withFlags('--port-range', '40000..40500'),
    { ...TOKEN, MIN_PORT_RANGE_SIZE: '600' },
    'GL_ERR_PORT_RANGE_TOO_SMALL',
    /at least 600 are required/,
  ],
  ['missing launch token', GOOD, {}, 'GL_ERR_LAUNCH_TOKEN_MISSING', /set KERNEL_LAUNCH_TOKEN or --launch-token-file/],
  ['a launch token with white space inside', GOOD, { KERNEL_LAUNCH_TOKEN: 'to k' }, 'GL_ERR_LAUNCH_TOKEN_MISSING', /malformed/],
  [
    'an unreadable launch token file',
    withFlags('--launch-token-file', '/nonexistent/token'),
    {},
    'GL_ERR_USAGE',
    /--launch-token-file '\/nonexistent\/token' cannot be read: ENOENT/,
  ],
  ['unknown flag', ['--bogus', 'x', ...GOOD], TOKEN, 'GL_ERR_USAGE', /^Unknown argument: bogus$/],
  [
    'stray positional argument',
    ['extra', ...GOOD],
    TOKEN,
    'GL_ERR_USAGE',
    /^unexpected argument 'extra'; put the kernel command after --$/,
  ],
  ['flag without a value', [...GOOD.slice(0, 6), '--ip'], TOKEN, 'GL_ERR_USAGE', /^--ip needs a value$/],
  ['a number flag without a value', [...GOOD.slice(0, 6), '--launch-timeout'], TOKEN, 'GL_ERR_USAGE', /^--launch-timeout needs a value$/],
  ['no kernel command', GOOD.slice(0, 6), TOKEN, 'GL_ERR_USAGE', /no kernel to start/],
  [
    'kernel command without {connection_file}',
    [...GOOD.slice(0, 7), 'python3', '-m', 'ipykernel_launcher'],
    TOKEN,
    'GL_ERR_USAGE',
    /must pass \{connection_file\}/,
  ],
  ['bad choice', ['--mode', 'sideways', ...GOOD], TOKEN, 'GL_ERR_USAGE', /^--mode must be one of direct, proxy, handoff, got 'sideways'$/],
  [
    'bad choice from env',
    GOOD,
    { ...TOKEN, KERNEL_PORT_MODE: 'weird' },
    'GL_ERR_USAGE',
    /^KERNEL_PORT_MODE must be one of direct, proxy, handoff, got 'weird'$/,
  ],
  [
    'an enum value from the environment that is wrong in any case',
    GP.slice(0, 6),
    { ...TOKEN, KERNEL_CLUSTER_TYPE: 'YARN' },
    'GL_ERR_USAGE',
    /KERNEL_CLUSTER_TYPE must be one of spark, dask, none, got 'yarn'/,
  ],
  [
    'a number flag that is not a number names what was typed',
    ['--launch-timeout', 'abc', ...GOOD],
    TOKEN,
    'GL_ERR_USAGE',
    /^--launch-timeout must be a non-negative number, got 'abc'$/,
  ],
  [
    'number out of range',
    ['--launch-timeout', '0', ...GOOD],
    TOKEN,
    'GL_ERR_USAGE',
    /--launch-timeout must be a number from 1 to 86400, got '0'/,
  ],
  [
    'a number from the environment out of range',
    GOOD,
    { ...TOKEN, KERNEL_LAUNCH_TIMEOUT: '-5' },
    'GL_ERR_USAGE',
    /^KERNEL_LAUNCH_TIMEOUT must be a non-negative number, got '-5'$/,
  ],
  [
    'grace too long for a timer',
    ['--shutdown-grace', '3000000', ...GOOD],
    TOKEN,
    'GL_ERR_USAGE',
    /--shutdown-grace must be a number from 0.1 to 3600/,
  ],
  [
    'fractional count',
    ['--restart-on-crash', '1.5', ...GOOD],
    TOKEN,
    'GL_ERR_USAGE',
    /--restart-on-crash must be a whole number from 0 to 100/,
  ],
  ['host name for --ip', ['--ip', 'localhost', ...GOOD], TOKEN, 'GL_ERR_USAGE', /--ip 'localhost' is not an IP address/],
  [
    'foreign address for --ip',
    ['--ip', '203.0.113.9', ...GOOD],
    TOKEN,
    'GL_ERR_USAGE',
    /--ip '203\.0\.113\.9' is not an address of this host/,
  ],
  [
    'an unknown log level',
    ['--log-level', 'verbose', ...GOOD],
    TOKEN,
    'GL_ERR_USAGE',
    /log level 'verbose' is not one of trace, debug, info/,
  ],
  [
    'an unknown log level from the environment',
    GOOD,
    { ...TOKEN, LOG_LEVEL: 'chatty' },
    'GL_ERR_USAGE',
    /log level 'chatty' is not one of/,
  ],
  [
    'a preset and a command after --',
    ['--kernel-language', 'python', ...GOOD],
    TOKEN,
    'GL_ERR_USAGE',
    /--kernel-language python starts its own kernel command.*Give one or the other/,
  ],
  [
    'an alternate SIGINT that is not a signal',
    ['--alternate-sigint', 'USR9', ...GOOD],
    TOKEN,
    'GL_ERR_USAGE',
    /--alternate-sigint 'USR9' is not a signal/,
  ],
];

for (const [name, argv, env, code, message] of USAGE_ERRORS) {
  t.test(`usage error: ${name}`, async (t) => {
    const e = await usageError(argv, env);
    t.equal(e.code, code, e.message);
    t.match(e.message, message);
    const line = usageLine(e);
    t.notMatch(line, /\n/, 'printed as one line');
    t.equal(line, `gateway-launcher: ${e.message} [${code}] (see --help)`, 'naming the error and its code');
  });
}

t.test('usage error: a v1 (RSA) key with a ws:// address; the key also given as PEM text in its own argument', async (t) => {
  const v1 = await generateV1KeyPair(1024);
  const pem = `-----BEGIN PUBLIC KEY-----\n${v1.publicKeyBase64.match(/.{1,64}/g)!.join('\n')}\n-----END PUBLIC KEY-----\n`;
  for (const key of [v1.publicKeyBase64, pem]) {
    const e = await usageError(
      ['--kernel-id', 'k1', '--response-address', 'ws://127.0.0.1:9/x', '--public-key', key, '--', 'k', '{connection_file}'],
      {},
    );
    t.equal(e.code, 'GL_ERR_USAGE');
    t.match(e.message, /protocol v1 .* needs a host:port response address/, 'the key was read as an RSA key, not as a flag');
  }
});

t.test('a usage error quoting a value with line breaks still prints as one line', async (t) => {
  const e = await usageError(['--ip', '10.0.0.1\nforged line', ...GOOD], TOKEN);
  t.equal(usageLine(e).split('\n').length, 1);
  t.match(usageLine(e), /^gateway-launcher: --ip '10\.0\.0\.1 forged line' is not an IP address/);
});

t.test('--help and --version are text to print, whatever else is given; -h is --help', async (t) => {
  for (const argv of [['--help'], ['-h'], ['--bogus', '--help']]) {
    const help = await readCommandLine(argv, {});
    if (help.kind !== 'print') return t.fail(`${argv.join(' ')}: not help`);
    for (const o of LAUNCHER_OPTIONS) {
      t.match(help.text, `--${o.name}`, `--${o.name} in help`);
      for (const e of o.env ?? []) t.match(help.text, e, `${e} in help`);
    }
  }
  t.same(await readCommandLine(['--version'], {}), { kind: 'print', text: `${LAUNCHER_VERSION}\n` });
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  t.equal(LAUNCHER_VERSION, pkg.version, 'version.ts matches package.json');
  const afterDashDash = await config([...GOOD, '--help']);
  t.same(afterDashDash.kernelArgv.slice(-1), ['--help'], "after --, --help is the kernel's");
});

t.test('every flag has an environment variable; a launch from the environment alone', async (t) => {
  t.same(
    LAUNCHER_OPTIONS.filter((o) => (o.env ?? []).length === 0).map((o) => o.name),
    [],
    'no option without an environment variable',
  );
  const c = await config(KERNEL, { ...TOKEN, KERNEL_ID: 'k-env', KERNEL_RESPONSE_ADDRESS: 'ws://127.0.0.1:9/r', KERNEL_PUBLIC_KEY: KEY });
  t.equal(c.kernelId, 'k-env');
  t.equal(c.responseAddress.scheme, 'ws');
  t.equal(c.listener.protocol, 2);
  t.same(c.kernelArgv, KERNEL.slice(1));
});

t.test('flags win over the environment; defaults fill the rest', async (t) => {
  const c = await config(['--kernel-id', 'k-flag', '--mode', 'proxy', ...GOOD.slice(2)], {
    ...TOKEN,
    KERNEL_ID: 'k-env',
    KERNEL_PORT_MODE: 'direct',
  });
  t.equal(c.kernelId, 'k-flag');
  t.equal(c.mode, 'proxy');
  t.equal(c.launchTimeoutMs > 0, true, 'a launch timeout by default');
  t.equal(c.interruptMode, 'signal');
  t.equal(c.interruptSignal, 'SIGINT');
  t.equal(c.restartOnCrash, 0);
  t.equal(c.logLevel, 'info');
  t.equal(c.portRange.any, true, 'no range: any port');
  t.equal(c.ip, undefined, 'no --ip: bind all');
});

t.test('enum values from the environment are case-insensitive', async (t) => {
  const c = await config(['--kernel-language', 'python'], {
    ...TOKEN,
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

t.test('the launch token: trimmed from the environment, read from a file, which wins', async (t) => {
  const trimmed = await config(GOOD, { KERNEL_LAUNCH_TOKEN: 'tok\n' });
  t.match(trimmed.listener, { protocol: 2, launchToken: 'tok' }, 'a trailing newline (as a Kubernetes Secret gives) is trimmed');
  const dir = mkdtempSync(join(tmpdir(), 'gl-token-'));
  const file = join(dir, 'token');
  writeFileSync(file, 'from-file\n', { mode: 0o600 });
  const fromFile = await config(withFlags('--launch-token-file', file), { KERNEL_LAUNCH_TOKEN: 'from-env' });
  t.match(fromFile.listener, { protocol: 2, launchToken: 'from-file' });
});

t.test('--ip: an address of this host is bound and reported', async (t) => {
  t.equal((await config(withFlags('--ip', '127.0.0.1'))).ip, '127.0.0.1');
  const linux = process.platform === 'linux';
  t.test(
    '127.0.0.2 is local too (Linux routes all of 127.0.0.0/8 to lo)',
    { skip: linux ? false : '127/8 routing is Linux behaviour' },
    async (t) => {
      t.equal((await config(withFlags('--ip', '127.0.0.2'))).ip, '127.0.0.2');
    },
  );
});

t.test('GP spellings and no kernel named: the python preset', async (t) => {
  const c = await config(GP);
  t.equal(c.kernelLanguage, 'python');
  // The python preset (in handoff mode, its default, ipykernel starts through the handoff bootstrap).
  t.equal(c.kernelArgv[0], 'python3');
  t.match(c.kernelArgv.join(' '), /ipykernel/);
  t.same(c.kernelArgv.slice(-2), ['-f', '{connection_file}']);
  t.same(c.portRange, { lo: 40000, hi: 41000, any: false }, '--RemoteProcessProxy.port-range read');
});

t.test("GP spellings: KERNEL_LANGUAGE (any case, as GP's images write it) names the preset", async (t) => {
  t.equal((await config(GP, { ...TOKEN, KERNEL_LANGUAGE: 'R' })).kernelLanguage, 'r');
});

t.test('our spellings and no kernel named: still a usage error', async (t) => {
  t.match(await usageError(GOOD.slice(0, 6), TOKEN), { code: 'GL_ERR_USAGE', message: /no kernel to start/ });
});

t.test('KERNEL_LANGUAGE from the environment gives way to a command after --', async (t) => {
  const c = await config(GOOD, { ...TOKEN, KERNEL_LANGUAGE: 'python' });
  t.equal(c.kernelLanguage, undefined);
  t.same(c.kernelArgv, KERNEL.slice(1));
});

t.test('{kernel_id} in the kernel argv is substituted; {connection_file} is left for each start', async (t) => {
  const c = await config([...GOOD.slice(0, 6), '--', 'k', '--name={kernel_id}', '{connection_file}']);
  t.same(c.kernelArgv, ['k', '--name=k1', '{connection_file}']);
});

t.test("GP's R launcher flag --customAppName and Toree's --alternate-sigint are accepted", async (t) => {
  const r = await config([
    ...GP,
    '--kernel-language',
    'r',
    '--RemoteProcessProxy.spark-context-initialization-mode',
    'lazy',
    '--customAppName',
    'my-app',
  ]);
  t.match(r.kernelArgv.join(' '), /sparkR\.session\(appName = "my-app"\)/);
  const scala = await config([...GP, '--kernel-language', 'scala', '--alternate-sigint', 'USR2']);
  t.same(scala.kernelArgv.slice(0, 5), ['toree', '--profile', '{connection_file}', '--alternate-sigint', 'USR2'], 'passed on to Toree');
  t.equal(scala.interruptSignal, 'SIGUSR2', 'and interrupts send it');
  t.equal((await config([...GP, '--alternate-sigint', '12'])).interruptSignal, 'SIGUSR2', 'a number works too');
  const home = await config([...GP, '--kernel-language', 'scala'], { ...TOKEN, TOREE_HOME: '/opt/toree' });
  t.equal(home.kernelArgv[0], '/opt/toree/bin/run.sh', 'TOREE_HOME from the given environment');
});

t.test('handoff mode asked for a kernel that cannot adopt sockets runs as direct mode, saying why', async (t) => {
  const c = await config(['--mode', 'handoff', ...GOOD]);
  t.equal(c.mode, 'direct');
  t.match(c.modeFallback, /handoff mode needs --kernel-language python/);
  t.equal((await config(['--kernel-language', 'python', ...GOOD.slice(0, 6)])).mode, 'handoff', 'the python preset defaults to handoff');
  t.equal((await config(GOOD)).mode, 'direct', 'a kernel command defaults to direct');
});
