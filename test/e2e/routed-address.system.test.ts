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
import { createLogger } from '@gateway-launchers/common';
import { ResponseListener } from '@gateway-launchers/listener';
import { LAUNCHER_CLI, PYTHON, kernelClient } from '../../packages/launcher/test/helpers/launcher-process.js';
import { nonLoopbackIPv4s, reportedAddress } from '@gateway-launchers/common/local-address';
import { TestNamespace, freeLinkLocalOctets, ip, linkTag, netnsSkipReason } from './helpers/netns.js';

const RANGE = '43000..44000';

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

const skipReason = netnsSkipReason();

if (skipReason !== undefined) {
  t.test('two-interface namespace', { skip: skipReason }, async () => {});
} else {
  twoInterfaces();
}

function twoInterfaces(): void {
  const tag = linkTag(3);
  const ns = new TestNamespace('gl-route');
  const NS = ns.name;
  const pairs = ['a', 'b'].map((x) => ({ host: `glr${x}h${tag}`, ns: `glr${x}n${tag}` })); // ≤ 15 chars
  const [A, B] = freeLinkLocalOctets(2).map((o) => ({ hostIp: `169.254.${o}.1`, nsIp: `169.254.${o}.2` })) as [
    { hostIp: string; nsIp: string },
    { hostIp: string; nsIp: string },
  ];

  t.before(() => {
    ns.create();
    for (const [i, p] of pairs.entries()) {
      const a = i === 0 ? A : B;
      ns.addVethPair(p.host, p.ns, a.hostIp, a.nsIp);
    }
  });
  t.teardown(() => ns.unguard());

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
    const child = ns.spawn(
      [process.execPath, LAUNCHER_CLI, ...reg.argv, '--kernel-language', 'python', '--python', PYTHON, '--shutdown-grace', '5'],
      { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info', ...reg.env, ...env },
      ['ignore', 'ignore', 'pipe'],
    );
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
