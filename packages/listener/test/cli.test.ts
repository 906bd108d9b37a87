/**
 * `gateway-listener wait`, run as a real process (the built bin,
 * dist/cli.js): prints the launcher's environment, waits, and prints the
 * connection info or writes a 0600 connection file. Exit codes 0 (received),
 * 2 (usage), 3 (timeout), 4 (launcher reported failure, stderr tail printed).
 *
 * The bin is run from dist/ (what npm links) rather than through the test's
 * TypeScript loader, which costs seconds per process; dist/ is rebuilt first
 * when a source file is newer.
 */
import t from 'tap';
import { cliOutput } from '../src/cli-output.js';
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runCli } from '../src/wait-command.js';
import { sealFakeResponse, sendLine, sendValidResponse } from './fixtures/fake-launcher.js';

const PACKAGE = fileURLToPath(new URL('..', import.meta.url));
const ROOT = join(PACKAGE, '..', '..');
const CLI = join(PACKAGE, 'dist', 'cli.js');

function newestSource(dir: string): number {
  return Math.max(...readdirSync(dir).map((f) => statSync(join(dir, f)).mtimeMs));
}

if (
  !existsSync(CLI) ||
  newestSource(join(PACKAGE, 'src')) > statSync(CLI).mtimeMs ||
  newestSource(join(ROOT, 'packages', 'common', 'src')) > statSync(CLI).mtimeMs
) {
  const built = spawnSync('npx', ['tsc', '-b', 'packages/listener'], { cwd: ROOT, stdio: 'inherit' });
  if (built.status !== 0) throw new Error('could not build packages/listener for the CLI tests');
}

interface Run {
  child: ChildProcessWithoutNullStreams;
  /** Resolves with the next stdout line. */
  line(): Promise<string>;
  /** Resolves with exit code, full stdout and stderr. */
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

function cli(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, LOG_LEVEL: 'silent', NODE_OPTIONS: '', ...env } });
  let stdout = '';
  let stderr = '';
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout }).on('line', (l) => {
    stdout += `${l}\n`;
    lines.push(l);
    for (const w of waiters.splice(0)) w();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const done = once(child, 'close').then(([code]) => ({ code: code as number | null, stdout, stderr }));
  return {
    child,
    async line() {
      while (lines.length === 0) {
        if (child.exitCode !== null) throw new Error(`cli exited: ${stderr}`);
        await new Promise<void>((r) => waiters.push(r));
      }
      return lines.shift() as string;
    },
    done,
  };
}

const LISTEN = ['--host', '127.0.0.1', '--port', '0'];

interface Printed {
  kernel_id: string;
  response_address: string;
  env: Record<string, string>;
  argv: string[];
}

t.test('wait: prints the launcher environment, receives the response, writes a 0600 connection file (exit 0)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gl-cli-'));
  const file = join(dir, 'kernel-cli.json');
  const run = cli([
    'wait',
    '--kernel-id',
    'kernel-cli',
    '--port-range',
    '40000..41000',
    '--timeout',
    '120',
    '--connection-file',
    file,
    '--format',
    'json',
    ...LISTEN,
  ]);
  const printed = JSON.parse(await run.line()) as Printed;
  t.match(printed.env, { KERNEL_ID: 'kernel-cli', KERNEL_PORT_RANGE: '40000..41000', KERNEL_LAUNCH_TOKEN: /^[A-Za-z0-9_-]{43}$/ });
  t.notOk(printed.argv.includes(printed.env.KERNEL_LAUNCH_TOKEN as string), 'the token is not on argv');
  const ack = await sendValidResponse({
    kernelId: 'kernel-cli',
    launchToken: printed.env.KERNEL_LAUNCH_TOKEN,
    publicKey: printed.env.KERNEL_PUBLIC_KEY as string,
    responseAddress: printed.env.KERNEL_RESPONSE_ADDRESS as string,
    portRange: '40000..41000',
  });
  t.same(ack, { ok: true });
  const { code, stdout, stderr } = await run.done;
  t.equal(code, 0, stderr);
  t.equal(statSync(file).mode & 0o777, 0o600, 'connection file mode 0600');
  t.same(
    JSON.parse(readFileSync(file, 'utf8')),
    {
      shell_port: 40001,
      iopub_port: 40002,
      stdin_port: 40003,
      control_port: 40004,
      hb_port: 40005,
      ip: '127.0.0.1',
      key: 'secret-hmac-key',
      transport: 'tcp',
      signature_scheme: 'hmac-sha256',
      kernel_name: 'python3',
    },
    'a standard connection file, key included',
  );
  t.match(JSON.parse(stdout.trim().split('\n').at(-1) as string), { kernel_id: 'kernel-cli', connection_file: file, comm_port: 40006 });
  t.match(stderr, `jupyter console --existing ${file}`);
  t.notMatch(stdout + stderr, 'secret-hmac-key', 'the key is not printed');
});

t.test('wait: shell format prints an export line, then the info with the key redacted unless --show-key', async (t) => {
  for (const showKey of [false, true]) {
    const stdout = new PassThrough();
    const lines = createInterface({ input: stdout })[Symbol.asyncIterator]();
    const status = runCli(['wait', '--kernel-id', 'kernel-sh', '--timeout', '120', ...LISTEN, ...(showKey ? ['--show-key'] : [])], {
      stdout,
      stderr: new PassThrough(),
      env: { LOG_LEVEL: 'silent' },
    });
    const exportLine = (await lines.next()).value as string;
    t.match(
      exportLine,
      /^export KERNEL_ID=kernel-sh KERNEL_RESPONSE_ADDRESS=127\.0\.0\.1:\d+ KERNEL_PUBLIC_KEY=\S+ KERNEL_PORT_RANGE=0\.\.0 KERNEL_LAUNCH_TOKEN=\S+$/,
    );
    const value = (name: string): string => (new RegExp(`${name}=(\\S+)`).exec(exportLine)?.[1] ?? '').replace(/^'|'$/g, '');
    const { text } = sealFakeResponse({
      kernelId: 'kernel-sh',
      token: value('KERNEL_LAUNCH_TOKEN'),
      publicKey: value('KERNEL_PUBLIC_KEY'),
    });
    t.same(await sendLine(value('KERNEL_RESPONSE_ADDRESS'), text), { ok: true });
    t.equal(await status, 0);
    stdout.end();
    let rest = '';
    for (let r = await lines.next(); r.done !== true; r = await lines.next()) rest += `${r.value as string}\n`;
    const info = JSON.parse(rest) as { key: string; shell_port: number };
    t.equal(info.shell_port, 50001);
    t.equal(info.key, showKey ? 'secret-hmac-key' : '[Redacted]', showKey ? 'key shown with --show-key' : 'key redacted');
  }
});

t.test('wait: exit 3 when no response arrives in time', async (t) => {
  const run = cli(['wait', '--kernel-id', 'kernel-late', '--timeout', '0.3', '--format', 'json', ...LISTEN]);
  await run.line();
  const { code, stdout, stderr } = await run.done;
  t.equal(code, 3);
  t.match(JSON.parse(stdout.trim().split('\n').at(-1) as string), { kernel_id: 'kernel-late', error: 'GL_ERR_REGISTRATION_TIMEOUT' });
  t.match(stderr, /no valid response for kernel kernel-late/);
});

t.test('wait: exit 4 when the launcher reports a failure, with its stderr tail printed', async (t) => {
  const run = cli(['wait', '--kernel-id', 'kernel-dead', '--timeout', '120', '--format', 'json', ...LISTEN]);
  const printed = JSON.parse(await run.line()) as Printed;
  const { text } = sealFakeResponse({
    kernelId: 'kernel-dead',
    token: printed.env.KERNEL_LAUNCH_TOKEN as string,
    publicKey: printed.env.KERNEL_PUBLIC_KEY as string,
    failure: {
      exit_code: 1,
      signal: null,
      stderr_tail: "Traceback (most recent call last):\nModuleNotFoundError: No module named 'ipykernel'\n",
    },
  });
  t.same(await sendLine(printed.response_address, text), { ok: true });
  const { code, stdout, stderr } = await run.done;
  t.equal(code, 4);
  t.match(stderr, "ModuleNotFoundError: No module named 'ipykernel'");
  t.match(stderr, /kernel kernel-dead failed to start \(exit code 1\)/);
  t.match(JSON.parse(stdout.trim().split('\n').at(-1) as string), { error: 'GL_ERR_KERNEL_FAILED', details: { exit_code: 1 } });
});

t.test(
  "wait: a failure's stderr tail reaches the terminal with control characters escaped (OSC 52, title, clear) (issue 11.7)",
  async (t) => {
    const run = cli(['wait', '--kernel-id', 'kernel-evil', '--timeout', '20', '--format', 'json', ...LISTEN]);
    const printed = JSON.parse(await run.line()) as Printed;
    const osc52 = '\u001b]52;c;ZWNobyBwd25lZA==\u0007';
    const title = '\u001b]0;owned\u0007';
    const clear = '\u001b[2J\u001b[H\u009b2J';
    const { text } = sealFakeResponse({
      kernelId: 'kernel-evil',
      token: printed.env.KERNEL_LAUNCH_TOKEN as string,
      publicKey: printed.env.KERNEL_PUBLIC_KEY as string,
      failure: { exit_code: 1, signal: null, stderr_tail: `line one\n\tindented${osc52}${title}${clear}\rbidi\u202eevil\n` },
    });
    t.same(await sendLine(printed.response_address, text), { ok: true });
    const { code, stdout, stderr } = await run.done;
    t.equal(code, 4);
    t.notMatch(stderr, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/, 'no control character but newline and tab reaches the terminal');
    t.notMatch(stdout, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/, 'nor through the JSON on stdout');
    const json = JSON.parse(stdout.trim().split('\n').at(-1) as string) as { details: { stderr_tail: string } };
    t.match(json.details.stderr_tail, osc52, 'the JSON still carries the exact tail for programs');
    const said = stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { stderr_tail?: string })
      .find((o) => typeof o.stderr_tail === 'string');
    t.equal(
      said?.stderr_tail,
      `line one\n\tindented${osc52}${title}${clear}\rbidi\u202eevil\n`,
      'stderr (JSON with --format json) carries the exact tail, escaped',
    );
    // The same failure in text form, rendered by the CLI's own output code.
    let shown = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        shown += chunk.toString();
        done();
      },
    });
    cliOutput(sink, 'text').say('error', 'kernel kernel-evil failed to start', { stderr_tail: said?.stderr_tail });
    t.match(shown, 'line one\n\tindented', 'newline and tab are kept');
    t.match(shown, '\\x1b]52;c;ZWNobyBwd25lZA==\\x07', 'the OSC 52 clipboard write is shown escaped');
    t.match(
      shown,
      '\\x1b]0;owned\\x07\\x1b[2J\\x1b[H\\x9b2J\\x0dbidi\\u{202e}evil',
      'title, clear, C1 CSI, carriage return and bidi override too',
    );
    t.notMatch(shown, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/, 'no control character but newline and tab in the text form');
  },
);

t.test('wait: exit 2 on usage errors', async (t) => {
  const { code, stderr } = await cli(['wait', '--port-range', '40000..41000']).done;
  t.equal(code, 2, 'the process exits 2');
  t.match(stderr, 'missing required option --kernel-id');
  const cases: string[][] = [
    ['wait', '--kernel-id', 'bad id!', ...LISTEN],
    ['wait', '--kernel-id', 'k', '--port-range', '1..2', ...LISTEN],
    ['wait', '--kernel-id', 'k', '--no-such-flag'],
    ['wait', '--kernel-id', 'k', '--timeout', '-1'],
    ['wait', '--kernel-id', 'k', '--timeout', '1e10'],
    ['wait', '--kernel-id', 'k', '--transport', 'udp'],
    ['launch', '--kernel-id', 'k'],
    [],
  ];
  for (const args of cases) {
    const stderr = new PassThrough();
    let text = '';
    stderr.on('data', (d: Buffer) => (text += d.toString()));
    const status = await runCli(args, { stdout: new PassThrough(), stderr, env: { LOG_LEVEL: 'silent' } });
    t.equal(status, 2, `${JSON.stringify(args)}: ${text.split('\n')[0] ?? ''}`);
  }
});

t.test('the bin is dist/cli.js with a node shebang, and --help exits 0', async (t) => {
  t.match(readFileSync(CLI, 'utf8'), /^#!\/usr\/bin\/env node\n/);
  const pkg = JSON.parse(readFileSync(join(PACKAGE, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  t.same(pkg.bin, { 'gateway-listener': './dist/cli.js' });
  const help = await cli(['--help']).done;
  t.equal(help.code, 0);
  t.match(help.stdout, /gateway-listener wait --kernel-id ID/);
});

t.test('--version prints the package version', async (t) => {
  const pkg = JSON.parse(readFileSync(join(PACKAGE, 'package.json'), 'utf8')) as { version: string };
  const v = await cli(['--version']).done;
  t.equal(v.code, 0);
  t.equal(v.stdout.trim(), pkg.version);
});

t.test(
  'wait: an unwritable --connection-file is refused before anything is registered (exit 2, no launcher parameters printed)',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gl-cli-'));
    for (const [file, why] of [
      [join(dir, 'missing-dir', 'k.json'), /directory .*missing-dir does not take new files \(ENOENT\)/],
      [dir, /is a directory/],
    ] as const) {
      const { code, stdout, stderr } = await cli([
        'wait',
        '--kernel-id',
        'k-file',
        '--timeout',
        '600',
        '--connection-file',
        file,
        ...LISTEN,
      ]).done;
      t.equal(code, 2, stderr);
      t.equal(stdout, '', 'no export line: the operator never starts a launcher for it');
      t.match(stderr, why);
    }
  },
);

t.test('wait: stderr is all JSON with --format json and all text otherwise', async (t) => {
  const lines = (s: string): string[] => s.split('\n').filter(Boolean);
  for (const format of ['json', 'shell'] as const) {
    // debug: the listener's own log lines appear too, in the same format.
    const { code, stderr } = await cli([
      'wait',
      '--kernel-id',
      'k-fmt',
      '--timeout',
      '0.3',
      '--format',
      format,
      '--log-level',
      'debug',
      ...LISTEN,
    ]).done;
    t.equal(code, 3);
    t.ok(lines(stderr).length >= 2, `${format}: several lines (${lines(stderr).length})`);
    const json = lines(stderr).filter((l) => {
      try {
        return typeof JSON.parse(l) === 'object';
      } catch {
        return false;
      }
    });
    t.equal(
      json.length,
      format === 'json' ? lines(stderr).length : 0,
      `${format}: ${format === 'json' ? 'every line is JSON' : 'no line is JSON'}`,
    );
    if (format === 'shell')
      t.ok(
        lines(stderr).every((l) => l.startsWith('gateway-listener: ')),
        'every text line names the program',
      );
  }
});

t.test('wait: an unknown --log-level is a usage error', async (t) => {
  const { code, stderr } = await cli(['wait', '--kernel-id', 'k', '--log-level', 'verbose', ...LISTEN]).done;
  t.equal(code, 2);
  t.match(stderr, /--log-level 'verbose' is not one of/);
});
