/**
 * The address the launcher reports, in a network namespace with two
 * interfaces (two veth pairs to the host, link-local addresses). The listener
 * waits on the host end of the second pair; the launcher runs in the
 * namespace without `--ip`. It must report the namespace address of the
 * interface that routes to the listener (the second), not the first
 * non-loopback address (the first interface), and skip an address that
 * `GP_PROHIBITED_LOCAL_IPS` names.
 *
 * Needs root and `ip`; skipped with a reason otherwise. Everything it creates
 * is removed in teardown, with a process 'exit' handler as a fallback.
 */
import t from 'tap';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { createLogger } from '@gateway-launchers/common';
import { ResponseListener } from '@gateway-launchers/listener';
import { LAUNCHER_CLI, PYTHON, kernelClient } from '../../packages/launcher/test/helpers/launcher-process.js';
import { nonLoopbackIPv4s, reportedAddress } from '@gateway-launchers/common/local-address';

const RANGE = '43000..44000';

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

t.test(
  'on this host: toward loopback the routed address is loopback; a prohibited routed address falls back to an allowed one',
  async (t) => {
    t.equal(await reportedAddress({ host: '127.0.0.1', port: 9 }, []), '127.0.0.1');
    const fallback = nonLoopbackIPv4s()[0] ?? '127.0.0.1';
    t.equal(await reportedAddress({ host: '127.0.0.1', port: 9 }, [/^127\./]), fallback);
    t.equal(await reportedAddress({ host: 'localhost', port: 9 }, [/^127\./]), fallback, 'host names are resolved first');
    t.equal(await reportedAddress({ host: 'localhost', port: 9 }, []), '127.0.0.1');
  },
);

const skipReason =
  process.platform !== 'linux'
    ? 'network namespaces need Linux'
    : process.getuid?.() !== 0
      ? 'needs root to create a network namespace'
      : !which('ip')
        ? '`ip` (iproute2) not found'
        : undefined;

if (skipReason !== undefined) {
  t.test('two-interface namespace', { skip: skipReason }, async () => {});
} else {
  twoInterfaces();
}

function twoInterfaces(): void {
  const tag = `${process.pid.toString(36).slice(-3)}${randomBytes(2).toString('hex')}`;
  const NS = `gl-route-${process.pid}-${randomBytes(3).toString('hex')}`;
  const pairs = ['a', 'b'].map((x) => ({ host: `glr${x}h${tag}`, ns: `glr${x}n${tag}` })); // ≤ 15 chars
  // Two third octets of 169.254.x.0 no address on this host uses yet.
  const used = ip('-4', '-o', 'addr', 'show');
  const octets: number[] = [];
  for (let i = 0; i < 100 && octets.length < 2; i++) {
    const x = randomInt(1, 255);
    if (!used.includes(`169.254.${x}.`) && !octets.includes(x)) octets.push(x);
  }
  const [A, B] = octets.map((o) => ({ hostIp: `169.254.${o}.1`, nsIp: `169.254.${o}.2` })) as [
    { hostIp: string; nsIp: string },
    { hostIp: string; nsIp: string },
  ];
  const children = new Set<ChildProcess>();
  let cleaned = false;

  function cleanup(): void {
    if (cleaned) return;
    cleaned = true;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    try {
      for (const pid of ip('netns', 'pids', NS).split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone
        }
      }
    } catch {
      // no namespace
    }
    spawnSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
    for (const p of pairs) spawnSync('ip', ['link', 'del', p.host], { stdio: 'ignore' });
  }
  process.on('exit', cleanup);
  const onSignal = (sig: NodeJS.Signals): void => {
    cleanup();
    process.kill(process.pid, sig);
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);

  t.before(() => {
    ip('netns', 'add', NS);
    ip('-n', NS, 'link', 'set', 'lo', 'up');
    for (const [i, p] of pairs.entries()) {
      const a = i === 0 ? A : B;
      ip('link', 'add', p.host, 'type', 'veth', 'peer', 'name', p.ns);
      ip('link', 'set', p.ns, 'netns', NS);
      ip('addr', 'add', `${a.hostIp}/30`, 'dev', p.host);
      ip('link', 'set', p.host, 'up');
      ip('-n', NS, 'addr', 'add', `${a.nsIp}/30`, 'dev', p.ns);
      ip('-n', NS, 'link', 'set', p.ns, 'up');
    }
  });
  t.teardown(() => {
    cleanup();
    process.removeListener('exit', cleanup);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
  });

  let listener: ResponseListener;
  t.before(async () => {
    // A launcher that reports another interface than it sends from (the prohibited case below) needs the
    // host's consent: by default the listener accepts only the address a response came from.
    listener = await ResponseListener.start({
      host: B.hostIp,
      port: 0,
      allowedKernelNetworks: [`${A.nsIp}/32`],
      logger: createLogger({ name: 'gateway-listener', level: 'warn' }),
    });
  });
  t.teardown(() => listener?.close());

  async function launchInNs(kernelId: string, env: Record<string, string>) {
    const reg = listener.register(kernelId, { portRange: RANGE, timeoutMs: 120_000 });
    const child = spawn(
      'ip',
      [
        'netns',
        'exec',
        NS,
        process.execPath,
        LAUNCHER_CLI,
        ...reg.argv,
        '--kernel-language',
        'python',
        '--python',
        PYTHON,
        '--shutdown-grace',
        '5',
      ],
      {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info', ...reg.env, ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    children.add(child);
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-20_000)));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      return { response: await reg.response, exited };
    } catch (e) {
      child.kill('SIGKILL');
      throw new Error(`${(e as Error).message}\nlauncher stderr:\n${err.slice(-4000)}`, { cause: e });
    }
  }

  t.test('the namespace has two interfaces, the first one listed first', async (t) => {
    const order = ip('-n', NS, '-4', '-o', 'addr', 'show')
      .split('\n')
      .filter((l) => l.includes('169.254.'))
      .map((l) => l.split(/\s+/)[3]?.split('/')[0]);
    t.same(order, [A.nsIp, B.nsIp], 'so "the first non-loopback IPv4 address" would be the wrong one');
  });

  t.test(
    'the launcher reports the address of the interface that routes to the listener, and the host reaches the kernel there',
    async (t) => {
      const k = await launchInNs(`route-${tag}`, {});
      t.equal(k.response.connectionInfo.ip, B.nsIp, `reported ${B.nsIp} (route toward ${B.hostIp}), not ${A.nsIp}`);
      const out = await kernelClient(k.response.connectionInfo, 'execute', '6*7').result;
      t.equal(out.result, '42', 'a host client runs a cell at the reported address');
      t.match(await listener.control(`route-${tag}`).shutdown(), { ok: true });
      t.equal(await k.exited, 0);
    },
  );

  t.test('GP_PROHIBITED_LOCAL_IPS: a prohibited routed address is not reported; an allowed one is', async (t) => {
    const k = await launchInNs(`route-p-${tag}`, { GP_PROHIBITED_LOCAL_IPS: B.nsIp.replaceAll('.', '\\.') });
    t.equal(k.response.connectionInfo.ip, A.nsIp, `reported ${A.nsIp}: ${B.nsIp} is prohibited`);
    t.match(await listener.control(`route-p-${tag}`).shutdown(), { ok: true });
    t.equal(await k.exited, 0);
  });
}
