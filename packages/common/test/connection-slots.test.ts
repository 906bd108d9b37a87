/**
 * The admission rules of the unauthenticated-connection table (issue 11, flaw 1),
 * on stand-in holders: which connection is closed to make room, and when a
 * newcomer is refused.
 */
import t from 'tap';
import { ConnectionSlots, type SlotHolder, addressKey } from '../src/connection-slots.js';

class Holder implements SlotHolder {
  evicted = false;
  constructor(
    readonly slots: ConnectionSlots<Holder>,
    readonly addressKey: string,
    public idle = false,
    public stage: 'fresh' | 'open' | 'committed' = 'open',
  ) {}
  evict(): void {
    this.evicted = true;
    this.slots.release(this);
  }
}

function admit(slots: ConnectionSlots<Holder>, key: string, init: Partial<Pick<Holder, 'idle' | 'stage'>> = {}): Holder | undefined {
  if (!slots.makeRoom(key)) return undefined;
  const h = new Holder(slots, key, init.idle ?? false, init.stage ?? 'open');
  slots.add(h);
  return h;
}

t.test('at the global cap, the oldest connection of the address holding the most slots is closed', async (t) => {
  const slots = new ConnectionSlots<Holder>(4, 10);
  const a1 = admit(slots, 'a') as Holder;
  const b1 = admit(slots, 'b') as Holder;
  const b2 = admit(slots, 'b') as Holder;
  const b3 = admit(slots, 'b') as Holder;
  t.ok(admit(slots, 'c'), 'a newcomer from a third address is admitted');
  t.ok(b1.evicted, 'the oldest of the largest holder made room');
  t.notOk(a1.evicted || b2.evicted || b3.evicted, 'nothing else was closed');
  t.equal(slots.size, 4);
});

t.test('an idle connection of the largest holder goes before its busy ones', async (t) => {
  const slots = new ConnectionSlots<Holder>(3, 10);
  const b1 = admit(slots, 'b') as Holder;
  const b2 = admit(slots, 'b', { idle: true }) as Holder;
  admit(slots, 'b');
  admit(slots, 'a');
  t.ok(b2.evicted, 'the idle one');
  t.notOk(b1.evicted);
});

t.test('a committed connection is never closed; with no victim the newcomer is refused', async (t) => {
  const slots = new ConnectionSlots<Holder>(2, 10);
  const a = admit(slots, 'a', { stage: 'committed' }) as Holder;
  const b = admit(slots, 'b', { stage: 'committed' }) as Holder;
  t.equal(admit(slots, 'c'), undefined, 'refused');
  t.notOk(a.evicted || b.evicted);
  b.stage = 'open';
  t.ok(admit(slots, 'c'), 'admitted once a largest holder has an open connection');
  t.ok(b.evicted);
});

t.test('a smaller holder never loses a slot to a larger one', async (t) => {
  const slots = new ConnectionSlots<Holder>(3, 10);
  const small = admit(slots, 'launcher') as Holder;
  admit(slots, 'flood', { stage: 'fresh' });
  admit(slots, 'flood', { stage: 'fresh' });
  t.equal(admit(slots, 'flood'), undefined, "the flood's newcomer is refused rather than take the launcher's slot");
  t.notOk(small.evicted);
});

t.test('a fresh connection is closed only for an address holding fewer slots than its own', async (t) => {
  const slots = new ConnectionSlots<Holder>(3, 10);
  const f1 = admit(slots, 'flood', { stage: 'fresh' }) as Holder;
  admit(slots, 'flood', { stage: 'fresh' });
  admit(slots, 'x', { stage: 'fresh' });
  t.ok(admit(slots, 'launcher', { stage: 'fresh' }), 'a newcomer holding nothing gets the oldest fresh slot of the largest holder');
  t.ok(f1.evicted);
  t.equal(admit(slots, 'x'), undefined, 'a newcomer as large as the largest holder does not');
});

t.test('at the per-address cap, a fresh connection of the address is not closed', async (t) => {
  const slots = new ConnectionSlots<Holder>(100, 1);
  const a = admit(slots, 'a', { stage: 'fresh' }) as Holder;
  t.equal(admit(slots, 'a'), undefined);
  t.notOk(a.evicted);
});

t.test("at the per-address cap, the address gives up its own oldest connection, not another address's", async (t) => {
  const slots = new ConnectionSlots<Holder>(100, 2);
  const other = admit(slots, 'x') as Holder;
  const a1 = admit(slots, 'a') as Holder;
  admit(slots, 'a');
  t.ok(admit(slots, 'a'));
  t.ok(a1.evicted);
  t.notOk(other.evicted);
  t.equal(slots.heldBy('a'), 2);
});

t.test('IPv6 peers are counted by /64, IPv4 peers by address', async (t) => {
  t.equal(addressKey('2001:db8:1:2:aaaa::1'), addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'));
  t.not(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'));
  t.equal(addressKey('::1'), '0:0:0:0::/64');
  t.equal(addressKey('fe80::1'), 'fe80:0:0:0::/64');
  t.equal(addressKey('127.0.0.2'), '127.0.0.2');
});
