/**
 * The container recipe in a real container engine: the kernel image built
 * with podman from deploy/container/Dockerfile, run as kernel-pod.yaml
 * describes the pod, with the listener on the host (protocol v2).
 *
 * The container shares the host's network (`--network host`): this machine
 * allows traffic on loopback only, so the pod env gets `KERNEL_IP=127.0.0.1`
 * (on a cluster the launcher reports the pod's own address instead).
 */
import t, { type Test } from 'tap';
import { createLogger } from '@gateway-launchers/common';
import { ResponseListener, type LaunchResponse } from '@gateway-launchers/listener';
import { kernelClient } from '../../packages/launcher/test/helpers/launcher-process.js';
import { ensureBundle, startProcess, type HostProcess } from './helpers/deploy.js';
import { buildKernelImage, ensureBaseImage, ensureNodeImage, podman, runArgs } from './helpers/container-engine.js';
import { containerEnv, renderPod } from './helpers/pod.js';

// A fresh machine builds the Debian base first (debootstrap: minutes on a
// busy 2-core box); the runner's per-file limit is raised for this file.
t.setTimeout(20 * 60_000);

const RANGE = '46000..47000';
const ENTRYPOINT = ['/usr/bin/tini', '--', '/opt/gateway-launcher/container/entrypoint.sh'];

let image = '';

interface KernelContainer {
  name: string;
  run: HostProcess;
  response: LaunchResponse;
}

/**
 * Registers a kernel with the host's listener, renders the pod for it and
 * runs the container with the pod's environment; resolves once the
 * launcher's sealed response is accepted (or fails when the container ends first).
 */
async function startKernelContainer(t: Test, listener: ResponseListener, kernelId: string): Promise<KernelContainer> {
  const launch = listener.register(kernelId, { portRange: RANGE, timeoutMs: 300_000 });
  const objects = renderPod({ ...launch.env, KERNEL_NAMESPACE: 'kernels', KERNEL_IMAGE: image });
  // KERNEL_SHUTDOWN_GRACE: on a busy machine a kernel can take longer than the
  // default 3 s to answer shutdown_request, and would then end by SIGTERM (143);
  // this test is about the path a stop takes, not its speed.
  const env = { ...containerEnv(objects), KERNEL_IP: '127.0.0.1', KERNEL_SHUTDOWN_GRACE: '30', LOG_LEVEL: 'debug' };
  const name = `gl-test-${kernelId}`;
  const run = startProcess(['podman', ...runArgs(name, image, Object.keys(env))], { PATH: process.env.PATH, ...env });
  t.teardown(async () => {
    await podman(['rm', '--force', '--time', '5', name]);
    await run.exited;
  });
  const endedFirst = run.exited.then((e) => {
    throw new Error(`the container ended (exit ${String(e.code)}) before its launcher responded:\n${run.output().slice(-4000)}`);
  });
  const response = await Promise.race([launch.response, endedFirst]);
  return { name, run, response };
}

t.test('the kernel image builds with podman from the project Dockerfile on a Debian base made here, no registry', async (t) => {
  ensureBundle();
  const base = await ensureBaseImage();
  if (base.minbase.built)
    t.comment(`minimal Debian ${base.minbase.image}: debootstrapped and imported in ${Math.round(base.minbase.ms / 1000)} s`);
  t.comment(`base image ${base.image}: ${base.built ? 'made' : 'reused from podman storage'} in ${Math.round(base.ms / 1000)} s`);
  const node = await ensureNodeImage();
  t.comment(`node image ${node.image}: ${node.built ? 'made from the host binary' : 'reused'} in ${Math.round(node.ms / 1000)} s`);
  const kernel = await buildKernelImage(base.image, node.image);
  t.comment(`kernel image ${kernel.image.slice(0, 12)} built in ${Math.round(kernel.ms / 1000)} s`);
  image = kernel.image;
  const inspect = await podman(['image', 'inspect', image]);
  t.equal(inspect.code, 0, `podman image inspect: ${inspect.stderr}`);
  const config = (
    JSON.parse(inspect.stdout) as Array<{ Config: { User: string; Entrypoint: string[]; Cmd?: string[] | null; Env: string[] } }>
  )[0]!.Config;
  t.same(config.Entrypoint, ENTRYPOINT, "tini runs the recipe's entrypoint script");
  t.same(config.Cmd ?? [], [], "no arguments for the launcher from the base image's CMD");
  t.equal(config.User, '1000:100', 'non-root, as the pod requires');
  t.ok(config.Env.includes('GATEWAY_LAUNCHER=/opt/gateway-launcher/gateway-launcher.mjs'), 'the bundle is where the entrypoint looks');
});

t.test(
  'a pod-like container: the host listener gets the response; a cell runs, is interrupted, and shutdown ends the container with 0',
  async (t) => {
    if (image === '') return t.fail('no image was built');
    const listener = await ResponseListener.start({ host: '127.0.0.1', port: 0, logger: createLogger({ level: 'silent' }) });
    t.teardown(() => listener.close());
    const kernelId = `ctr-${process.pid}`;
    const { name, run, response } = await startKernelContainer(t, listener, kernelId);
    t.equal(response.protocol, 2, 'a protocol v2 response');
    t.equal(response.connectionInfo.ip, '127.0.0.1', 'the address the launcher was told to report');

    const probe =
      'import os\nprint(os.getuid(), os.environ.get("KERNEL_LAUNCH_TOKEN"), os.environ["KERNEL_ID"], open("/proc/1/cmdline").read().split("\\0")[0], os.access("/opt", os.W_OK))';
    const seen = await kernelClient(response.connectionInfo, 'execute', probe).result;
    t.equal(seen.status, 'ok', 'the host client executes a cell in the container');
    t.equal(
      seen.stdout,
      `1000 None ${kernelId} /usr/bin/tini False\n`,
      'uid 1000, the pod env without the token, tini as PID 1, read-only root',
    );

    const cell = kernelClient(response.connectionInfo, 'execute_async', 'import time\nprint("sleeping", flush=True)\ntime.sleep(600)');
    // Interrupt once the cell announces that it runs (a SIGINT before that would hit an idle kernel).
    await new Promise<void>((resolve, reject) => {
      let out = '';
      cell.child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('"stream": "sleeping')) resolve();
      });
      cell.child.once('exit', () => reject(new Error(`the cell ended before it ran: ${out}`)));
    });
    const intr = await listener.control(kernelId).interrupt();
    t.ok(intr.ok, `interrupt acknowledged${intr.ok ? '' : `: ${String(intr.error)}`}`);
    t.equal((await cell.result).ename, 'KeyboardInterrupt', 'the sleeping cell ended with KeyboardInterrupt');
    t.equal(
      (await kernelClient(response.connectionInfo, 'execute', '6 * 7').result).result,
      '42',
      'the kernel goes on after the interrupt',
    );

    const down = await listener.control(kernelId).shutdown();
    t.ok(down.ok, `shutdown acknowledged${down.ok ? '' : `: ${String(down.error)}`}`);
    const exit = await run.exited;
    t.equal(exit.code, 0, `podman run ends with the kernel status: 0${exit.code === 0 ? '' : `\n${run.output().slice(-3000)}`}`);
    t.equal((await podman(['container', 'exists', name])).code, 1, 'the container is gone (--rm)');
  },
);

t.test("podman stop (the kubelet's SIGTERM to PID 1) reaches the launcher through tini, which stops the kernel gracefully", async (t) => {
  if (image === '') return t.fail('no image was built');
  const listener = await ResponseListener.start({ host: '127.0.0.1', port: 0, logger: createLogger({ level: 'silent' }) });
  t.teardown(() => listener.close());
  const kernelId = `ctr-stop-${process.pid}`;
  const { name, run, response } = await startKernelContainer(t, listener, kernelId);
  t.equal((await kernelClient(response.connectionInfo, 'execute', '1 + 1').result).result, '2', 'the kernel in the container answers');
  // podman's SIGKILL comes only after the launcher's worst case (three graces of 30 s).
  const stop = await podman(['stop', '--time', '120', name]);
  t.equal(stop.code, 0, `podman stop succeeds ${stop.stderr}`);
  const exit = await run.exited;
  t.equal(exit.code, 0, 'the container ends 0 after a graceful stop');
  t.ok(
    run.logs.some((l) => l.event === 'signal' && l.signal === 'SIGTERM'),
    'the launcher itself received SIGTERM',
  );
  t.ok(
    run.logs.some((l) => l.event === 'kernel_exited'),
    'and logged the kernel exit',
  );
});
