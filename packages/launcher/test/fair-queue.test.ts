/**
 * The proxy's per-client queues (issue 12 §4): clients are served in turn,
 * and a client's full queue holds up its reader until one of its messages
 * has been taken.
 */
import t from 'tap';
import { CLIENT_QUEUE, FairQueue } from '../src/kernel-proxy.js';

const msg = (client: string, n: number): Buffer[] => [Buffer.from(client), Buffer.from(String(n))];
const label = (frames: Buffer[] | undefined): string => (frames === undefined ? 'end' : `${frames[0]?.toString()}${frames[1]?.toString()}`);
const never = (): boolean => false;

t.test('serves clients in turn, not in arrival order', async (t) => {
  const q = new FairQueue();
  for (let i = 0; i < 5; i++) q.push('a', msg('a', i));
  q.push('b', msg('b', 0));
  q.push('c', msg('c', 0));
  q.push('b', msg('b', 1));
  const order: string[] = [];
  for (let i = 0; i < 8; i++) order.push(label(await q.next(never)));
  t.same(order, ['a0', 'b0', 'c0', 'a1', 'b1', 'a2', 'a3', 'a4']);
});

t.test('reports a full queue and releases its reader once one message is taken', async (t) => {
  const q = new FairQueue();
  let full = false;
  for (let i = 0; i < CLIENT_QUEUE; i++) full = q.push('a', msg('a', i));
  t.ok(full, `message number ${CLIENT_QUEUE} fills the client's queue`);
  let released = false;
  const room = q.room('a').then(() => (released = true));
  await Promise.resolve();
  t.notOk(released, 'the reader waits while the queue is full');
  t.equal(label(await q.next(never)), 'a0');
  await room;
  t.ok(released, 'taking a message releases the reader');
  t.notOk(q.push('b', msg('b', 0)), "another client's queue is its own");
});

t.test('a waiting consumer gets the next message, and end() stops it', async (t) => {
  const q = new FairQueue();
  let ended = false;
  const first = q.next(() => ended);
  q.push('a', msg('a', 0));
  t.equal(label(await first), 'a0');
  const second = q.next(() => ended);
  ended = true;
  q.end();
  t.equal(label(await second), 'end');
});
