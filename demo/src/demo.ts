/**
 * `npm run demo`: the whole round trip on one machine, as a host and a remote
 * container would do it. A listener registers a kernel; `gateway-launcher`
 * starts as a separate process (as a container runtime would start it) with a
 * real ipykernel; the validated connection info comes back sealed; a
 * TypeScript Jupyter client executes a cell, a long cell is interrupted
 * through the launcher, and the kernel is shut down. Prints phase timings.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { createLogger, redactConnectionInfo } from '@gateway-launchers/common';
import { ResponseListener } from '@gateway-launchers/listener';
import { KernelClient } from './jupyter-client.js';

const HELP = `npm run demo -- [options]

Runs a listener, a gateway-launcher process and a real ipykernel end to end.

  --port-range R        kernel port range lo..hi (default 10000..11000)
  --transport T         tcp (host:port, default) or ws (ws://host:port/)
  --kernel-language L   launcher preset (default python)
  --python PATH         Python with ipykernel (default /usr/bin/python3)
  --mode M              handoff (default: the launcher binds the ports and hands them to the kernel),
                        direct (the kernel binds them) or proxy (the launcher binds them and relays)
  --verbose             show the launcher's JSON logs
  -h, --help            this text`;

const { values } = parseArgs({
  options: {
    'port-range': { type: 'string', default: '10000..11000' },
    transport: { type: 'string', default: 'tcp' },
    'kernel-language': { type: 'string', default: 'python' },
    python: { type: 'string', default: '/usr/bin/python3' },
    mode: { type: 'string', default: 'handoff' },
    verbose: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(HELP);
  process.exit(0);
}
if (values.transport !== 'tcp' && values.transport !== 'ws') {
  console.error(`demo: --transport must be tcp or ws, got '${values.transport}'`);
  process.exit(2);
}

const LAUNCHER = fileURLToPath(new URL('../../packages/launcher/dist/cli.js', import.meta.url));
const phases: Array<[string, number]> = [];
const t0 = performance.now();
const mark = (name: string): void => {
  phases.push([name, performance.now() - t0]);
};
const say = (text: string): void => console.log(`\x1b[1m▸\x1b[0m ${text}`);

async function main(): Promise<number> {
  const listener = await ResponseListener.start({
    host: '127.0.0.1',
    port: 0,
    logger: createLogger({ name: 'gateway-listener', level: values.verbose ? 'info' : 'warn' }),
  });
  say(`listener on ${listener.responseAddress} (protocol v2, X25519 key ${listener.publicKey.slice(0, 8)}…)`);
  const kernelId = `demo-${randomBytes(4).toString('hex')}`;
  const launch = listener.register(kernelId, {
    portRange: values['port-range'],
    timeoutMs: 120_000,
    transport: values.transport as 'tcp' | 'ws',
  });
  say(`registered ${kernelId}; starting gateway-launcher with ${launch.transport} response address ${launch.responseAddress}`);

  mark('start');
  const launcher = spawn(
    process.execPath,
    [LAUNCHER, ...launch.argv, '--kernel-language', values['kernel-language'], '--python', values.python, '--mode', values.mode],
    {
      env: { ...process.env, ...launch.env, LOG_LEVEL: values.verbose ? 'info' : 'warn' },
      // The kernel's own banner and the launcher's logs only with --verbose.
      stdio: ['ignore', values.verbose ? 'inherit' : 'ignore', values.verbose ? 'inherit' : 'ignore'],
    },
  );
  const launcherExit = new Promise<number | null>((resolve) => launcher.once('exit', (code) => resolve(code)));
  // Every wait on the launcher is bounded: after 60 s it is killed (SIGTERM, then SIGKILL), never left behind.
  const launcherGone = async (): Promise<number | null> => {
    const timer = setTimeout(() => launcher.kill('SIGTERM'), 60_000);
    const hard = setTimeout(() => launcher.kill('SIGKILL'), 75_000);
    const code = await launcherExit;
    clearTimeout(timer);
    clearTimeout(hard);
    return code;
  };
  try {
    const response = await launch.response;
    mark('response accepted');
    say(`connection info accepted from ${response.peer}: ${JSON.stringify(redactConnectionInfo(response.connectionInfo))}`);

    const client = new KernelClient(response.connectionInfo);
    try {
      await client.kernelInfo();
      mark('kernel ready');
      say('kernel_info_reply received');

      const cell = await client.execute(
        'import platform\nprint("hello from a kernel started by gateway-launcher on", platform.node())\n6 * 7',
      );
      mark('first output');
      say(`executed a cell: stdout ${JSON.stringify(cell.stdout.trim())}, result ${cell.result ?? '(none)'}`);
      if (cell.result !== '42') throw new Error(`unexpected result ${cell.result ?? 'none'}`);

      say('running `time.sleep(30)` and interrupting it through the launcher');
      // Interrupt once the cell prints that it runs: earlier, the interrupt could reach a kernel that is not yet busy.
      let running: () => void = () => {};
      const started = new Promise<void>((r) => (running = r));
      const long = client.execute('import time\nprint("sleeping", flush=True)\ntime.sleep(30)', { onStdout: () => running() });
      await Promise.race([started, long]);
      const interrupted = await listener.control(kernelId).interrupt();
      const longResult = await long;
      mark('interrupted');
      say(
        `interrupt ${interrupted.ok ? 'acknowledged' : `failed: ${interrupted.error.code}`}; the cell ended with ${longResult.error ?? longResult.status}`,
      );
      if (!interrupted.ok || longResult.error?.startsWith('KeyboardInterrupt') !== true)
        throw new Error('interrupt did not reach the kernel');
    } finally {
      client.close();
    }

    const shutdown = await listener.control(kernelId).shutdown();
    const code = await launcherGone();
    mark('shutdown');
    say(`shutdown ${shutdown.ok ? 'acknowledged' : 'failed'}; launcher exited with status ${String(code)}`);

    console.log('\nphase                        since launcher start   step');
    let prev = 0;
    for (const [name, at] of phases) {
      console.log(`${name.padEnd(28)} ${`${at.toFixed(0)} ms`.padStart(20)}   ${`${(at - prev).toFixed(0)} ms`.padStart(7)}`);
      prev = at;
    }
    await listener.close();
    return code === 0 ? 0 : 1;
  } catch (e) {
    console.error(`demo failed: ${(e as Error).message}`);
    launcher.kill('SIGTERM');
    await launcherGone();
    await listener.close();
    return 1;
  }
}

main().then((code) => process.exit(code));
