/**
 * Failures the host can see: a launcher that stops on a usage error tells the
 * listener (the host fails the launch at once, not at its timeout); a launcher
 * that cannot reach the listener says so at `info`; a stop signal ends a
 * failure report that is still retrying.
 *
 * Real processes: the built `gateway-listener` and `gateway-launcher`, real
 * ipykernel, sockets on loopback.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { PYTHON, runLauncher } from '../../packages/launcher/test/helpers/launcher-process.js';
import { closedPort } from '../../packages/launcher/test/helpers/ports.js';

const LISTENER_CLI = fileURLToPath(new URL('../../packages/listener/dist/cli.js', import.meta.url));
/** Safety net only: a wait that never ends fails here, long before the registration timeout below. */
const SAFETY_MS = 90_000;
/** The registration timeout given to `gateway-listener wait`: exit 4 before it proves the failure came from the launcher. */
const LONG_TIMEOUT_S = 3_600;

/** Starts `gateway-listener wait`; resolves its first stdout line (the launcher's parameters) and, later, its exit. */
function startWait(kernelId: string) {
  const child = spawn(
    process.execPath,
    [LISTENER_CLI, 'wait', '--kernel-id', kernelId, '--timeout', String(LONG_TIMEOUT_S), '--format', 'json', '--host', '127.0.0.1'],
    {
      env: { PATH: process.env.PATH, LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout });
  const first = new Promise<{ env: Record<string, string>; argv: string[] }>((resolve) =>
    lines.once('line', (l) => resolve(JSON.parse(l) as { env: Record<string, string>; argv: string[] })),
  );
  const exited = once(child, 'close').then(([code]) => ({ code: code as number | null, stderr }));
  return { child, first, exited };
}

function withSafety<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_r, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no outcome within the ${SAFETY_MS} ms safety net`)), SAFETY_MS);
    }),
  ]);
}

const usageCases: Array<
  [string, (p: { env: Record<string, string>; argv: string[] }) => { args: string[]; env: Record<string, string> }, RegExp]
> = [
  [
    'a mistyped flag',
    (p) => ({ args: [...p.argv, '--kernel-langauge', 'python'], env: { KERNEL_LAUNCH_TOKEN: p.env.KERNEL_LAUNCH_TOKEN! } }),
    /Unknown argument: kernel-langauge/,
  ],
  [
    'a bad value in the environment',
    (p) => ({ args: ['--kernel-language', 'python'], env: { ...p.env, KERNEL_PORT_MODE: 'sideways' } }),
    /KERNEL_PORT_MODE must be one of direct, proxy, handoff, got 'sideways'/,
  ],
];

for (const [name, make, message] of usageCases) {
  t.test(`a usage error (${name}) reaches gateway-listener wait as exit 4, carrying the error`, async (t) => {
    const wait = startWait('k-usage');
    t.teardown(() => void wait.child.kill('SIGKILL'));
    const params = await withSafety(wait.first, 'listener parameters');
    const { args, env } = make(params);
    const launcher = runLauncher(args, env);
    t.teardown(() => launcher.stop());
    const lexit = await withSafety(launcher.exited, 'launcher');
    t.equal(lexit.code, 2, 'the launcher exits 2 (usage)');
    t.match(launcher.stderr(), message);
    t.match(launcher.stderr(), /reported the usage error to the listener at 127\.0\.0\.1:\d+/);
    const wexit = await withSafety(wait.exited, 'gateway-listener wait');
    t.equal(wexit.code, 4, `wait exits 4 (launcher reported a failure) long before its ${LONG_TIMEOUT_S} s timeout`);
    t.match(wexit.stderr, message, 'the usage error is what the host prints');
  });
}

t.test('a usage error with nowhere valid to report it only exits 2', async (t) => {
  const launcher = runLauncher(
    ['--kernel-id', 'bad id!', '--response-address', '127.0.0.1:9', '--public-key', 'x', '--', 'k', '{connection_file}'],
    { KERNEL_LAUNCH_TOKEN: 'tok' },
  );
  const exit = await withSafety(launcher.exited, 'launcher');
  t.equal(exit.code, 2);
  t.notMatch(launcher.stderr(), /reported the usage error/);
});

t.test(
  'a listener that cannot be reached is logged at info (address and error), and SIGTERM ends the retrying failure report within the shutdown grace',
  async (t) => {
    const { generateKeyPair, toBase64 } = await import('@gateway-launchers/common');
    const port = await closedPort();
    const launcher = runLauncher(
      [
        '--kernel-id',
        'k-unreachable',
        '--response-address',
        `127.0.0.1:${port}`,
        '--public-key',
        toBase64(generateKeyPair().publicKey),
        '--kernel-language',
        'python',
        '--python',
        PYTHON,
        '--launch-timeout',
        '3600',
        '--shutdown-grace',
        '1',
      ],
      { KERNEL_LAUNCH_TOKEN: 'tok', LOG_LEVEL: 'info' },
    );
    t.teardown(() => launcher.stop());
    const retry = await withSafety(
      new Promise<Record<string, unknown>>((resolve) => {
        const poll = setInterval(() => {
          const found = launcher.logs.find((l) => l.event === 'response_retry');
          if (found !== undefined) {
            clearInterval(poll);
            resolve(found);
          }
        }, 50);
      }),
      'first response_retry',
    );
    t.equal(retry.level, 30, 'the first retry is logged at info');
    t.equal(retry.address, `127.0.0.1:${port}`, 'with the address');
    t.match(retry.reason, /ECONNREFUSED/, 'and the error');
    launcher.child.kill('SIGTERM');
    const exit = await withSafety(launcher.exited, 'launcher after SIGTERM');
    t.not(exit.signal, 'SIGKILL', 'the launcher ended by itself');
    t.ok(
      launcher.logs.some((l) => l.event === 'failure_unreported'),
      'the failure report was given up (launch timeout 3600 s: only the stop signal can have ended it)',
    );
    t.ok(
      launcher.logs.some((l) => l.event === 'launcher_exit'),
      'and the launcher cleaned up',
    );
  },
);
