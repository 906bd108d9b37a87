import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  generateKeyPair,
  generateV1KeyPair,
  isFailureResponse,
  openV1,
  toBase64,
  validateConnectionInfo,
  type ResponseSuccess,
  type ConnectionInfo,
} from '@gateway-launchers/common';
import { parseArgs } from '../../packages/launcher/src/cli-args.js';
import { buildConfig } from '../../packages/launcher/src/config.js';
import { Receiver, startV1Receiver } from '../../packages/launcher/test/helpers/receiver.js';
import { controlText, groupAlive, kernelClient, sendComm, replyOf } from '../../packages/launcher/test/helpers/launcher-process.js';
import { PYTHON, ROOT, hostEnv, installBundle, renderKernelspecs, startProcess, type KernelSpec } from './helpers/deploy.js';

const ALL = ['container_python', 'gp_python', 'local_python', 'ssh_python', 'yarn_python', 'yarn_r'];
const GP_PLACEHOLDERS = ['{kernel_id}', '{port_range}', '{public_key}', '{response_address}'];
const SAMPLE = {
  node: '/usr/local/bin/node',
  python: '/opt/conda/bin/python',
  'spark-home': '/opt/spark',
  rscript: '/opt/conda/bin/Rscript',
  'ssh-hosts': 'node1 node2',
};

/** The flags each kernelspec hands gateway-launcher (after the launcher or the recipe script that passes them on). */
function launcherFlags(name: string, spec: KernelSpec): string[] {
  if (name === 'local_python' || name === 'gp_python') return spec.argv.slice(2);
  return spec.argv.slice(1); // run.sh, launch-over-ssh.sh, entrypoint.sh pass their arguments on
}

/** Fills Gateway Provisioners' runtime placeholders as its provisioners do (str.format-style keys). */
function gpFormat(argv: readonly string[], values: Record<string, string>): string[] {
  return argv.map((a) => a.replace(/\{([a-z_]+)\}/g, (m, k: string) => values[k] ?? m));
}

t.test('every kernelspec renders to a kernel.json with no install-time placeholder left', async (t) => {
  t.same(
    readdirSync(join(ROOT, 'deploy/kernelspecs'), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort(),
    ALL,
    'the shipped set',
  );
  const specs = renderKernelspecs('/opt/gateway-launcher', SAMPLE, [], join(ROOT, 'deploy/kernelspecs/install.mjs'));
  t.same(Object.keys(specs).sort(), ALL);
  for (const [name, spec] of Object.entries(specs)) {
    const text = JSON.stringify(spec);
    t.notMatch(text, /\$\{/, `${name}: all install-time placeholders filled`);
    t.ok(spec.display_name.length > 0 && spec.language.length > 0 && spec.argv.length > 0, `${name}: display_name, language, argv`);
    t.equal(spec.interrupt_mode, 'signal', `${name}: interrupts go through the launcher as a signal`);
    t.notMatch(text, /\{connection_file\}/, `${name}: no {connection_file} (the host's client would fill it with its own path)`);
    const runtime = [...new Set(text.match(/\{[a-z_]+\}/g) ?? [])].sort();
    t.same(runtime, name === 'gp_python' ? GP_PLACEHOLDERS : [], `${name}: runtime placeholders`);
    t.match(
      spec.argv[0],
      name === 'local_python' || name === 'gp_python' ? /^\/usr\/local\/bin\/node$/ : /^\/opt\/gateway-launcher\//,
      `${name}: argv[0] from the install`,
    );
  }
  t.equal(specs.yarn_python!.env!.SPARK_HOME, '/opt/spark');
  t.equal(specs.ssh_python!.env!.GATEWAY_SSH_HOSTS, 'node1 node2');
});

t.test("every kernelspec's launcher flags pass the launcher's own validation with sample launch values", async (t) => {
  const specs = renderKernelspecs('/opt/gateway-launcher', SAMPLE, [], join(ROOT, 'deploy/kernelspecs/install.mjs'));
  const v2Key = toBase64(generateKeyPair().publicKey);
  const rsa = await generateV1KeyPair(1024);
  const v2Env = {
    KERNEL_ID: 'k-1',
    KERNEL_RESPONSE_ADDRESS: '10.0.0.5:8877',
    KERNEL_PUBLIC_KEY: v2Key,
    KERNEL_PORT_RANGE: '40000..41000',
    KERNEL_LAUNCH_TOKEN: 'tok',
  };
  const expected: Record<string, { language: string; protocol: number; sparkInitMode: string; clusterType: string }> = {
    container_python: { language: 'python', protocol: 2, sparkInitMode: 'none', clusterType: 'spark' },
    gp_python: { language: 'python', protocol: 1, sparkInitMode: 'none', clusterType: 'spark' },
    local_python: { language: 'python', protocol: 2, sparkInitMode: 'none', clusterType: 'spark' },
    ssh_python: { language: 'python', protocol: 2, sparkInitMode: 'none', clusterType: 'spark' },
    yarn_python: { language: 'python', protocol: 2, sparkInitMode: 'lazy', clusterType: 'spark' },
    yarn_r: { language: 'r', protocol: 2, sparkInitMode: 'lazy', clusterType: 'none' },
  };
  for (const [name, spec] of Object.entries(specs)) {
    let flags = launcherFlags(name, spec);
    let env: Record<string, string> = { ...v2Env, ...(spec.env ?? {}) };
    if (name === 'gp_python') {
      flags = gpFormat(flags, {
        kernel_id: 'k-1',
        port_range: '40000..41000',
        response_address: '10.0.0.5:8877',
        public_key: rsa.publicKeyBase64,
      });
      env = { ...(spec.env ?? {}) };
    }
    if (name === 'container_python') env.KERNEL_LANGUAGE = 'python'; // the image's ENV
    const parsed = await parseArgs(flags, env);
    if (parsed.kind !== 'run') {
      t.fail(`${name}: parsed as ${parsed.kind}`);
      continue;
    }
    const config = buildConfig(parsed.options, parsed.kernelArgv, env);
    t.match(
      {
        language: config.kernelLanguage,
        protocol: config.listener.protocol,
        sparkInitMode: config.sparkInitMode,
        clusterType: config.clusterType,
      },
      expected[name]!,
      `${name}: ${JSON.stringify(expected[name])}`,
    );
    if (config.sparkInitMode !== 'none')
      t.ok(
        config.kernelArgv.some((a) => a.includes('gateway-launcher start-up hook')),
        `${name}: the kernel gets the start-up hook`,
      );
  }
});

t.test('install.mjs names what is wrong: no --dest, an unknown kernelspec', async (t) => {
  const installer = join(ROOT, 'deploy/kernelspecs/install.mjs');
  const noDest = spawnSync(process.execPath, [installer], { encoding: 'utf8' });
  t.equal(noDest.status, 2);
  t.match(noDest.stderr, /--dest DIR is required/);
  const dest = mkdtempSync(join(tmpdir(), 'gl-kernels-'));
  t.teardown(() => rmSync(dest, { recursive: true, force: true }));
  const unknown = spawnSync(process.execPath, [installer, '--dest', dest, 'nope'], { encoding: 'utf8' });
  t.equal(unknown.status, 2);
  t.match(unknown.stderr, /no kernelspec 'nope' \(have: container_python, gp_python/);
});

t.test('the local kernelspec, started as a host starts it, runs a real kernel', async (t) => {
  const { home, cleanup } = installBundle();
  t.teardown(cleanup);
  const spec = renderKernelspecs(home, { python: PYTHON, node: process.execPath }, ['local_python']).local_python!;
  const receiver = await Receiver.start();
  t.teardown(() => receiver.close());
  const run = startProcess(
    spec.argv,
    hostEnv(spec, {
      KERNEL_ID: 'k-local',
      KERNEL_RESPONSE_ADDRESS: receiver.address,
      KERNEL_PUBLIC_KEY: receiver.publicKey,
      KERNEL_PORT_RANGE: '0..0',
      KERNEL_LAUNCH_TOKEN: receiver.token,
    }),
  );
  t.teardown(() => run.stop());
  const { plaintext, epk } = await receiver.next();
  t.notOk(isFailureResponse(plaintext));
  const r = plaintext as ResponseSuccess;
  t.equal(r.conn_info.ip, '127.0.0.1', 'KERNEL_IP from the kernelspec: loopback only');
  const out = await kernelClient(r.conn_info, 'execute', '2**10').result;
  t.equal(out.result, '1024');
  t.same(
    replyOf(
      await sendComm(r.comm_port, controlText('k-local', { shutdown: true }, epk, receiver.keys.secretKey)),
      epk,
      receiver.keys.secretKey,
    ),
    { ok: true },
  );
  t.equal((await run.exited).code, 0);
  t.notOk(groupAlive(r.pid));
});

t.test("the Gateway Provisioners kernelspec, with GP's placeholders filled, answers a GP-style response manager in v1", async (t) => {
  const { home, cleanup } = installBundle();
  t.teardown(cleanup);
  const spec = renderKernelspecs(home, { python: PYTHON, node: process.execPath }, ['gp_python']).gp_python!;
  const keys = await generateV1KeyPair(1024);
  const v1 = await startV1Receiver();
  t.teardown(v1.close);
  const { port, payload } = v1;
  const argv = gpFormat(spec.argv, {
    kernel_id: 'k-gp',
    port_range: '51000..52000',
    response_address: `127.0.0.1:${port}`,
    public_key: keys.publicKeyBase64,
  });
  const run = startProcess(argv, hostEnv(spec, {}));
  t.teardown(() => run.stop());
  const opened = openV1(await payload, keys);
  t.ok(opened.ok, 'GP-format payload');
  if (!opened.ok) return;
  const v = opened.value as Record<string, unknown>;
  t.equal(v.kernel_id, 'k-gp');
  const info = validateConnectionInfo(v, { extraPorts: { comm_port: v.comm_port as number } });
  t.ok(info.ok, 'connection info passes validation');
  const conn = (info.ok ? info.value : {}) as ConnectionInfo;
  const out = await kernelClient({ ...conn, ip: '127.0.0.1' }, 'execute', 'print("gp")').result;
  t.equal(out.stdout, 'gp\n');
  await sendComm(v.comm_port as number, '{"shutdown": 1}', '127.0.0.1', { newline: false });
  t.equal((await run.exited).code, 0, "GP's shutdown request ends kernel and launcher");
  t.notOk(groupAlive(v.pid as number));
});
