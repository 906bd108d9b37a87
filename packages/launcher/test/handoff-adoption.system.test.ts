import t from 'tap';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import type { Readable } from 'node:stream';
import { parsePortRange, tcpConnectionInfo } from '@gateway-launchers/common';
import { buildKernelArgv, substituteConnectionFile } from '../src/kernel-argv.js';
import { handoffBootstrapDir } from '../src/handoff-bootstrap.js';
import { HANDOFF_FDS_ENV, HANDOFF_STATUS_FD_ENV, HandoffSockets } from '../src/handoff-sockets.js';
import { heartbeatEcho } from '../src/heartbeat-probe.js';
import { KernelProcess } from '../src/kernel-process.js';
import { kernelListening } from '../src/kernel-readiness.js';
import { PYTHON, writeConnectionFile } from './helpers/launcher-process.js';
import { shellRequest } from './helpers/zmq-client.js';

/** Reads the bootstrap's one status line (bounded), or '' when the pipe closes without one. */
function statusLine(stream: Readable): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    stream.on('data', (c: Buffer) => {
      text += c.toString('utf8');
      if (text.includes('\n') || text.length > 256) resolve(text.split('\n')[0] as string);
    });
    stream.on('close', () => resolve(text.split('\n')[0] as string));
  });
}

/** Binds five sockets plus comm in `range`, starts ipykernel (python preset with the bootstrap) with them, releases ours. */
async function startHandedOff(range: string, extraEnv: NodeJS.ProcessEnv = {}) {
  const sockets = await HandoffSockets.bind({ host: '127.0.0.1', range: parsePortRange(range) });
  const info = tcpConnectionInfo(sockets.ports, '127.0.0.1', randomUUID(), '');
  const file = writeConnectionFile(info);
  const dir = handoffBootstrapDir(new URL('../src/x.js', import.meta.url).href);
  if (dir === undefined) throw new Error('bootstrap not found');
  const argv = substituteConnectionFile(
    buildKernelArgv({ language: 'python', argv: [], python: PYTHON, kernelClassName: undefined, handoffDir: dir }),
    file,
  );
  const fds = sockets.descriptors();
  const kernel = KernelProcess.spawn(argv, {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...extraEnv,
      [HANDOFF_FDS_ENV]: sockets.fdsEnv(),
      [HANDOFF_STATUS_FD_ENV]: String(3 + fds.length),
    },
    extraStdio: [...fds, 'pipe'],
  });
  await sockets.release();
  const status = statusLine(kernel.extraOutput(fds.length) as Readable);
  return { sockets, info, kernel, status };
}

t.test('ipykernel adopts the five listening sockets handed to it and serves them', async (t) => {
  const { sockets, info, kernel, status } = await startHandedOff('27000..28000');
  t.teardown(async () => {
    kernel.signalGroup('SIGKILL');
    await kernel.exited;
    sockets.comm.close();
  });
  // Sent at once: the kernel has not imported ipykernel yet, so the request waits in the listen backlog.
  const reply = shellRequest(info, 'kernel_info_request', {}, 60_000);
  const hbAbort = new AbortController();
  void kernel.exited.then(() => hbAbort.abort());
  t.equal(await heartbeatEcho('127.0.0.1', info.hb_port, hbAbort.signal), true, 'one heartbeat echoed through the handed hb socket');
  t.equal(await status, 'adopted 5', 'the bootstrap reports all five sockets adopted');
  t.equal((await reply).header.msg_type, 'kernel_info_reply', 'a request sent before the kernel bound anything is answered');
  const pid = kernel.pid as number;
  t.ok(await kernelListening(sockets.ports, pid, pid, false), "the listening sockets on the five ports are the kernel's");
  const exec = await shellRequest(info, 'execute_request', {
    code: 'import os; os.environ.get("GL_HANDOFF_FDS")',
    silent: false,
    store_history: false,
    user_expressions: { fds: 'repr(os.environ.get("GL_HANDOFF_FDS"))' },
    allow_stdin: false,
  });
  t.match(
    exec.content,
    { status: 'ok', user_expressions: { fds: { data: { 'text/plain': "'None'" } } } },
    "the handoff variables are gone from the kernel's environment",
  );
});

t.test('a port of the range already taken is skipped, and the reserved ports stay taken through the handoff', async (t) => {
  const prev = process.env.MIN_PORT_RANGE_SIZE;
  // A tiny range: two of its eight ports are taken by someone else.
  const lo = 28100;
  const range = `${lo}..${lo + 7}`;
  const taken: Server[] = [];
  for (const port of [lo + 1, lo + 4]) {
    const s = createServer();
    await new Promise<void>((resolve) => s.listen({ host: '127.0.0.1', port, exclusive: true }, resolve));
    taken.push(s);
  }
  t.teardown(() => {
    taken.forEach((s) => s.close());
    if (prev === undefined) delete process.env.MIN_PORT_RANGE_SIZE;
    else process.env.MIN_PORT_RANGE_SIZE = prev;
  });
  process.env.MIN_PORT_RANGE_SIZE = '7';
  const { sockets, info, kernel, status } = await startHandedOff(range);
  t.teardown(async () => {
    kernel.signalGroup('SIGKILL');
    await kernel.exited;
    sockets.comm.close();
  });
  const all = [...sockets.ports, sockets.commPort];
  t.same(
    all.filter((p) => p === lo + 1 || p === lo + 4),
    [],
    'the taken ports were skipped',
  );
  t.equal(new Set(all).size, 6, 'six distinct ports from the six free ones');
  // Someone tries each reserved port while the kernel is starting: it is never free.
  let attempts = 0;
  let won = 0;
  const settled = status.then(() => true);
  let done = false;
  void settled.then(() => (done = true));
  while (!done) {
    // A round every few ms until the kernel has adopted the sockets (paced so as not to starve the starting kernel).
    await new Promise((resolve) => setTimeout(resolve, 2));
    for (const port of sockets.ports) {
      attempts++;
      const s = createServer();
      const ok = await new Promise<boolean>((resolve) => {
        s.once('error', () => resolve(false));
        s.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve(true));
      });
      if (ok) {
        won++;
        s.close();
      }
    }
  }
  t.ok(attempts >= 5, `${attempts} bind attempts on the reserved ports while the kernel started`);
  t.equal(won, 0, 'none of them got a port');
  t.equal(await status, 'adopted 5');
  t.equal((await shellRequest(info, 'kernel_info_request', {}, 60_000)).header.msg_type, 'kernel_info_reply');
});

t.test('the heartbeat probe gives up on a peer that does not speak ZMTP 3, or sends an oversized frame', async (t) => {
  const greeting = Buffer.alloc(64);
  greeting[0] = 0xff;
  greeting[9] = 0x7f;
  greeting[10] = 3;
  greeting.write('NULL', 12);
  const oversized = Buffer.concat([Buffer.from([0x02]), Buffer.from([0, 0, 0, 0, 0, 0x10, 0, 0])]); // a 1 MiB long frame header
  for (const [name, bytes] of [
    ['an HTTP server', Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'.padEnd(80, ' '))],
    ['a huge frame', Buffer.concat([greeting, oversized])],
  ] as const) {
    const server = createServer((s) => {
      s.on('error', () => {});
      s.end(bytes);
    });
    await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 30_000); // safety net only: the answer is expected at once
    t.equal(await heartbeatEcho('127.0.0.1', (server.address() as { port: number }).port, abort.signal), false, name);
    t.notOk(abort.signal.aborted, `${name}: refused on its bytes, not by the safety net`);
    clearTimeout(timer);
    server.close();
  }
});
