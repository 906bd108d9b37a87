import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { isFailureResponse, type ResponseSuccess } from '@gateway-launchers/common';
import { Receiver } from '../../packages/launcher/test/helpers/receiver.js';
import { PATIENT_LAUNCHER_ENV, groupAlive, kernelClient } from '../../packages/launcher/test/helpers/launcher-process.js';
import { PYTHON, ROOT, installBundle, renderKernelspecs, startProcess } from './helpers/deploy.js';
import { POD_TEMPLATE, containerEnv, renderPod, type K8sObject } from './helpers/pod.js';

const DOCKERFILE = join(ROOT, 'deploy/container/Dockerfile');
const RANGE = '48000..49000';
const DOCUMENTED = [
  'KERNEL_ID',
  'KERNEL_IMAGE',
  'KERNEL_LAUNCH_TOKEN',
  'KERNEL_NAMESPACE',
  'KERNEL_PORT_RANGE',
  'KERNEL_PUBLIC_KEY',
  'KERNEL_RESPONSE_ADDRESS',
];

t.test('kernel-pod.yaml is a Secret holding the token and a Pod whose container gets the documented KERNEL_* env', async (t) => {
  const template = readFileSync(POD_TEMPLATE, 'utf8');
  const used = [...new Set([...template.matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1]))].sort();
  t.same(used, DOCUMENTED, 'the template uses exactly the documented placeholders');
  for (const p of DOCUMENTED) t.match(template, new RegExp(`^#\\s+\\$\\{${p}\\}`, 'm'), `${p} is explained in the header`);
  t.equal(parseAllDocuments(template).filter((d) => d.errors.length === 0).length, 2, 'the unrendered template is valid YAML too');

  const sample = {
    KERNEL_ID: 'k-0a1b',
    KERNEL_NAMESPACE: 'kernels',
    KERNEL_IMAGE: 'registry/gateway-kernel-python:1',
    KERNEL_RESPONSE_ADDRESS: '10.0.0.5:8877',
    KERNEL_PUBLIC_KEY: 'a+b/c==',
    KERNEL_PORT_RANGE: '40000..41000',
    KERNEL_LAUNCH_TOKEN: 'tok"en\\',
  };
  const objects = renderPod(sample);
  t.same(
    objects.map((o) => o.kind),
    ['Secret', 'Pod'],
    'the Secret comes first, so it exists when the pod starts',
  );
  const [secret, pod] = objects as [K8sObject, K8sObject];
  t.equal(secret.stringData?.token, sample.KERNEL_LAUNCH_TOKEN, 'the token, even with quotes and backslashes, survives rendering');
  t.equal(pod.spec!.restartPolicy, 'Never');
  t.equal(pod.metadata.labels.kernel_id, 'k-0a1b');
  t.equal(pod.metadata.namespace, 'kernels');
  const container = pod.spec!.containers[0]!;
  t.equal(container.image, sample.KERNEL_IMAGE);
  const token = container.env.find((e) => e.name === 'KERNEL_LAUNCH_TOKEN')!;
  t.notOk('value' in token, 'the token is never a plain value in the pod spec');
  t.same(token.valueFrom?.secretKeyRef, { name: secret.metadata.name, key: 'token' }, 'it comes from the Secret of the same manifest');
  t.same(containerEnv(objects), {
    KERNEL_ID: 'k-0a1b',
    KERNEL_RESPONSE_ADDRESS: '10.0.0.5:8877',
    KERNEL_PUBLIC_KEY: 'a+b/c==',
    KERNEL_PORT_RANGE: '40000..41000',
    KERNEL_LAUNCH_TOKEN: sample.KERNEL_LAUNCH_TOKEN,
  });
  t.ok(
    container.securityContext.readOnlyRootFilesystem && container.volumeMounts.some((m) => m.mountPath === '/tmp'),
    'read-only root with a writable /tmp for the connection file',
  );
});

t.test('the Dockerfile ships the bundle and makes the entrypoint script the ENTRYPOINT the kernelspec names', async (t) => {
  const text = readFileSync(DOCKERFILE, 'utf8');
  t.match(text, /^COPY bundle\/ \/opt\/gateway-launcher\/$/m, 'the bundle directory goes to /opt/gateway-launcher');
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(text);
  t.ok(entrypoint, 'exec-form ENTRYPOINT');
  const argv = JSON.parse(entrypoint![1]!) as string[];
  t.equal(argv.at(-1), '/opt/gateway-launcher/container/entrypoint.sh');
  t.match(text, /GATEWAY_LAUNCHER=\/opt\/gateway-launcher\/gateway-launcher\.mjs/);
  t.match(text, /pip install --no-cache-dir ipykernel/);
  const instructions = text
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');
  t.notMatch(instructions, /npm (install|ci)/, 'no npm install in the image');
  const spec = renderKernelspecs(
    '/opt/gateway-launcher',
    {},
    ['container_python'],
    join(ROOT, 'deploy/kernelspecs/install.mjs'),
  ).container_python!;
  t.same(spec.argv, [argv.at(-1)], "the container kernelspec's argv is the image's entrypoint");
});

t.test('the entrypoint, given the pod environment, starts a real ipykernel, reports it, and stops it on SIGTERM', async (t) => {
  const { home, cleanup } = installBundle();
  t.teardown(cleanup);
  const receiver = await Receiver.start(RANGE);
  t.teardown(() => receiver.close());
  const objects = renderPod({
    KERNEL_ID: 'k-pod',
    KERNEL_NAMESPACE: 'kernels',
    KERNEL_IMAGE: 'gateway-kernel-python',
    KERNEL_RESPONSE_ADDRESS: receiver.address,
    KERNEL_PUBLIC_KEY: receiver.publicKey,
    KERNEL_PORT_RANGE: RANGE,
    KERNEL_LAUNCH_TOKEN: receiver.token,
  });
  // The image's ENV (Dockerfile), then the pod's env; nothing else of ours.
  const imageEnv = {
    PATH: `${process.execPath.replace(/\/node$/, '')}:/usr/bin:/bin`,
    HOME: process.env.HOME!,
    KERNEL_LANGUAGE: 'python',
    KERNEL_PYTHON: PYTHON,
    GATEWAY_LAUNCHER: join(home, 'gateway-launcher.mjs'),
  };
  const run = startProcess([join(home, 'container/entrypoint.sh')], {
    ...imageEnv,
    ...PATIENT_LAUNCHER_ENV,
    ...containerEnv(objects),
    LOG_LEVEL: 'debug',
  });
  t.teardown(() => run.stop());
  const { plaintext } = await receiver.next();
  t.notOk(isFailureResponse(plaintext), 'success response');
  const r = plaintext as ResponseSuccess;
  const out = await kernelClient(
    { ...r.conn_info, ip: '127.0.0.1' },
    'execute',
    'import os; print(os.environ.get("KERNEL_LAUNCH_TOKEN"), os.environ["KERNEL_ID"])',
  ).result;
  t.equal(out.stdout, 'None k-pod\n', 'the kernel runs with the pod env, minus the launch token');
  t.equal(run.logs.find((l) => l.event === 'kernel_spawned')?.argv0, PYTHON, 'KERNEL_PYTHON from the image chose the interpreter');
  // The kubelet stops a pod with SIGTERM to PID 1: the entrypoint exec'ed node, so the launcher gets it.
  run.child.kill('SIGTERM');
  const exit = await run.exited;
  t.equal(exit.code, 0, 'the container ends with the kernel status after a graceful stop');
  t.notOk(groupAlive(r.pid), 'kernel process group gone');
  t.ok(
    run.logs.some((l) => l.event === 'signal' && l.signal === 'SIGTERM'),
    'the launcher itself received SIGTERM',
  );
});

t.test(
  "the entrypoint accepts Gateway Provisioners' and Enterprise Gateway's variable names and passes its arguments on unchanged",
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gl-entry-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    // A stand-in launcher that prints what it was given.
    const probe = join(dir, 'probe.mjs');
    writeFileSync(
      probe,
      'const e = process.env; console.log(JSON.stringify({ argv: process.argv.slice(2), env: { KERNEL_RESPONSE_ADDRESS: e.KERNEL_RESPONSE_ADDRESS, KERNEL_PUBLIC_KEY: e.KERNEL_PUBLIC_KEY, KERNEL_PORT_RANGE: e.KERNEL_PORT_RANGE, KERNEL_LANGUAGE: e.KERNEL_LANGUAGE } }));\n',
    );
    const entry = join(ROOT, 'deploy/container/entrypoint.sh');
    const r = spawnSync(entry, ['--log-level', 'warn', '--', 'extra'], {
      env: {
        PATH: '/usr/bin:/bin',
        GATEWAY_LAUNCHER: probe,
        GATEWAY_LAUNCHER_NODE: process.execPath,
        RESPONSE_ADDRESS: '10.1.1.1:8877',
        PUBLIC_KEY: 'cGs=',
        PORT_RANGE: '40000..41000',
        KERNEL_LANGUAGE: 'Python',
        KERNEL_SPARK_CONTEXT_INIT_MODE: 'lazy',
        KERNEL_CLUSTER_TYPE: 'spark',
        KERNEL_CLASS_NAME: 'my.Kernel',
      },
      encoding: 'utf8',
    });
    t.equal(r.status, 0, r.stderr);
    const seen = JSON.parse(r.stdout) as { argv: string[]; env: Record<string, string> };
    t.same(seen.env, {
      KERNEL_RESPONSE_ADDRESS: '10.1.1.1:8877',
      KERNEL_PUBLIC_KEY: 'cGs=',
      KERNEL_PORT_RANGE: '40000..41000',
      KERNEL_LANGUAGE: 'python',
    });
    t.same(
      seen.argv,
      ['--log-level', 'warn', '--', 'extra'],
      'container arguments as given (the launcher reads KERNEL_SPARK_CONTEXT_INIT_MODE and the others itself)',
    );
    const eg = spawnSync(entry, [], {
      env: {
        PATH: '/usr/bin:/bin',
        GATEWAY_LAUNCHER: probe,
        GATEWAY_LAUNCHER_NODE: process.execPath,
        EG_RESPONSE_ADDRESS: '10.3.3.3:8877',
        EG_PUBLIC_KEY: 'ZWc=',
        EG_PORT_RANGE: '42000..43000',
      },
      encoding: 'utf8',
    });
    t.same(
      (JSON.parse(eg.stdout) as { env: Record<string, string> }).env,
      { KERNEL_RESPONSE_ADDRESS: '10.3.3.3:8877', KERNEL_PUBLIC_KEY: 'ZWc=', KERNEL_PORT_RANGE: '42000..43000', KERNEL_LANGUAGE: 'python' },
      "EG_* names, as GP's bootstrap-kernel.sh falls back to them",
    );
    const explicit = spawnSync(entry, [], {
      env: {
        PATH: '/usr/bin:/bin',
        GATEWAY_LAUNCHER: probe,
        GATEWAY_LAUNCHER_NODE: process.execPath,
        RESPONSE_ADDRESS: 'ignored:1',
        KERNEL_RESPONSE_ADDRESS: '10.2.2.2:9',
      },
      encoding: 'utf8',
    });
    t.equal(
      (JSON.parse(explicit.stdout) as { env: Record<string, string> }).env.KERNEL_RESPONSE_ADDRESS,
      '10.2.2.2:9',
      'KERNEL_RESPONSE_ADDRESS wins over the GP name',
    );
    const missing = spawnSync(entry, [], { env: { PATH: '/usr/bin:/bin', GATEWAY_LAUNCHER: join(dir, 'absent.mjs') }, encoding: 'utf8' });
    t.equal(missing.status, 2, 'a missing bundle is a usage error');
    t.match(missing.stderr, /no launcher bundle at .*absent\.mjs/);
    t.notOk(existsSync(join(dir, 'absent.mjs')));
  },
);

t.test('the pod ends with the kernel status even when nothing is listening (failure path through the entrypoint)', async (t) => {
  const { home, cleanup } = installBundle();
  t.teardown(cleanup);
  const receiver = await Receiver.start(RANGE);
  t.teardown(() => receiver.close());
  const run = startProcess([join(home, 'container/entrypoint.sh')], {
    PATH: `${process.execPath.replace(/\/node$/, '')}:/usr/bin:/bin`,
    GATEWAY_LAUNCHER: join(home, 'gateway-launcher.mjs'),
    KERNEL_ID: 'k-pod-fail',
    KERNEL_RESPONSE_ADDRESS: receiver.address,
    KERNEL_PUBLIC_KEY: receiver.publicKey,
    KERNEL_PORT_RANGE: RANGE,
    KERNEL_LAUNCH_TOKEN: receiver.token,
    KERNEL_PYTHON: join(home, 'no-such-python'),
  });
  const { plaintext } = await receiver.next();
  t.ok(isFailureResponse(plaintext), 'a failure response reaches the host');
  const exit = await run.exited;
  t.not(exit.code, 0, 'and the container exits non-zero');
});
