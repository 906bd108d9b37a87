import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFailureResponse, type ResponseSuccess } from '@gateway-launchers/common';
import { Receiver } from '../../packages/launcher/test/helpers/receiver.js';
import { GENEROUS_MS, groupAlive, kernelClient, waitFor } from '../../packages/launcher/test/helpers/launcher-process.js';
import { PYTHON, anyCommandLineContains, hostEnv, installBundle, renderKernelspecs, startProcess } from './helpers/deploy.js';

const SSHD = '/usr/sbin/sshd';
const RANGE = '50000..51000';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A real sshd on 127.0.0.1 that accepts one generated key for the current user. */
async function startSshd(t: Test): Promise<{ port: number; key: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'gl-sshd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const k of ['host_key', 'client_key']) spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, k)]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_key.pub')), { mode: 0o600 });
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation directory
  // A port free a moment ago can be taken before sshd binds it (other tests, other suites on the machine): try another.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const started = await startSshdOn(t, dir, port);
    if (started.ok) return { port, key: join(dir, 'client_key') };
    if (attempt === 5 || !/Address already in use|Cannot bind/.test(started.log)) throw new Error(`sshd did not start: ${started.log}`);
  }
}

async function startSshdOn(t: Test, dir: string, port: number): Promise<{ ok: boolean; log: string }> {
  const config = [
    `ListenAddress 127.0.0.1`,
    `Port ${port}`,
    `HostKey ${join(dir, 'host_key')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'StrictModes no',
    'UsePAM no',
    `PidFile ${join(dir, 'sshd.pid')}`,
  ];
  writeFileSync(join(dir, 'sshd_config'), `${config.join('\n')}\n`);
  const sshd = spawn(SSHD, ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  sshd.stderr!.on('data', (c: Buffer) => (log += c.toString()));
  t.teardown(() => sshd.kill('SIGTERM'));
  const listening = await waitFor(() => /Server listening/.test(log) || sshd.exitCode !== null, GENEROUS_MS);
  if (!listening || sshd.exitCode !== null) {
    sshd.kill('SIGTERM');
    return { ok: false, log };
  }
  return { ok: true, log };
}

t.test(
  'ssh kernelspec: the kernel runs on the remote host, the token never on a command line, and dies with the session',
  { skip: existsSync(SSHD) && process.getuid?.() === 0 ? false : 'needs openssh-server and root (a throwaway sshd on 127.0.0.1)' },
  async (t) => {
    const { home, cleanup } = installBundle();
    t.teardown(cleanup);
    const { port, key } = await startSshd(t);
    const spec = renderKernelspecs(home, { python: PYTHON, node: process.execPath, 'ssh-hosts': 'nobody@192.0.2.1 127.0.0.1' }, [
      'ssh_python',
    ]).ssh_python!;
    const receiver = await Receiver.start(RANGE);
    t.teardown(() => receiver.close());
    // With two hosts, the kernel id chooses; this id picks 127.0.0.1 (the other one is unroutable).
    const cksum = (id: string): number =>
      Number(spawnSync('sh', ['-c', `printf '%s' '${id}' | cksum | cut -d' ' -f1`], { encoding: 'utf8' }).stdout.trim());
    let i = 0;
    while (cksum(`k-ssh-${i}`) % 2 !== 1) i++;
    const kernelId = `k-ssh-${i}`;
    const launch = {
      KERNEL_ID: kernelId,
      KERNEL_RESPONSE_ADDRESS: receiver.address,
      KERNEL_PUBLIC_KEY: receiver.publicKey,
      KERNEL_PORT_RANGE: RANGE,
      KERNEL_LAUNCH_TOKEN: receiver.token,
      KERNEL_USERNAME: "o'brien",
    };
    const sshOpts = `-p ${port} -i ${key} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR`;
    const run = startProcess(spec.argv, hostEnv(spec, launch, { GATEWAY_SSH_OPTS: sshOpts }));
    t.teardown(() => run.stop());

    const { plaintext } = await receiver.next();
    t.notOk(isFailureResponse(plaintext), `success response: ${run.output().slice(-1500)}`);
    const r = plaintext as ResponseSuccess;
    t.notOk(
      anyCommandLineContains(receiver.token),
      'the launch token is on no command line of any process (ssh, remote shell, launcher, kernel)',
    );
    const out = await kernelClient(
      { ...r.conn_info, ip: '127.0.0.1' },
      'execute',
      'import os; print(os.environ.get("KERNEL_LAUNCH_TOKEN"), os.environ["KERNEL_USERNAME"], os.getppid() != 1)',
    ).result;
    t.equal(out.stdout, "None o'brien True\n", 'KERNEL_* (quotes and all) reached the remote side; the token stopped at the launcher');
    t.ok(
      run.logs.some((l) => l.event === 'response_acked'),
      "the remote launcher's logs come back on the ssh session",
    );

    // The host side goes away (host killed the kernelspec process, or the connection dropped).
    run.child.kill('SIGTERM');
    await run.exited;
    t.ok(await waitFor(() => !groupAlive(r.pid), GENEROUS_MS), 'the remote launcher saw the session end and stopped the kernel: no orphan');
  },
);

t.test('launch-over-ssh.sh refuses to start without hosts', async (t) => {
  const { home, cleanup } = installBundle();
  t.teardown(cleanup);
  const r = spawnSync(join(home, 'ssh/launch-over-ssh.sh'), [], { env: { PATH: process.env.PATH, KERNEL_ID: 'k1' }, encoding: 'utf8' });
  t.equal(r.status, 1);
  t.match(r.stderr, /GATEWAY_SSH_HOSTS names no host/);
});
