/**
 * Cross-host tests: the launcher (and its kernel) run in their own network
 * namespace, as a pod on another host would, joined to the host only by a veth
 * pair with link-local addresses. Inside the namespace an nftables input chain
 * drops everything except inbound TCP to the kernel port range, so only the
 * ports the launcher reports can be reached from the host. The listener and a
 * real jupyter_client run on the host side.
 *
 * Needs root, `ip` and `nft`; skipped with a reason otherwise. Everything it
 * creates (namespace, veth pair, the namespace's nftables ruleset, processes)
 * is removed in teardown, with a process 'exit' handler as a fallback.
 */
import t from 'tap';
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { createLogger, type ConnectionInfo } from '@gateway-launchers/common';
import { ResponseListener, type KernelExitEvent, type LaunchResponse } from '@gateway-launchers/listener';
import {
  CELL_STARTED,
  GENEROUS_MS,
  LAUNCHER_CLI,
  PATIENT_LAUNCHER_ENV,
  PYTHON,
  SLEEPING_CELL,
  type KernelClientRun,
  kernelClient as runKernelClient,
} from '../../packages/launcher/test/helpers/launcher-process.js';
import { TestNamespace, freeLinkLocalOctets, ip, linkTag, netnsSkipReason } from './helpers/netns.js';

/** Firewall opening inside the namespace: inbound TCP only to these ports. */
const FW_LO = 40000;
const FW_HI = 41999;
/** Range for the normal kernels (size ≥ the default MIN_PORT_RANGE_SIZE of 1000). */
const RANGE = `${FW_LO}..${FW_LO + 1000}`;
/** Small range for the partly-taken test, inside the firewall opening. */
const SMALL_LO = 41988;
const SMALL_HI = 41999;
/** Taken inside the namespace before the launcher starts: every other port of the first ten. */
const TAKEN = [41988, 41990, 41992, 41994, 41996];
/** Port outside the opening, used to check that the firewall drops. */
const BLOCKED_PORT = 39999;

const skipReason = netnsSkipReason([{ cmd: 'nft', name: '`nft` (nftables)' }]);

if (skipReason !== undefined) {
  console.log(`# cross-host tests skipped: ${skipReason}`);
  t.plan(0, skipReason);
} else {
  main();
}

function main(): void {
  const tag = linkTag(4);
  const ns = new TestNamespace('gl-test');
  const NS = ns.name;
  const VETH_HOST = `glh${tag}`; // ≤ 15 chars
  const VETH_NS = `gln${tag}`;
  const [octet] = freeLinkLocalOctets(1);
  const HOST_IP = `169.254.${octet}.1`;
  const NS_IP = `169.254.${octet}.2`;

  t.before(() => {
    ns.create();
    ns.addVethPair(VETH_HOST, VETH_NS, HOST_IP, NS_IP);
    const ruleset = `table inet gltest {
  chain input {
    type filter hook input priority 0; policy drop;
    iif lo accept
    ct state established,related accept
    tcp dport ${FW_LO}-${FW_HI} accept
    drop
  }
}
`;
    execFileSync('ip', ['netns', 'exec', NS, 'nft', '-f', '-'], { input: ruleset, stdio: ['pipe', 'ignore', 'pipe'] });
  });

  t.teardown(() => {
    ns.unguard();
    if (ns.exists()) console.error(`# cross-host: namespace ${NS} still present after cleanup`);
  });

  let listener: ResponseListener;
  t.before(async () => {
    // minPortRangeSize 0: the host side must accept the small range of the last test too.
    listener = await ResponseListener.start({
      host: HOST_IP,
      port: 0,
      minPortRangeSize: 0,
      logger: createLogger({ name: 'gateway-listener', level: 'warn' }),
    });
  });
  t.teardown(() => listener?.close());

  interface Launched {
    response: LaunchResponse;
    child: ChildProcess;
    exited: Promise<number | null>;
    stderr: () => string;
  }

  async function launch(
    kernelId: string,
    opts: { transport: 'tcp' | 'ws'; portRange?: string; env?: Record<string, string> },
  ): Promise<Launched> {
    // The registration outlives the launcher's own (raised) launch timeout: a slow start fails on the launcher's side, with its reason.
    const reg = listener.register(kernelId, {
      portRange: opts.portRange ?? RANGE,
      timeoutMs: (Number(PATIENT_LAUNCHER_ENV.KERNEL_LAUNCH_TIMEOUT) + 30) * 1000,
      transport: opts.transport,
    });
    const child = ns.spawn(
      // PATIENT_LAUNCHER_ENV: a kernel that is slow to start or to answer shutdown_request on a loaded
      // machine is given time rather than SIGTERMed (exit 143).
      [process.execPath, LAUNCHER_CLI, ...reg.argv, '--ip', NS_IP, '--kernel-language', 'python', '--python', PYTHON],
      { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'info', ...PATIENT_LAUNCHER_ENV, ...reg.env, ...opts.env },
    );
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-20_000)));
    child.stdout!.resume();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const response = await reg.response;
      return { response, child, exited, stderr: () => err };
    } catch (e) {
      child.kill('SIGKILL');
      throw new Error(`${(e as Error).message}\nlauncher stderr:\n${err.slice(-4000)}`, { cause: e });
    }
  }

  /** Runs fixtures/kernel_client.py on the host against `info`; the child is killed at cleanup if still running. */
  function kernelClient(info: ConnectionInfo, command: string, code: string): KernelClientRun {
    const run = runKernelClient(info, command, code);
    ns.track(run.child);
    return run;
  }

  const kernelPorts = (r: LaunchResponse): number[] => {
    const c = r.connectionInfo;
    return [c.shell_port, c.iopub_port, c.stdin_port, c.control_port, c.hb_port, r.commPort];
  };

  const inRange = (ports: number[], lo: number, hi: number): boolean => ports.every((p) => Number.isInteger(p) && p >= lo && p <= hi);

  function tcpProbe(host: string, port: number, timeoutMs: number): Promise<'open' | 'refused' | 'timeout'> {
    return new Promise((resolve) => {
      const s = connect({ host, port });
      const timer = setTimeout(() => {
        s.destroy();
        resolve('timeout');
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.destroy();
        resolve('open');
      });
      s.once('error', () => {
        clearTimeout(timer);
        resolve('refused');
      });
    });
  }

  t.test('the namespace is isolated: link-local only, no default route, firewall drops outside the range', async (t) => {
    const routes = ip('-n', NS, '-4', 'route', 'show');
    t.notMatch(routes, /default/, 'no default route inside the namespace');
    t.same(routes.trim().split('\n').filter(Boolean).length, 1, `one link route only: ${routes.trim()}`);
    // A listener inside the namespace outside the opened range is not reachable from the host.
    const blocker = ns.spawn(
      [
        PYTHON,
        '-c',
        `import socket,sys,time\ns=socket.socket()\ns.bind(("0.0.0.0",${BLOCKED_PORT}))\ns.listen()\nprint("ready",flush=True)\ntime.sleep(60)`,
      ],
      {
        PATH: process.env.PATH,
      },
    );
    await new Promise<void>((r) => blocker.stdout!.on('data', (c: Buffer) => c.toString().includes('ready') && r()));
    // A dropped SYN is never answered, however long one waits: a slow machine only makes this check weaker.
    t.equal(await tcpProbe(NS_IP, BLOCKED_PORT, 400), 'timeout', 'inbound TCP outside the kernel port range is dropped');
    t.equal(
      await tcpProbe(NS_IP, FW_LO + 1500, GENEROUS_MS),
      'refused',
      'inbound TCP inside the range reaches the namespace (closed port: refused)',
    );
    blocker.kill('SIGKILL');
  });

  t.test('tcp transport: a host jupyter_client executes 1+1 across the boundary; interrupt and shutdown over the comm port', async (t) => {
    const k = await launch(`xh-tcp-${tag}`, { transport: 'tcp' });
    const r = k.response;
    t.equal(r.connectionInfo.ip, NS_IP, 'the reported ip is the namespace side of the pair');
    t.match(r.peer, NS_IP, 'the response came from the namespace');
    const ports = kernelPorts(r);
    t.equal(new Set(ports).size, 6, `six distinct ports: ${ports.join(',')}`);
    t.ok(inRange(ports, FW_LO, FW_LO + 1000), 'all six ports inside the registered range');

    const one = await kernelClient(r.connectionInfo, 'execute', '1+1').result;
    t.equal(one.status, 'ok', 'execute_reply ok');
    t.equal(one.result, '2', 'the host client got 2 from the kernel in the namespace');

    const cell = kernelClient(r.connectionInfo, 'execute_async', SLEEPING_CELL);
    await cell.printed(CELL_STARTED);
    const intr = await listener.control(r.kernelId).interrupt();
    t.ok(intr.ok, `interrupt acknowledged${intr.ok ? '' : `: ${String(intr.error)}`}`);
    if (intr.ok) t.equal(intr.value.route, 'comm-port', 'over the comm port');
    const interrupted = await cell.result;
    t.equal(interrupted.ename, 'KeyboardInterrupt', 'the sleeping cell ended with KeyboardInterrupt');

    const down = await listener.control(r.kernelId).shutdown();
    t.ok(down.ok, `shutdown acknowledged${down.ok ? '' : `: ${String(down.error)}`}`);
    if (down.ok) t.equal(down.value.route, 'comm-port', 'over the comm port');
    t.equal(await k.exited, 0, 'the launcher exited 0');
  });

  t.test('ws transport: interrupt, shutdown and the kernel-exit event over the WebSocket across the boundary', async (t) => {
    const kernelId = `xh-ws-${tag}`;
    const k = await launch(kernelId, { transport: 'ws' });
    const r = k.response;
    t.equal(r.connectionInfo.ip, NS_IP, 'the reported ip is the namespace side of the pair');
    const ports = kernelPorts(r);
    t.equal(new Set(ports).size, 6, 'six distinct ports');
    t.ok(inRange(ports, FW_LO, FW_LO + 1000), `all six ports inside the range: ${ports.join(',')}`);

    const cell = kernelClient(r.connectionInfo, 'execute_async', SLEEPING_CELL);
    await cell.printed(CELL_STARTED);
    const intr = await listener.control(kernelId).interrupt();
    t.ok(intr.ok, `interrupt acknowledged${intr.ok ? '' : `: ${String(intr.error)}`}`);
    if (intr.ok) t.equal(intr.value.route, 'websocket', 'over the WebSocket');
    t.equal((await cell.result).ename, 'KeyboardInterrupt', 'the sleeping cell ended with KeyboardInterrupt');

    const exitEvent = new Promise<KernelExitEvent>((resolve) => {
      const on = (e: KernelExitEvent): void => {
        if (e.kernelId !== kernelId) return;
        listener.off('kernel-exit', on);
        resolve(e);
      };
      listener.on('kernel-exit', on);
    });
    const down = await listener.control(kernelId).shutdown();
    t.ok(down.ok, `shutdown acknowledged${down.ok ? '' : `: ${String(down.error)}`}`);
    if (down.ok) t.equal(down.value.route, 'websocket', 'over the WebSocket');
    const ev = await Promise.race([exitEvent, new Promise<'none'>((res) => setTimeout(() => res('none'), GENEROUS_MS).unref())]);
    t.not(ev, 'none', 'kernel-exit event received');
    t.equal(await k.exited, 0, 'the launcher exited 0');
  });

  t.test('a partly taken small range inside the namespace: the launcher picks the free ports', async (t) => {
    const blocker = ns.spawn(
      [
        PYTHON,
        '-c',
        `import socket,time\nss=[]\nfor p in ${JSON.stringify(TAKEN)}:\n  s=socket.socket()\n  s.bind(("0.0.0.0",p))\n  s.listen()\n  ss.append(s)\nprint("ready",flush=True)\ntime.sleep(120)`,
      ],
      { PATH: process.env.PATH },
    );
    await new Promise<void>((resolve, reject) => {
      blocker.stdout!.on('data', (c: Buffer) => c.toString().includes('ready') && resolve());
      blocker.once('exit', (code) => reject(new Error(`port blocker exited ${String(code)}`)));
    });
    t.teardown(() => void blocker.kill('SIGKILL'));

    const k = await launch(`xh-small-${tag}`, {
      transport: 'tcp',
      portRange: `${SMALL_LO}..${SMALL_HI}`,
      env: { MIN_PORT_RANGE_SIZE: '0' },
    });
    const r = k.response;
    const ports = kernelPorts(r);
    t.equal(new Set(ports).size, 6, `six distinct ports: ${ports.join(',')}`);
    t.ok(inRange(ports, SMALL_LO, SMALL_HI), `inside ${SMALL_LO}..${SMALL_HI}`);
    t.same(
      ports.filter((p) => TAKEN.includes(p)),
      [],
      'none of the taken ports',
    );
    const one = await kernelClient(r.connectionInfo, 'execute', '1+1').result;
    t.equal(one.result, '2', 'the kernel works from the host');
    const down = await listener.control(r.kernelId).shutdown();
    t.ok(down.ok, 'shutdown acknowledged');
    t.equal(await k.exited, 0, 'the launcher exited 0');
  });

  t.test('everything created is removed', async (t) => {
    await listener.close();
    ns.cleanup();
    t.notOk(ns.exists(), `namespace ${NS} is gone`);
    t.not(spawnSync('ip', ['link', 'show', VETH_HOST], { stdio: 'ignore' }).status, 0, `veth ${VETH_HOST} is gone`);
    t.notMatch(ip('-4', '-o', 'addr', 'show'), `${HOST_IP}/`, `${HOST_IP} is no longer assigned`);
  });
}
