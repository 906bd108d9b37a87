/**
 * Drop-in for a Gateway Provisioners python kernelspec: the kernelspec's argv
 * with `launch_ipykernel.py` replaced by `gateway-launcher` carries only GP's
 * `--RemoteProcessProxy.*` flags and names no kernel. The launcher starts
 * ipykernel, the host's listener gets the connection info, and a real
 * jupyter_client runs a cell.
 */
import t from 'tap';
import { createLogger } from '@gateway-launchers/common';
import { ResponseListener } from '@gateway-launchers/listener';
import { LAUNCHER_CLI, PYTHON, kernelClient, spawnWithLogs } from '../../packages/launcher/test/helpers/launcher-process.js';

const RANGE = '46000..47000';

t.test("a GP python kernelspec argv with only GP's flags launches ipykernel", async (t) => {
  const listener = await ResponseListener.start({
    host: '127.0.0.1',
    port: 0,
    logger: createLogger({ name: 'gateway-listener', level: 'warn' }),
  });
  t.teardown(() => listener.close());
  const kernelId = 'k-gp-dropin';
  const launch = listener.register(kernelId, { portRange: RANGE, timeoutMs: 120_000 });
  // GP's kernelspec, as its provisioner fills it in; the token comes in the environment, as from our listener.
  const argv = [
    '--RemoteProcessProxy.kernel-id',
    kernelId,
    '--RemoteProcessProxy.response-address',
    launch.responseAddress,
    '--RemoteProcessProxy.public-key',
    launch.publicKey,
    '--RemoteProcessProxy.port-range',
    RANGE,
  ];
  // PATH: python3 (the preset's default interpreter) is Debian's, which has ipykernel.
  const run = spawnWithLogs(
    [process.execPath, LAUNCHER_CLI, ...argv],
    {
      KERNEL_LAUNCH_TOKEN: launch.launchToken!,
      PATH: `${PYTHON.replace(/\/python3$/, '')}:${process.env.PATH ?? ''}`,
      HOME: process.env.HOME,
      LOG_LEVEL: 'info',
    },
    { captureStdout: true },
  );
  t.teardown(() => run.stop());
  let response;
  try {
    response = await launch.response;
  } catch (e) {
    t.fail(`no response: ${(e as Error).message}\n${run.stderr().slice(-3000)}`);
    return;
  }
  t.match(
    run.logs.find((l) => l.event === 'kernel_spawned'),
    { argv0: 'python3' },
    'the python preset was started',
  );
  t.equal(response.connectionInfo.ip, '127.0.0.1', 'the reported address is the one routed toward the listener (loopback here)');
  const out = await kernelClient(response.connectionInfo, 'execute', 'import sys; sys.version_info[0] * 14').result;
  t.equal(out.result, '42', 'a cell runs');
  t.match(await listener.control(kernelId).shutdown(), { ok: true }, 'shutdown through the listener');
  t.equal((await run.exited).code, 0, 'launcher exits with the kernel');
  t.notMatch(
    run.stderr(),
    /To connect another client to this kernel|--existing/,
    "ipykernel's banner is not printed on the launcher's stdout or stderr",
  );
});
