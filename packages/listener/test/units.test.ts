/** Small pieces: bounded v1 accumulation, protocol sniffing, the upgrade head parser, the work queue. */
import t from 'tap';
import { BoundedBuffer } from '../src/bounded-buffer.js';
import { sniff } from '../src/connection-sniffer.js';
import { findHeadEnd, parseUpgradeHead } from '../src/http-upgrade.js';
import { SlicedWorkQueue } from '../src/work-queue.js';
import { interpretReply, parseReply, v1Message } from '../src/control-client.js';
import { generateKeyPair, sealControlReply, sealEvent } from '@gateway-launchers/common';
import { shellQuote } from '../src/wait-command.js';
import { TypedEmitter } from '../src/typed-emitter.js';

t.test('BoundedBuffer collects to the end and refuses beyond the limit', async (t) => {
  const b = new BoundedBuffer(4);
  t.ok(b.push(Buffer.from('ab')));
  t.ok(b.push(Buffer.from('cd')));
  t.equal(b.take().toString(), 'abcd');
  t.notOk(new BoundedBuffer(4).push(Buffer.from('abcde')));
});

t.test('sniff classifies the first bytes', async (t) => {
  t.equal(sniff(Buffer.from('{"v":2')), 'v2');
  t.equal(sniff(Buffer.from('GET / HTTP/1.1')), 'websocket');
  t.equal(sniff(Buffer.from('GE')), 'more', 'could still be GET');
  t.equal(sniff(Buffer.from('GE'), true), 'unknown', 'ended: neither GET nor a v1 payload');
  t.equal(sniff(Buffer.from('GEX')), 'unknown');
  t.equal(sniff(Buffer.from('HEAD / HTTP/1.1')), 'unknown', 'an HTTP health probe is not a v1 launcher');
  t.equal(sniff(Buffer.from('POST /')), 'unknown');
  t.equal(sniff(Buffer.from('ey')), 'more', 'could still be a v1 payload');
  t.equal(sniff(Buffer.from('ey'), true), 'unknown');
  t.equal(sniff(Buffer.from('eyJ2ZXJzaW9uIjog')), 'v1');
  t.equal(sniff(Buffer.from([0xff, 0x00])), 'unknown');
  t.equal(sniff(Buffer.from(' {')), 'unknown');
  t.equal(sniff(Buffer.alloc(0)), 'more');
  t.equal(sniff(Buffer.alloc(0), true), 'unknown');
});

t.test('parseUpgradeHead reads a request head and refuses malformed ones', async (t) => {
  const head = Buffer.from('GET /x?y=1 HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\nrest');
  const end = findHeadEnd(head);
  t.equal(head.subarray(end).toString(), 'rest');
  const r = parseUpgradeHead(head.subarray(0, end));
  t.ok(r.ok);
  if (r.ok)
    t.same(r.value, { method: 'GET', url: '/x?y=1', httpVersion: '1.1', headers: { host: 'a', upgrade: 'websocket', 'x-dup': '1, 2' } });
  t.equal(findHeadEnd(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n')), -1);
  for (const bad of [
    'GET / HTTP/2\r\n\r\n',
    'GET nopath HTTP/1.1\r\n\r\n',
    'GET / HTTP/1.1\r\nno colon\r\n\r\n',
    'GET / HTTP/1.1\r\nbad name: x\r\n\r\n',
  ]) {
    const p = parseUpgradeHead(Buffer.from(bad));
    t.equal(!p.ok && p.error.code, 'GL_ERR_UPGRADE_INVALID', JSON.stringify(bad));
  }
});

t.test('the work queue runs jobs in order, in slices, and holds nothing when idle', async (t) => {
  const errors: unknown[] = [];
  const q = new SlicedWorkQueue(5, (e) => errors.push(e));
  const order: number[] = [];
  let turns = 0;
  let counting = true;
  const countTurns = (): void => {
    turns++;
    if (counting) setImmediate(countTurns);
  };
  setImmediate(countTurns);
  for (let i = 0; i < 20; i++) {
    q.push(() => {
      const end = performance.now() + 2;
      while (performance.now() < end);
      order.push(i);
      if (i === 3) throw new Error('job failed');
    });
  }
  t.equal(q.length, 20);
  while (order.length < 20) await new Promise((r) => setImmediate(r));
  counting = false;
  t.same(
    order,
    Array.from({ length: 20 }, (_, i) => i),
    'FIFO',
  );
  t.ok(turns >= 5, `yielded between slices (${turns} turns for 40 ms of work)`);
  t.equal(errors.length, 1, 'a throwing job is reported, the rest run');
  t.equal(q.length, 0);
});

t.test('the work queue takes turns between peers: a flooding peer delays another by one job, not by its whole backlog', async (t) => {
  const q = new SlicedWorkQueue(5, () => {});
  const order: string[] = [];
  for (let i = 0; i < 100; i++) q.push(() => order.push(`flood-${i}`), '10.0.0.66');
  q.push(() => order.push('launcher'), '10.0.0.7');
  q.push(() => order.push('launcher-2'), '10.0.0.7');
  while (order.length < 102) await new Promise((r) => setImmediate(r));
  t.equal(order.indexOf('launcher'), 1, "the launcher's job ran right after the flooder's first");
  t.equal(order.indexOf('launcher-2'), 3, 'and its next one after one more of the flooder');
  t.same(
    order.filter((o) => o.startsWith('flood')),
    Array.from({ length: 100 }, (_, i) => `flood-${i}`),
    "each peer's jobs stay in order",
  );
  t.equal(q.length, 0);
});

t.test('control replies and v1 messages', async (t) => {
  t.same(interpretReply({ ok: true, last_activity: 5, execution_state: 'idle', junk: 1 }, 'comm-port'), {
    ok: true,
    value: { ok: true, route: 'comm-port', last_activity: 5, execution_state: 'idle' },
  });
  const refused = interpretReply({ ok: false, error: 'GL_ERR_REPLAY' }, 'websocket');
  t.match(!refused.ok && refused.error, {
    code: 'GL_ERR_CONTROL_FAILED',
    details: { launcher_error: 'GL_ERR_REPLAY', route: 'websocket' },
  });
  const weird = interpretReply({ ok: false, error: '<script>' }, 'websocket');
  t.match(!weird.ok && weird.error.details, { launcher_error: 'unknown' }, 'a launcher cannot inject arbitrary text');
  t.equal(interpretReply([], 'websocket').ok, false);
  t.same(v1Message({ interrupt: true }), { ok: true, value: '{"signum":2}' });
  t.same(v1Message({ signal: 'SIGTERM' }), { ok: true, value: '{"signum":15}' });
  t.same(v1Message({ shutdown: true }), { ok: true, value: '{"shutdown":1}' });
  t.equal(v1Message({ restart: true }).ok, false);
});

t.test('shellQuote and the typed emitter', async (t) => {
  t.equal(shellQuote('abc-1.2:3/x'), 'abc-1.2:3/x');
  t.equal(shellQuote("it's"), `'it'\\''s'`);
  t.equal(shellQuote('a b$c'), "'a b$c'");
  class E extends TypedEmitter<{ ping: { n: number } }> {
    fire(n: number): void {
      this.emit('ping', { n });
    }
  }
  const thrown: unknown[] = [];
  const e = new (class extends E {})();
  const seen: number[] = [];
  const fn = (p: { n: number }): void => {
    seen.push(p.n);
  };
  e.on('ping', fn);
  e.once('ping', (p) => seen.push(p.n * 10));
  e.on('ping', () => {
    thrown.push('x');
    throw new Error('host bug');
  });
  e.fire(1);
  e.fire(2);
  e.off('ping', fn);
  e.fire(3);
  t.same(seen, [1, 10, 2]);
  t.equal(thrown.length, 3, 'a throwing listener does not stop the others or the emitter');
  t.equal(e.listenerCount('ping'), 1);
});

t.test('v2 control replies are believed only when sealed by the launcher and bound to the request (issue 11.5)', async (t) => {
  const host = generateKeyPair();
  const launcher = generateKeyPair();
  const binding = { kernelId: 'k1', seq: 42, launcherPublicKey: launcher.publicKey, listenerSecretKey: host.secretKey };
  const parse = (text: string) => parseReply(Buffer.from(text), 'comm-port', binding);
  const genuine = sealControlReply(
    { kernel_id: 'k1', seq: 42, reply: { ok: true, execution_state: 'busy' } },
    host.publicKey,
    launcher.secretKey,
  );
  t.same(
    parse(genuine),
    { ok: true, value: { ok: true, route: 'comm-port', execution_state: 'busy' } },
    "the launcher's sealed reply to this request",
  );
  const codeOf = (text: string): unknown => {
    const r = parse(text);
    return r.ok ? 'accepted' : [r.error.code, r.error.details?.reply_error ?? r.error.details?.launcher_error];
  };
  t.same(
    codeOf('{"ok":true,"last_activity":1,"execution_state":"idle"}'),
    ['GL_ERR_CONTROL_FAILED', 'GL_ERR_REPLY_UNSEALED'],
    'a plain success',
  );
  t.same(
    codeOf(sealControlReply({ kernel_id: 'k1', seq: 41, reply: { ok: true } }, host.publicKey, launcher.secretKey)),
    ['GL_ERR_CONTROL_FAILED', 'GL_ERR_REPLY_MISMATCH'],
    'a reply to an earlier request',
  );
  t.same(
    codeOf(sealControlReply({ kernel_id: 'k2', seq: 42, reply: { ok: true } }, host.publicKey, launcher.secretKey)),
    ['GL_ERR_CONTROL_FAILED', 'GL_ERR_REPLY_MISMATCH'],
    'a reply for another kernel',
  );
  const stranger = generateKeyPair();
  t.same(
    codeOf(sealControlReply({ kernel_id: 'k1', seq: 42, reply: { ok: true } }, host.publicKey, stranger.secretKey)),
    ['GL_ERR_CONTROL_FAILED', 'GL_ERR_ENVELOPE_OPEN_FAILED'],
    'a reply sealed by another key',
  );
  t.same(
    codeOf(sealEvent({ event: 'kernel_exit', kernel_id: 'k1', exit_code: 0, signal: null }, host.publicKey, launcher.secretKey)),
    ['GL_ERR_CONTROL_FAILED', 'GL_ERR_ENVELOPE_MALFORMED'],
    'an event is not a reply',
  );
  t.same(
    codeOf('{"ok":false,"error":"GL_ERR_REPLAY"}'),
    ['GL_ERR_CONTROL_FAILED', 'GL_ERR_REPLAY'],
    'a plain refusal still fails with its code',
  );
});
