/**
 * `npm run bench`, proxy section: gateway-launcher `--mode proxy`.
 *
 * 1. Launch latency in proxy mode: launcher start → connection info resolved at
 *    the host (the response goes out before the kernel starts), and start → the
 *    first kernel_info_reply through the proxy.
 * 2. Relay overhead on ONE kernel behind a proxy-mode launcher: the launcher's
 *    `kernel_spawned` log line gives the kernel's own loopback ports, so the same
 *    kernel is reached directly and through the proxy; kernel_info round trips
 *    alternate in blocks of 50 between the paths; iopub throughput (1 KiB and
 *    1 MiB display_data outputs) alternates likewise; launcher CPU and RSS.
 * 3. Experimental relays (bench/src/bench-relay.ts child processes, and a
 *    pyzmq `zmq.proxy` reference) in front of the same kernel, measured in the
 *    same alternation, to show what a different relay loop would gain.
 *
 * @module
 */
import type { TargetRow } from './bench-rows.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import * as zmq from 'zeromq';
import type { ConnectionInfo } from '@gateway-launchers/common';
import type { ResponseListener } from '@gateway-launchers/listener';
import { KernelClient } from '../../demo/dist/jupyter-client.js';
import { cpuMs, exitOf, f0, spawnBenchLauncher, f1, median, mmm, pct, sleep, withTimeout } from './bench-util.js';

const RT_PER_PATH = Number(process.env.BENCH_PROXY_RT ?? 1000);
const RT_BLOCK = 50;
const TP_REPS = Number(process.env.BENCH_PROXY_REPS ?? 3);
const N_1K = 2000;
const N_1M = 50;
const VARIANTS = (process.env.BENCH_PROXY_VARIANTS ?? 'mirror,loop,nowait,pyzmq').split(',').filter((v) => v !== '');

const DELIMITER = Buffer.from('<IDS|MSG>');
const STATUS = Buffer.from('status');
const DISPLAY = Buffer.from('display_data');

/** Paths to the one kernel: `direct`, `launcher` (the real proxy), and experimental relays. */
interface Path {
  readonly name: string;
  readonly info: ConnectionInfo;
  readonly pid: number | undefined; // relay process, for CPU
  client: KernelClient;
}

interface LaunchRun {
  responseMs: number;
  readyMs: number;
  launcherSpawnedMs: number | undefined;
}

interface Tp {
  msgs: number;
  bytes: number;
  wallMs: number; // execute_request sent → idle status received
  streamMs: number; // first → last display_data received
  cpuMs: number | undefined; // relay process utime+stime over the run
}

export interface ProxyResult {
  readonly launch: LaunchRun[];
  readonly failures: string[];
  readonly paths: string[];
  readonly rtUs: Record<string, number[]>;
  readonly rtCpuMs: Record<string, number>; // relay CPU over all of its round-trip blocks
  readonly tp1k: Record<string, Tp[]>;
  readonly tp1m: Record<string, Tp[]>;
  readonly mem: Array<{ at: string; rssKiB: number; hwmKiB: number }>;
  readonly rtPerPath: number;
}

function memKiB(pid: number): { rssKiB: number; hwmKiB: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rssKiB: Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? NaN), hwmKiB: Number(/VmHWM:\s+(\d+)/.exec(s)?.[1] ?? NaN) };
}

function infoWith(base: ConnectionInfo, ports: readonly number[]): ConnectionInfo {
  const [shell, iopub, stdin, control, hb] = ports as [number, number, number, number, number];
  return { ...base, ip: '127.0.0.1', shell_port: shell, iopub_port: iopub, stdin_port: stdin, control_port: control, hb_port: hb };
}

// ---------------------------------------------------------------- proxy-mode launcher
export interface ProxyLaunch {
  child: ChildProcess;
  kernelId: string;
  t0: number;
  response: Promise<{ info: ConnectionInfo; ms: number }>;
  kernelPorts: Promise<number[]>;
  events: Map<string, number>;
  exited: ReturnType<typeof exitOf>;
}

export function startProxyLauncher(listener: ResponseListener, launcher: string, python: string, tag: string): ProxyLaunch {
  const kernelId = `bench-proxy-${tag}-${randomBytes(3).toString('hex')}`;
  const launch = listener.register(kernelId, { portRange: '0..0', timeoutMs: 30_000 });
  let portsSeen: (p: number[]) => void = () => {};
  const kernelPorts = new Promise<number[]>((r) => (portsSeen = r));
  const { child, exited, events, t0 } = spawnBenchLauncher(
    launcher,
    [...launch.argv, '--kernel-language', 'python', '--python', python, '--mode', 'proxy'],
    launch.env,
    (o) => {
      if (o.event === 'kernel_spawned' && Array.isArray(o.kernel_ports)) portsSeen(o.kernel_ports as number[]);
    },
  );
  const response = launch.response.then((r) => ({ info: r.connectionInfo, ms: performance.now() - t0 }));
  response.catch(() => {});
  return { child, kernelId, t0, response, kernelPorts, events, exited };
}

export async function stopProxyLauncher(listener: ResponseListener, l: ProxyLaunch): Promise<void> {
  try {
    const ack = await withTimeout(listener.control(l.kernelId).shutdown(), 10_000, 'proxy shutdown');
    if (!ack.ok) throw new Error(`shutdown refused: ${ack.error.code}`);
    await withTimeout(l.exited, 15_000, 'proxy launcher exit');
  } catch {
    l.child.kill('SIGTERM');
    await withTimeout(l.exited, 5_000, 'proxy launcher SIGTERM').catch(() => l.child.kill('SIGKILL'));
  }
}

async function launchRun(listener: ResponseListener, launcher: string, python: string, i: number): Promise<LaunchRun> {
  const l = startProxyLauncher(listener, launcher, python, String(i));
  try {
    const r = await withTimeout(l.response, 30_000, 'proxy response');
    const client = new KernelClient(r.info, 20_000, { iopub: false });
    try {
      await withTimeout(client.kernelInfo(), 20_000, 'kernel_info through proxy');
    } finally {
      client.close();
    }
    return { responseMs: r.ms, readyMs: performance.now() - l.t0, launcherSpawnedMs: l.events.get('kernel_spawned') };
  } finally {
    await stopProxyLauncher(listener, l);
  }
}

// ---------------------------------------------------------------- experimental relays
const PYZMQ_RELAY = `
import json, os, sys, threading, zmq
kp = json.loads(sys.argv[1]); ctx = zmq.Context()
kinds = [(zmq.ROUTER, zmq.DEALER), (zmq.XPUB, zmq.XSUB), (zmq.ROUTER, zmq.DEALER), (zmq.ROUTER, zmq.DEALER), (zmq.ROUTER, zmq.DEALER)]
ports = []
for i, (ft, bt) in enumerate(kinds):
    f = ctx.socket(ft); b = ctx.socket(bt)
    for s in (f, b):
        s.linger = 0; s.sndhwm = 100000; s.rcvhwm = 100000
    ports.append(f.bind_to_random_port('tcp://127.0.0.1')); b.connect('tcp://127.0.0.1:%d' % kp[i])
    threading.Thread(target=zmq.proxy, args=(f, b), daemon=True).start()
print(json.dumps({'ports': ports, 'pid': os.getpid()}), flush=True)
sys.stdin.read()
os._exit(0)
`;

async function startRelay(
  variant: string,
  kernelPorts: number[],
  relayJs: string,
  python: string,
): Promise<{ child: ChildProcess; ports: number[]; pid: number }> {
  const child =
    variant === 'pyzmq'
      ? spawn(python, ['-c', PYZMQ_RELAY, JSON.stringify(kernelPorts)], { stdio: ['pipe', 'pipe', 'inherit'] })
      : spawn(process.execPath, [relayJs, variant, JSON.stringify(kernelPorts)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const it = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const first = (await withTimeout(it.next(), 15_000, `relay ${variant} start`)) as IteratorResult<string>;
  const o = JSON.parse(first.value) as { ports: number[]; pid: number };
  return { child, ports: o.ports, pid: o.pid };
}

// ---------------------------------------------------------------- iopub counter
class IopubCounter {
  readonly #sub: zmq.Subscriber;
  msgs = 0;
  bytes = 0;
  any = 0;
  firstAt = 0n;
  lastAt = 0n;
  #idleWaiters = new Map<string, () => void>();
  #idleSeen = new Set<string>();

  constructor(port: number) {
    this.#sub = new zmq.Subscriber({ linger: 0, receiveHighWaterMark: 0 });
    this.#sub.connect(`tcp://127.0.0.1:${port}`);
    this.#sub.subscribe();
    void this.#read();
  }

  async #read(): Promise<void> {
    try {
      for await (const frames of this.#sub) {
        this.any++;
        const topic = frames[0]!;
        if (topic.length >= DISPLAY.length && topic.subarray(topic.length - DISPLAY.length).equals(DISPLAY)) {
          const t = process.hrtime.bigint();
          if (this.msgs === 0) this.firstAt = t;
          this.lastAt = t;
          this.msgs++;
          for (const f of frames) this.bytes += f.length;
        } else if (topic.length >= STATUS.length && topic.subarray(topic.length - STATUS.length).equals(STATUS)) {
          const d = frames.findIndex((f) => f.equals(DELIMITER));
          if (d < 0) continue;
          const parent = JSON.parse(frames[d + 3]!.toString('utf8')) as { msg_id?: string };
          const content = JSON.parse(frames[d + 5]!.toString('utf8')) as { execution_state?: string };
          if (content.execution_state === 'idle' && parent.msg_id !== undefined) {
            this.#idleSeen.add(parent.msg_id);
            this.#idleWaiters.get(parent.msg_id)?.();
          }
        }
      }
    } catch {
      // closed
    }
  }

  reset(): void {
    this.msgs = 0;
    this.bytes = 0;
    this.firstAt = 0n;
    this.lastAt = 0n;
  }

  idle(msgId: string): Promise<void> {
    if (this.#idleSeen.has(msgId)) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.set(msgId, r));
  }

  close(): void {
    this.#sub.close();
  }
}

/** Subscribes to `path`'s iopub and waits until the subscription has reached the kernel (a status message arrives). */
async function subscribed(path: Path): Promise<IopubCounter> {
  const c = new IopubCounter(path.info.iopub_port);
  for (let i = 0; i < 100; i++) {
    const before = c.any;
    await path.client.kernelInfo();
    await sleep(50);
    if (c.any > before) return c;
  }
  c.close();
  throw new Error(`iopub subscription through ${path.name} never took effect`);
}

async function throughput(path: Path, n: number, size: number): Promise<Tp> {
  const c = await subscribed(path);
  try {
    await sleep(20);
    c.reset();
    const code = `from IPython.display import display\ns = 'x' * ${size}\nfor i in range(${n}): display({'text/plain': s}, raw=True)`;
    const cpu0 = path.pid === undefined ? undefined : cpuMs(path.pid);
    const t0 = process.hrtime.bigint();
    const { msgId, reply } = await withTimeout(path.client.executeReply(code), 120_000, `execute (${path.name})`);
    if (reply.content.status !== 'ok') throw new Error(`execute failed on ${path.name}: ${JSON.stringify(reply.content)}`);
    await withTimeout(c.idle(msgId), 60_000, `idle (${path.name})`);
    const t1 = process.hrtime.bigint();
    return {
      msgs: c.msgs,
      bytes: c.bytes,
      wallMs: Number(t1 - t0) / 1e6,
      streamMs: Number(c.lastAt - c.firstAt) / 1e6,
      cpuMs: path.pid === undefined || cpu0 === undefined ? undefined : cpuMs(path.pid) - cpu0,
    };
  } finally {
    c.close();
  }
}

// ---------------------------------------------------------------- section
export async function proxySection(opts: {
  listener: ResponseListener;
  launcher: string;
  relayJs: string;
  python: string;
  runs: number;
  progress: (s: string) => void;
}): Promise<ProxyResult> {
  const { listener, launcher, python } = opts;
  const failures: string[] = [];
  const launch: LaunchRun[] = [];
  // Launch latency: one uncounted warm-up, then `runs`.
  for (let i = -1; i < opts.runs; i++) {
    try {
      const r = await launchRun(listener, launcher, python, i);
      if (i >= 0) launch.push(r);
    } catch (e) {
      failures.push(`proxy launch run ${i}: ${(e as Error).message}`);
    }
    opts.progress(`proxy launch runs: ${i + 1}/${opts.runs}`);
  }

  // One kernel behind a proxy-mode launcher, reached directly and through relays.
  const l = startProxyLauncher(listener, launcher, python, 'relay');
  const relays: Array<{ child: ChildProcess; name: string }> = [];
  const paths: Path[] = [];
  const mem: ProxyResult['mem'] = [];
  const rtUs: Record<string, number[]> = {};
  const rtCpuMs: Record<string, number> = {};
  const tp1k: Record<string, Tp[]> = {};
  const tp1m: Record<string, Tp[]> = {};
  try {
    const r = await withTimeout(l.response, 30_000, 'proxy response');
    const kernelPorts = await withTimeout(l.kernelPorts, 10_000, 'kernel_spawned log line');
    const launcherPid = l.child.pid!;
    paths.push({ name: 'direct', info: infoWith(r.info, kernelPorts), pid: undefined, client: undefined as unknown as KernelClient });
    paths.push({ name: 'launcher', info: r.info, pid: launcherPid, client: undefined as unknown as KernelClient });
    for (const v of VARIANTS) {
      try {
        const relay = await startRelay(v, kernelPorts, opts.relayJs, python);
        relays.push({ child: relay.child, name: v });
        paths.push({
          name: `relay:${v}`,
          info: infoWith(r.info, relay.ports),
          pid: relay.pid,
          client: undefined as unknown as KernelClient,
        });
      } catch (e) {
        failures.push(`relay ${v}: ${(e as Error).message}`);
      }
    }
    for (const p of paths) p.client = new KernelClient(p.info, 30_000, { iopub: false });
    // Readiness: the launcher path first (its kernel_info waits for the kernel), then every path.
    await withTimeout(paths[1]!.client.kernelInfo(), 30_000, 'kernel_info through proxy');
    for (const p of paths) await withTimeout(p.client.kernelInfo(), 10_000, `kernel_info (${p.name})`);
    mem.push({ at: 'kernel ready', ...memKiB(launcherPid) });

    // Warm-up round trips (JIT, TCP), not counted.
    for (const p of paths) for (let i = 0; i < 100; i++) await p.client.kernelInfo();
    for (const p of paths) {
      rtUs[p.name] = [];
      rtCpuMs[p.name] = 0;
    }
    const blocks = Math.ceil(RT_PER_PATH / RT_BLOCK);
    for (let b = 0; b < blocks; b++) {
      // Rotate the order per block so no path always follows the same one.
      for (let k = 0; k < paths.length; k++) {
        const p = paths[(k + b) % paths.length]!;
        const c0 = p.pid === undefined ? 0 : cpuMs(p.pid);
        for (let i = 0; i < RT_BLOCK; i++) {
          const t0 = process.hrtime.bigint();
          await p.client.kernelInfo();
          rtUs[p.name]!.push(Number(process.hrtime.bigint() - t0) / 1e3);
        }
        if (p.pid !== undefined) rtCpuMs[p.name]! += cpuMs(p.pid) - c0;
      }
      if (b % 5 === 4) opts.progress(`proxy round trips: ${(b + 1) * RT_BLOCK}/${blocks * RT_BLOCK} per path`);
    }
    mem.push({ at: `after ${blocks * RT_BLOCK} round trips`, ...memKiB(launcherPid) });

    for (const [label, n, size, into] of [
      ['1 KiB', N_1K, 1024, tp1k],
      ['1 MiB', N_1M, 1024 * 1024, tp1m],
    ] as const) {
      for (const p of paths) into[p.name] = [];
      for (let rep = 0; rep < TP_REPS; rep++) {
        for (let k = 0; k < paths.length; k++) {
          const p = paths[(k + rep) % paths.length]!;
          try {
            into[p.name]!.push(await throughput(p, n, size));
          } catch (e) {
            failures.push(`throughput ${label} ${p.name}: ${(e as Error).message}`);
          }
        }
        opts.progress(`proxy throughput ${label}: ${rep + 1}/${TP_REPS}`);
      }
      mem.push({ at: `after ${label} throughput`, ...memKiB(launcherPid) });
    }
  } catch (e) {
    failures.push(`proxy relay measurements: ${(e as Error).message}`);
  } finally {
    for (const p of paths) p.client?.close();
    for (const r of relays) r.child.stdin?.end();
    for (const r of relays) await withTimeout(exitOf(r.child), 5_000, 'relay exit').catch(() => r.child.kill('SIGKILL'));
    await stopProxyLauncher(listener, l);
  }
  return {
    launch,
    failures,
    paths: paths.map((p) => p.name),
    rtUs,
    rtCpuMs,
    tp1k,
    tp1m,
    mem,
    rtPerPath: Math.ceil(RT_PER_PATH / RT_BLOCK) * RT_BLOCK,
  };
}

// ---------------------------------------------------------------- report
const rate = (t: Tp): number => t.msgs / (t.wallMs / 1e3);
const mbps = (t: Tp): number => t.bytes / 1e6 / (t.wallMs / 1e3);

function tpMed(xs: readonly Tp[] | undefined): { rate: number; mbps: number; msgs: number; cpuPct: number } {
  const a = xs ?? [];
  const cpu = a.filter((t) => t.cpuMs !== undefined).map((t) => (100 * t.cpuMs!) / t.wallMs);
  return { rate: median(a.map(rate)), mbps: median(a.map(mbps)), msgs: median(a.map((t) => t.msgs)), cpuPct: median(cpu) };
}

export interface ProxySummary {
  rows: Array<[string, string, string, string]>;
  addedP50: number;
  addedP99: number;
  tpRatio1k: number;
  tpRatio1m: number;
}

export function proxySummary(r: ProxyResult): ProxySummary {
  const ok = (cond: boolean): string => (cond ? 'met' : '**missed**');
  const d = r.rtUs.direct ?? [];
  const p = r.rtUs.launcher ?? [];
  const addedP50 = pct(p, 50) - pct(d, 50);
  const addedP99 = pct(p, 99) - pct(d, 99);
  const t1kD = tpMed(r.tp1k.direct);
  const t1kP = tpMed(r.tp1k.launcher);
  const t1mD = tpMed(r.tp1m.direct);
  const t1mP = tpMed(r.tp1m.launcher);
  const tpRatio1k = t1kP.rate / t1kD.rate;
  const tpRatio1m = t1mP.rate / t1mD.rate;
  const resp = r.launch.map((x) => x.responseMs);
  const lastMem = r.mem[r.mem.length - 1];
  const rows: ProxySummary['rows'] = [
    ['proxy mode: launcher start → response resolved (ms)', mmm(resp), '≤ 60', ok(median(resp) <= 60)],
    ['proxy mode: launcher start → kernel_info_reply (ms)', mmm(r.launch.map((x) => x.readyMs)), '', ''],
    [`kernel_info round trip direct p50 / p99 (µs, ${d.length})`, `${f0(pct(d, 50))} / ${f0(pct(d, 99))}`, '', ''],
    [`kernel_info round trip proxied p50 / p99 (µs, ${p.length})`, `${f0(pct(p, 50))} / ${f0(pct(p, 99))}`, '', ''],
    ['proxy added round-trip latency p50 (µs)', f0(addedP50), '≤ 60', ok(addedP50 <= 60)],
    ['proxy added round-trip latency p99 (µs)', f0(addedP99), '', ''],
    [`iopub 1 KiB × ${N_1K} direct: msgs/s, MB/s`, `${f0(t1kD.rate)}, ${f1(t1kD.mbps)}`, '', ''],
    [`iopub 1 KiB × ${N_1K} proxied: msgs/s, MB/s`, `${f0(t1kP.rate)}, ${f1(t1kP.mbps)}`, '', ''],
    ['iopub 1 KiB proxied / direct', `${f0(100 * tpRatio1k)} %`, '≥ 90 %', ok(tpRatio1k >= 0.9)],
    [`iopub 1 MiB × ${N_1M} direct: msgs/s, MB/s`, `${f1(t1mD.rate)}, ${f0(t1mD.mbps)}`, '', ''],
    [`iopub 1 MiB × ${N_1M} proxied: msgs/s, MB/s`, `${f1(t1mP.rate)}, ${f0(t1mP.mbps)}`, '', ''],
    ['iopub 1 MiB proxied / direct', `${f0(100 * tpRatio1m)} %`, '≥ 90 %', ok(tpRatio1m >= 0.9)],
    ['launcher CPU while relaying 1 KiB / 1 MiB outputs (% of a core)', `${f0(t1kP.cpuPct)} / ${f0(t1mP.cpuPct)}`, '', ''],
    [
      'launcher VmRSS / VmHWM after the proxy runs (MiB)',
      lastMem === undefined ? 'n/a' : `${f1(lastMem.rssKiB / 1024)} / ${f1(lastMem.hwmKiB / 1024)}`,
      '',
      '',
    ],
  ];
  return { rows, addedP50, addedP99, tpRatio1k, tpRatio1m };
}

export function proxyMarkdown(r: ProxyResult, header: { date: string; machine: string; load0: string; load1: string }): string {
  const s = proxySummary(r);
  const d = r.rtUs.direct ?? [];
  const pathRows = r.paths.map((name) => {
    const x = r.rtUs[name] ?? [];
    const k = tpMed(r.tp1k[name]);
    const m = tpMed(r.tp1m[name]);
    const cpuPerRt = name === 'direct' ? '—' : f1((1000 * (r.rtCpuMs[name] ?? NaN)) / Math.max(1, x.length));
    return `| ${name} | ${f0(pct(x, 50))} | ${f0(pct(x, 99))} | ${name === 'direct' ? '—' : f0(pct(x, 50) - pct(d, 50))} | ${name === 'direct' ? '—' : f0(pct(x, 99) - pct(d, 99))} | ${cpuPerRt} | ${f0(k.rate)} (${f1(k.mbps)} MB/s) | ${name === 'direct' ? '—' : `${f0(k.cpuPct)} %`} | ${f1(m.rate)} (${f0(m.mbps)} MB/s) | ${name === 'direct' ? '—' : `${f0(m.cpuPct)} %`} | ${f0(k.msgs)} / ${f0(m.msgs)} |`;
  });
  const lc = r.launch;
  return `## Proxy mode

Measured on ${header.date}; ${header.machine}; load average ${header.load0} at the start of the run, ${header.load1} at the end. \`gateway-launcher --mode proxy\`, ports \`0..0\`, everything on 127.0.0.1. Regenerate this section alone with \`BENCH_SECTIONS=proxy npm run bench\`.

| measurement | median (min–max) or value | target | status |
|---|---|---|---|
${s.rows.map((x) => `| ${x[0]} | ${x[1]} | ${x[2]} | ${x[3]} |`).join('\n')}
${r.failures.length > 0 ? `\nFailed proxy runs (not counted): ${r.failures.map((f) => `\`${f}\``).join(', ')}\n` : ''}
Launch: ${lc.length} runs after one uncounted warm-up; the launcher's own \`kernel_spawned\` \`ms\` (its clock) ${mmm(lc.map((x) => x.launcherSpawnedMs).filter((x): x is number => x !== undefined))}.

Relay paths to the same kernel (one ipykernel behind one proxy-mode launcher). \`direct\` connects to the kernel's loopback ports (from the launcher's \`kernel_spawned\` \`kernel_ports\`); \`launcher\` is the launcher's public ports (packages/launcher/src/kernel-proxy.ts); \`relay:*\` are experimental relays in separate processes (bench/src/bench-relay.ts: \`mirror\` = the launcher's loop copied, \`loop\` = plain \`await receive()\`/\`await send()\` without iterator or \`Date.now()\`, \`nowait\` = \`sendTimeout: 0\` and the send not awaited; \`pyzmq\` = pyzmq's C \`zmq.proxy\` in one thread per channel, a lower bound for any relay process). Round trips: ${r.rtPerPath} \`kernel_info_request\`→reply per path (client with iopub unconnected), in blocks of ${RT_BLOCK} rotating over the paths, after 100 uncounted per path; \`process.hrtime.bigint()\` around \`KernelClient.kernelInfo()\` (signing and verifying included, the same on every path). Throughput: \`display({'text/plain': s}, raw=True)\` ${N_1K} × 1 KiB and ${N_1M} × 1 MiB, one subscriber at a time on the path's iopub port (raw zeromq.js subscriber, no HMAC check), from \`execute_request\` sent to the \`idle\` status received; medians of ${TP_REPS} rotating repetitions. Relay CPU is utime+stime from \`/proc/<pid>/stat\` (10 ms ticks) over the path's own blocks/runs only.

| path | RTT p50 µs | RTT p99 µs | added p50 µs | added p99 µs | relay CPU µs per round trip | 1 KiB msgs/s | relay CPU 1 KiB | 1 MiB msgs/s | relay CPU 1 MiB | display_data received 1 KiB / 1 MiB |
|---|---|---|---|---|---|---|---|---|---|---|
${pathRows.join('\n')}

Launcher memory (VmRSS / VmHWM, MiB): ${r.mem.map((m) => `${m.at} ${f1(m.rssKiB / 1024)} / ${f1(m.hwmKiB / 1024)}`).join('; ')}.

${proxyAnalysis(r, s)}
`;
}

function proxyAnalysis(r: ProxyResult, s: ProxySummary): string {
  const d = r.rtUs.direct ?? [];
  const added = (name: string): number => pct(r.rtUs[name] ?? [], 50) - pct(d, 50);
  const out: string[] = [];
  const resp = median(r.launch.map((x) => x.responseMs));
  out.push(
    `- Launch: the proxy-mode response resolves ${f0(resp)} ms after the launcher process starts (target ≤ 60 ms, ${resp <= 60 ? 'met' : 'missed'}). It does not wait for the kernel, but it does wait for node startup, module load (the zeromq native addon is imported only in proxy mode) and five binds; the main section's \`node -e 0\` and launcher-import figures set the floor.`,
  );
  out.push(
    `- Round trip: the proxy adds ${f0(s.addedP50)} µs at p50 and ${f0(s.addedP99)} µs at p99 (target ≤ 60 µs at p50, ${s.addedP50 <= 60 ? 'met' : 'missed'}). A kernel_info round trip crosses the relay twice (request and reply); each crossing is a TCP hop on loopback into another process, a wake-up of that process's event loop (zeromq.js polls the socket's ZMQ_FD with libuv), a promise resolution per receive and per send, and a hand-off to zmq's I/O thread.`,
  );
  const variants = r.paths.filter((p) => p.startsWith('relay:'));
  if (variants.length > 0) {
    out.push(
      `- Where the time goes — experimental relays on the same kernel, added p50: ${variants.map((v) => `${v.slice(6)} ${f0(added(v))} µs`).join(', ')}; the launcher itself ${f0(added('launcher'))} µs. \`mirror\` vs the launcher shows how much of the launcher's figure is the loop itself; \`mirror\` vs \`loop\` is the cost of the async iterator plus \`Date.now()\`; \`loop\` vs \`nowait\` the cost of awaiting each send; \`pyzmq\` is the cost of the extra process hop with the relay in C, which no JavaScript loop can beat.`,
    );
    if (r.paths.includes('relay:pyzmq')) {
      const js = variants.filter((v) => v !== 'relay:pyzmq').map(added);
      const floor = added('relay:pyzmq');
      out.push(
        `- Reading: the JavaScript loops added ${f0(Math.min(...js))}–${f0(Math.max(...js))} µs (launcher ${f0(added('launcher'))} µs) against ${f0(floor)} µs for the C relay, so about ${f0(added('launcher') - floor)} µs of the launcher's p50 is zeromq.js (promise per receive and send, libuv poll wake-up per message) and ${f0(floor)} µs is the second process and its two extra loopback TCP hops per round trip. ${floor > 60 ? 'The C relay alone misses the 60 µs target on this machine, so no change to the relay loop alone can meet it here; at most the zeromq.js share above the C relay can be won. p99 differences are dominated by scheduling noise on this 2-core machine (they can come out negative).' : 'The C relay meets the 60 µs target on this machine, so the remaining gap is in the JavaScript relay.'} Relay CPU per round trip (two relayed messages) was ${f0((1000 * (r.rtCpuMs.launcher ?? NaN)) / Math.max(1, (r.rtUs.launcher ?? []).length))} µs for the launcher and ${f0((1000 * (r.rtCpuMs['relay:pyzmq'] ?? NaN)) / Math.max(1, (r.rtUs['relay:pyzmq'] ?? []).length))} µs for the C relay.`,
      );
    }
  }
  out.push(
    `- Throughput: proxied / direct ${f0(100 * s.tpRatio1k)} % for 1 KiB outputs and ${f0(100 * s.tpRatio1m)} % for 1 MiB outputs (target ≥ 90 %). With 1 KiB outputs the kernel's Python loop (one \`display\` → JSON, HMAC, send per message) is the bottleneck, so the relay mainly costs CPU that a 2-core machine takes from the kernel and the client; with 1 MiB outputs every byte crosses two more loopback TCP connections and a second process; compare with the C relay's ratio to see how much of the loss is the hop rather than zeromq.js.`,
  );
  return out.join('\n');
}

/**
 * The proxy section's issue-12 targets as rows: added round-trip latency vs
 * pyzmq's C `zmq.proxy` in the same run (when the `pyzmq` variant ran), 1 MiB
 * output throughput vs direct, and launcher VmHWM after the 1 MiB outputs.
 */
export function proxyTargetRows(r: ProxyResult): TargetRow[] {
  const s = proxySummary(r);
  const d = r.rtUs.direct ?? [];
  const c = r.rtUs['relay:pyzmq'] ?? [];
  const cAdded = c.length === 0 || d.length === 0 ? NaN : pct(c, 50) - pct(d, 50);
  const hwm = r.mem.length === 0 ? NaN : (r.mem[r.mem.length - 1] as { hwmKiB: number }).hwmKiB / 1024;
  return [
    {
      section: 'proxy',
      metric: 'added round-trip latency p50 (µs): launcher vs pyzmq C zmq.proxy',
      value: `${f0(s.addedP50)} vs ${f0(cAdded)}`,
      target: '≤ C proxy',
      met: Number.isFinite(cAdded) ? s.addedP50 <= cAdded : undefined,
    },
    {
      section: 'proxy',
      metric: 'iopub 1 MiB outputs proxied / direct',
      value: `${f0(100 * s.tpRatio1m)} %`,
      target: '≥ 90 %',
      met: s.tpRatio1m >= 0.9,
    },
    {
      section: 'proxy',
      metric: 'launcher VmHWM after 1 MiB outputs (MiB)',
      value: f1(hwm),
      target: '≤ 70',
      met: Number.isFinite(hwm) ? hwm <= 70 : undefined,
    },
  ];
}
