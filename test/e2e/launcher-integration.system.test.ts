import t from 'tap';
import { spawn } from 'node:child_process';
import { createServer, connect, type Socket } from 'node:net';
import { statSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger } from '@gateway-launchers/common';
import { ResponseListener } from '@gateway-launchers/listener';

const LAUNCHER = fileURLToPath(new URL('../../packages/launcher/dist/cli.js', import.meta.url));
const LISTENER_CLI = fileURLToPath(new URL('../../packages/listener/dist/cli.js', import.meta.url));
const KERNEL_CLIENT = fileURLToPath(new URL('../../packages/launcher/test/fixtures/kernel_client.py', import.meta.url));
const PYTHON = '/usr/bin/python3';
/** Safety net for waits on the launcher's processes; the tests wait for events (log lines, exits), not for time. */
const GENEROUS_MS = 60_000;

function startLauncher(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [LAUNCHER, ...args, '--kernel-language', 'python', '--python', PYTHON], {
    // A kernel slow to start or to answer shutdown_request on a loaded machine gets time (the launcher's
    // defaults are 30 s and 3 s); the listener's own values in `env` still win.
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LOG_LEVEL: 'info',
      KERNEL_LAUNCH_TIMEOUT: '120',
      KERNEL_SHUTDOWN_GRACE: '30',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const waiters = new Set<() => void>();
  child.stderr.on('data', (c: Buffer) => {
    log += c.toString();
    for (const w of [...waiters]) w();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  /** Resolves once the launcher's log matches `re`; rejects when it exits first or after {@link GENEROUS_MS}. */
  const logged = (re: RegExp): Promise<void> =>
    new Promise((resolve, reject) => {
      const done = (): void => {
        waiters.delete(check);
        clearTimeout(timer);
      };
      const check = (): void => {
        if (!re.test(log)) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`launcher never logged ${String(re)}:\n${log.slice(-3000)}`));
      }, GENEROUS_MS);
      waiters.add(check);
      check();
      void exited.then(() => {
        if (!waiters.has(check)) return;
        done();
        reject(new Error(`launcher exited before logging ${String(re)}:\n${log.slice(-3000)}`));
      });
    });
  return { child, exited, log: () => log, logged };
}

/** SIGTERM lets the launcher stop its kernel; SIGKILL only if it does not exit in 20 s. */
async function stopLauncher(l: ReturnType<typeof startLauncher>): Promise<void> {
  if (l.child.exitCode !== null || l.child.signalCode !== null) return;
  l.child.kill('SIGTERM');
  const timer = setTimeout(() => l.child.kill('SIGKILL'), 20_000);
  await l.exited;
  clearTimeout(timer);
}

function pythonClient(connectionFile: string, command: string, code?: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const c = spawn(PYTHON, [KERNEL_CLIENT, connectionFile, command, ...(code === undefined ? [] : [code])], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.once('exit', () => {
      try {
        resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '') as Record<string, unknown>);
      } catch {
        reject(new Error(err.slice(-1500)));
      }
    });
  });
}

t.test('gateway-listener wait with a real launcher writes a connection file that jupyter_client uses', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gl-cli-'));
  const file = join(dir, 'kernel.json');
  const cli = spawn(
    process.execPath,
    [
      LISTENER_CLI,
      'wait',
      '--kernel-id',
      'k-cli',
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--timeout',
      '150',
      '--connection-file',
      file,
      '--format',
      'json',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  const firstLine = new Promise<Record<string, unknown>>((resolve) =>
    cli.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0 && !out.slice(0, nl).includes('connection_file')) resolve(JSON.parse(out.slice(0, nl)) as Record<string, unknown>);
    }),
  );
  const cliExit = new Promise<number | null>((resolve) => cli.once('exit', (code) => resolve(code)));
  const params = (await firstLine) as { env: Record<string, string>; argv: string[] };
  t.notOk(params.argv.includes(params.env.KERNEL_LAUNCH_TOKEN as string), 'the token is not on the argv');
  const launcher = startLauncher([], params.env);
  t.teardown(() => stopLauncher(launcher));
  t.equal(await cliExit, 0, 'wait exits 0 once the response is accepted');
  t.equal(statSync(file).mode & 0o777, 0o600, 'connection file mode 0600');
  const result = await pythonClient(file, 'execute', 'sum(range(10))');
  t.equal(result.result, '45', 'jupyter_client executes with the written connection file');
  launcher.child.kill('SIGTERM');
  t.equal(await launcher.exited, 0);
});

t.test('a real launcher re-attaches its control WebSocket after a drop; control and kernel-exit keep working', async (t) => {
  const listener = await ResponseListener.start({ host: '127.0.0.1', port: 0, logger: createLogger({ level: 'silent' }) });
  t.teardown(() => listener.close());
  // A relay between launcher and listener stands in for the network. Cutting it
  // drops only the launcher's side: the listener's socket stays half-open, as
  // after a NAT timeout, and must not block the launcher's re-attach.
  const pairs: Array<{ inbound: Socket; outbound: Socket }> = [];
  const relay = createServer((inbound) => {
    const outbound = connect({ host: '127.0.0.1', port: listener.address.port });
    pairs.push({ inbound, outbound });
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('error', () => outbound.destroy());
    outbound.on('error', () => inbound.destroy());
  });
  const cut = (): void => {
    for (const { inbound, outbound } of pairs.splice(0)) {
      inbound.unpipe(outbound);
      outbound.unpipe(inbound);
      inbound.destroy();
      t.teardown(() => outbound.destroy());
    }
  };
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise((r) => relay.close(r)));
  const relayPort = (relay.address() as { port: number }).port;

  const launch = listener.register('k-reattach', { transport: 'ws', timeoutMs: 150_000 });
  const exited = new Promise<unknown>((resolve) => listener.once('kernel-exit', resolve));
  const launcher = startLauncher([], { ...launch.env, KERNEL_RESPONSE_ADDRESS: `ws://127.0.0.1:${relayPort}/` });
  t.teardown(() => stopLauncher(launcher));
  const response = await launch.response;
  t.equal(response.transport, 'ws');
  t.equal(listener.stats().webSockets, 1);
  // Drop the link once the launcher holds the acknowledgement.
  await launcher.logged(/response_acked/);
  cut();
  await launcher.logged(/ws_reattached/);
  t.match(launcher.log(), /ws_reattached/, 'the launcher reconnected and re-attached');
  t.equal(listener.stats().webSockets, 1, 'the listener attached the new socket to the kernel');

  const signal = await listener.control('k-reattach').signal('SIGCONT');
  t.ok(signal.ok, 'a control request goes out over the re-attached socket');
  if (signal.ok) t.equal(signal.value.route, 'websocket');
  const down = await listener.control('k-reattach').shutdown();
  t.ok(down.ok);
  t.equal(await launcher.exited, 0);
  const exit = await Promise.race([exited, new Promise((r) => setTimeout(r, GENEROUS_MS).unref())]);
  t.match(exit, { kernelId: 'k-reattach', exitCode: 0 }, 'kernel-exit arrives over the re-attached socket');
});
