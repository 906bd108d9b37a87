import t, { type Test } from 'tap';
import { WebSocketServer, type WebSocket } from 'ws';
import { randomBytes } from 'node:crypto';
import {
  type BoxKeyPair,
  generateKeyPair,
  toBase64,
  openResponse,
  parseResponseEnvelope,
  openReattach,
  openEvent,
  isFailureResponse,
  type ResponseSuccess,
} from '@gateway-launchers/common';
import {
  CELL_STARTED,
  GENEROUS_MS,
  IPYKERNEL_ARGV,
  SLEEPING_CELL,
  controlText,
  groupAlive,
  kernelClient,
  replyOf,
  runLauncher,
  type LauncherRun,
} from './helpers/launcher-process.js';

/** A listener's key pair and token, and a WebSocket server on loopback standing in for its port. */
interface WsListener {
  keys: BoxKeyPair;
  token: string;
  wss: WebSocketServer;
  port: number;
  /** Runs the launcher (ipykernel) against this listener at `ws://127.0.0.1:<port><path>`; it ends with the test. */
  launch(kernelId: string, path?: string, env?: NodeJS.ProcessEnv): LauncherRun;
}

async function wsListener(t: Test): Promise<WsListener> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  t.teardown(() => new Promise((r) => wss.close(r)));
  const keys = generateKeyPair();
  const token = randomBytes(32).toString('base64url');
  const port = (wss.address() as { port: number }).port;
  const launch = (kernelId: string, path = '/kernels', env: NodeJS.ProcessEnv = {}): LauncherRun => {
    const run = runLauncher(
      [
        '--kernel-id',
        kernelId,
        '--response-address',
        `ws://127.0.0.1:${port}${path}`,
        '--public-key',
        toBase64(keys.publicKey),
        ...IPYKERNEL_ARGV,
      ],
      { KERNEL_LAUNCH_TOKEN: token, ...env },
    );
    t.teardown(() => run.stop());
    return run;
  };
  return { keys, token, wss, port, launch };
}

function nextMessage(ws: WebSocket, timeoutMs = GENEROUS_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no frame in time')), timeoutMs);
    ws.once('message', (d) => {
      clearTimeout(timer);
      resolve(String(d));
    });
  });
}

t.test('over ws:// the response, control requests, re-attach and the kernel_exit event share one WebSocket', async (t) => {
  const { keys, token, wss, launch } = await wsListener(t);
  const sockets: WebSocket[] = [];
  const connected: Array<(ws: WebSocket) => void> = [];
  wss.on('connection', (ws) => {
    sockets.push(ws);
    connected.shift()?.(ws);
  });
  const nextSocket = (): Promise<WebSocket> => new Promise((r) => connected.push(r));
  const first = nextSocket();

  const run = launch('k-ws');
  const ws = await first;
  const opened = openResponse(await nextMessage(ws), keys.secretKey);
  t.ok(opened.ok, 'the first frame is the sealed response');
  if (!opened.ok) return;
  t.notOk(isFailureResponse(opened.value.plaintext));
  const r = opened.value.plaintext as ResponseSuccess;
  t.equal(r.token, token);
  const epk = opened.value.envelope.epk;
  ws.send(JSON.stringify({ ok: true }));
  ws.send(controlText('k-ws', { signal: 'SIGCONT' }, epk, keys.secretKey));
  t.same(replyOf(await nextMessage(ws), epk, keys.secretKey), { ok: true }, 'a control request right behind the ack is served');

  // An interrupt over the WebSocket ends a running cell.
  const cell = kernelClient({ ...r.conn_info, ip: '127.0.0.1' }, 'execute_async', SLEEPING_CELL);
  await cell.printed(CELL_STARTED);
  ws.send(controlText('k-ws', { interrupt: true }, epk, keys.secretKey));
  t.same(replyOf(await nextMessage(ws), epk, keys.secretKey), { ok: true }, 'interrupt acknowledged on the socket');
  t.equal((await cell.result).ename, 'KeyboardInterrupt');

  // The socket drops: the launcher comes back and re-attaches with its response key.
  const second = nextSocket();
  ws.terminate();
  const ws2 = await second;
  const reattachText = await nextMessage(ws2);
  const env = parseResponseEnvelope(reattachText);
  t.ok(env.ok, 're-attach frame has the envelope shape');
  if (!env.ok) return;
  const reattach = openReattach(env.value, epk, keys.secretKey);
  t.ok(reattach.ok, 're-attach opens with the key of the accepted response');
  t.notOk(openReattach(env.value, generateKeyPair().publicKey, keys.secretKey).ok, 'and with no other');
  ws2.send(JSON.stringify({ ok: true }));

  const pgid = run.logs.find((l) => l.event === 'kernel_spawned')?.pid as number;
  ws2.send(controlText('k-ws', { shutdown: true }, epk, keys.secretKey));
  t.same(replyOf(await nextMessage(ws2), epk, keys.secretKey), { ok: true }, 'shutdown acknowledged');
  const event = openEvent(await nextMessage(ws2), epk, keys.secretKey);
  t.ok(event.ok, 'a sealed kernel_exit event follows');
  if (event.ok) t.match(event.value, { event: 'kernel_exit', kernel_id: 'k-ws', exit_code: 0 });
  t.equal((await run.exited).code, 0);
  t.notOk(groupAlive(pgid));
});

t.test(
  "when the ack of an accepted response is lost, the retry's GL_ERR_RESPONSE_REPLAYED counts as acknowledged and the launcher re-attaches",
  async (t) => {
    const { keys, wss, launch } = await wsListener(t);
    let connections = 0;
    let epk: Uint8Array | undefined;
    const reattached = new Promise<WebSocket>((resolve) => {
      wss.on('connection', (ws) => {
        connections++;
        ws.once('message', (data) => {
          const text = String(data);
          if (connections === 1) {
            const opened = openResponse(text, keys.secretKey);
            if (opened.ok) epk = opened.value.envelope.epk;
            ws.terminate(); // accepted, but the ack never arrives
          } else if (connections === 2) {
            ws.send(JSON.stringify({ ok: false, error: 'GL_ERR_RESPONSE_REPLAYED' }));
            ws.close();
          } else {
            const env = parseResponseEnvelope(text);
            if (env.ok && epk !== undefined && openReattach(env.value, epk, keys.secretKey).ok) {
              ws.send(JSON.stringify({ ok: true }));
              resolve(ws);
            }
          }
        });
      });
    });
    const run = launch('k-lost-ack', '/');
    const ws = await reattached;
    t.ok(
      run.logs.some((l) => l.event === 'response_acked' && l.ack_lost === true),
      'logged as acknowledged with a lost ack',
    );
    ws.send(controlText('k-lost-ack', { shutdown: true }, epk as Uint8Array, keys.secretKey));
    t.equal((await run.exited).code, 0, 'the kernel ran and shut down normally');
  },
);

t.test('a refused re-attach is warned about with the reason, and the warnings back off (1st, 2nd, 4th … failure)', async (t) => {
  const { wss, launch } = await wsListener(t);
  let connections = 0;
  const sixth = new Promise<void>((resolve) => {
    wss.on('connection', (ws) => {
      connections++;
      ws.once('message', () => {
        // The first connection carries the response: acknowledge it, then drop the socket. Every later one is a re-attach: refuse it.
        if (connections === 1) {
          ws.send(JSON.stringify({ ok: true }));
          setImmediate(() => ws.terminate());
        } else {
          ws.send(JSON.stringify({ ok: false, error: 'GL_ERR_TEST_REFUSAL' }));
          if (connections >= 7) resolve();
        }
      });
    });
  });
  const run = launch('k-ws-refused', '/kernels', { LOG_LEVEL: 'debug' });
  await sixth;
  // The launcher logs each failure after the refusal arrives: wait for the sixth entry (an event, bounded by the safety timer).
  const deadline = Date.now() + 60_000;
  while (run.logs.filter((l) => l.event === 'ws_reattach_failed').length < 6 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  const failed = run.logs.filter((l) => l.event === 'ws_reattach_failed').slice(0, 6);
  t.equal(failed.length, 6, 'six failures logged');
  t.ok(
    failed.every((l) => l.reason === 'listener refused: GL_ERR_TEST_REFUSAL'),
    'each carries the reason',
  );
  t.same(
    failed.map((l) => l.level),
    [40, 40, 20, 40, 20, 20],
    'warn on the 1st, 2nd and 4th, debug in between',
  );
});
