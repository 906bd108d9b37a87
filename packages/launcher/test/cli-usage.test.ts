/**
 * What only a `gateway-launcher` process shows about its command line: exit
 * status 2 and one stderr line on a usage error, the report of that error to
 * the listener, help and version on stdout. Each case of the command line
 * itself (which input gives which error) is checked in-process in
 * command-line.test.ts and usage-failure.test.ts.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { isFailureResponse } from '@gateway-launchers/common';
import { LAUNCHER_VERSION } from '../src/version.js';
import { GENEROUS_MS, LAUNCHER_CLI } from './helpers/launcher-process.js';
import { Receiver } from './helpers/receiver.js';

interface CliRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI with only `env` (and PATH) as its environment; resolves once it has exited. */
function cli(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [LAUNCHER_CLI, ...args], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // A safety net for a hang, not a speed target.
    const timer = setTimeout(() => child.kill('SIGKILL'), GENEROUS_MS);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}

t.test('a usage error with nowhere to report it exits 2 with one stderr line naming it and its code', async (t) => {
  const r = await cli(['--bogus', 'x', '--kernel-id', 'k1', '--', 'k', '{connection_file}']);
  t.equal(r.status, 2, r.stderr);
  t.equal(r.stderr, 'gateway-launcher: Unknown argument: bogus [GL_ERR_USAGE] (see --help)\n');
  t.equal(r.stdout, '', 'nothing on stdout');
});

t.test('a usage error is sent to the listener the flags and environment name, as a failure with exit code 2', async (t) => {
  const receiver = await Receiver.start();
  t.teardown(() => receiver.close());
  const run = cli(
    ['--kernel-id', 'k-usage', '--response-address', receiver.address, '--public-key', receiver.publicKey, '--', 'k', '{connection_file}'],
    { KERNEL_LAUNCH_TOKEN: receiver.token, KERNEL_PORT_MODE: 'sideways' },
  );
  const { plaintext } = await receiver.next(GENEROUS_MS);
  const r = await run;
  t.equal(r.status, 2, r.stderr);
  const line = "gateway-launcher: KERNEL_PORT_MODE must be one of direct, proxy, handoff, got 'sideways' [GL_ERR_USAGE] (see --help)";
  t.equal(r.stderr, `${line}\ngateway-launcher: reported the usage error to the listener at ${receiver.address}\n`);
  t.ok(isFailureResponse(plaintext), 'a failure response');
  t.match(plaintext, { kernel_id: 'k-usage', token: receiver.token, failure: { exit_code: 2, signal: null, stderr_tail: line } });
});

t.test('--help and --version print on stdout and exit 0', async (t) => {
  const help = await cli(['--help']);
  t.equal(help.status, 0, help.stderr);
  t.match(help.stdout, /^gateway-launcher \[options\]/);
  t.match(help.stdout, /--response-address/);
  t.equal(help.stderr, '');
  const version = await cli(['--version']);
  t.equal(version.status, 0, version.stderr);
  t.equal(version.stdout, `${LAUNCHER_VERSION}\n`);
});
