import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { generateKeyPair, toBase64 } from '@gateway-launchers/common';
import { GENEROUS_MS, LAUNCHER_CLI } from './helpers/launcher-process.js';
import { LAUNCHER_VERSION } from '../src/version.js';

const KEY = toBase64(generateKeyPair().publicKey);
const GOOD = ['--kernel-id', 'k1', '--response-address', '127.0.0.1:9', '--public-key', KEY, '--', 'python3', '-m', 'ipykernel_launcher', '-f', '{connection_file}'];

function cli(args: string[], env: Record<string, string> = { KERNEL_LAUNCH_TOKEN: 'tok' }): { status: number | null; stderr: string; stdout: string } {
  const r = spawnSync(process.execPath, [LAUNCHER_CLI, ...args], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: GENEROUS_MS });
  return { status: r.status, stderr: r.stderr, stdout: r.stdout };
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
  ['unsubstituted placeholder in a flag', withValue('--kernel-id', '{kernel_id}'), /still contains a \{placeholder\}.*GL_ERR_PLACEHOLDER_UNSUBSTITUTED/],
  ['unknown placeholder in the kernel argv', [...GOOD.slice(0, 7), 'python3', '{response_address}', '{connection_file}'], /contains \{response_address\}/],
  ['public key that is neither kind', withValue('--public-key', 'bm90IGEga2V5'), /neither a base64 32-byte X25519 key.*GL_ERR_PUBLIC_KEY_INVALID/],
  ['bad port range', [...GOOD.slice(0, 6), '--port-range', '10..20', ...GOOD.slice(6)], /port range '10\.\.20'.*GL_ERR_PORT_RANGE_BOUNDS/],
  ['too small port range', [...GOOD.slice(0, 6), '--port-range', '40000..40010', ...GOOD.slice(6)], /at least 1000 are required.*GL_ERR_PORT_RANGE_TOO_SMALL/],
  ['missing launch token', GOOD, /KERNEL_LAUNCH_TOKEN.*GL_ERR_LAUNCH_TOKEN_MISSING/, {}],
  ['unknown flag', ['--bogus', 'x', ...GOOD], /Unknown argument/],
  ['no kernel command', GOOD.slice(0, 6), /no kernel to start/],
  ['kernel command without {connection_file}', [...GOOD.slice(0, 7), 'python3', '-m', 'ipykernel_launcher'], /must pass \{connection_file\}/],
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
];

for (const [name, args, message, env] of cases) {
  if (name === 'v1 key with a ws:// address') continue;
  t.test(`usage error: ${name} exits 2 with one line naming it`, async (t) => {
    const r = cli(args, env);
    t.equal(r.status, 2, r.stderr);
    t.match(r.stderr, message);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    t.match(r.stderr, /^gateway-launcher: /);
  });
}

t.test('usage error: v1 key with a ws:// address exits 2', async (t) => {
  const { generateV1KeyPair } = await import('@gateway-launchers/common');
  const v1 = await generateV1KeyPair(1024);
  const r = cli(['--kernel-id', 'k1', '--response-address', 'ws://127.0.0.1:9/x', '--public-key', v1.publicKeyBase64, '--', 'k', '{connection_file}'], {});
  t.equal(r.status, 2);
  t.match(r.stderr, /protocol v1 .* needs a host:port response address/);
});

t.test('GP/EG flag spellings are accepted', async (t) => {
  const r = cli(['--RemoteProcessProxy.kernel-id', '{kernel_id}', '--RemoteProcessProxy.response-address', '127.0.0.1:9', '--RemoteProcessProxy.public-key', KEY, '--', 'k', '{connection_file}']);
  t.equal(r.status, 2, 'the alias was read (its unsubstituted value is what fails)');
  t.match(r.stderr, /--kernel-id '\{kernel_id\}' still contains a \{placeholder\}|still contains a \{placeholder\}/);
});

t.test('--help lists every option and its environment variable; --version prints the version', async (t) => {
  const help = cli(['--help']);
  t.equal(help.status, 0);
  const { LAUNCHER_OPTIONS } = await import('@gateway-launchers/common');
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
