/**
 * Admission of unauthenticated connections: a global cap and a per-address
 * cap, so that one peer (or one IPv6 /64) cannot hold the slots a launcher
 * elsewhere needs. When a cap is reached, room is made by closing a connection
 * of the peer that holds the most slots (for the per-address cap: the
 * newcomer's own address): its oldest idle one, else its oldest busy one. A
 * connection whose first read has not had its chance is closed only to admit
 * a peer holding strictly fewer slots; one whose complete request is being
 * handled is never closed. A smaller holder never loses a slot to a larger one.
 *
 * @module
 */
import { isIP } from 'node:net';

/** What the slot table needs of a connection. */
export interface SlotHolder {
  /** The peer's address grouping key (see {@link addressKey}). */
  readonly addressKey: string;
  /** True while the peer has sent nothing at all. */
  readonly idle: boolean;
  /**
   * `fresh`: its first read has not had its chance yet (one event-loop turn);
   * `open`: reading; `committed`: its complete request is being handled (never closed).
   */
  readonly stage: 'fresh' | 'open' | 'committed';
  /** Closes the connection to make room; must call {@link ConnectionSlots.release} synchronously. */
  evict(): void;
}

/**
 * The address a peer's share is counted by: an IPv4 address as is, an IPv6
 * address by its /64 prefix (one host usually owns a whole /64).
 */
export function addressKey(address: string): string {
  if (isIP(address) !== 6) return address;
  const [head = '', tail = ''] = address.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

/** The table of unauthenticated connections, by address. */
export class ConnectionSlots<C extends SlotHolder> {
  readonly #maxTotal: number;
  readonly #maxPerAddress: number;
  readonly #byAddress = new Map<string, Set<C>>();
  #size = 0;

  /** `maxTotal`: global cap; `maxPerAddress`: cap per address key. */
  constructor(maxTotal: number, maxPerAddress: number) {
    this.#maxTotal = maxTotal;
    this.#maxPerAddress = Math.min(maxPerAddress, maxTotal);
  }

  /** Connections held. */
  get size(): number {
    return this.#size;
  }

  /** Connections held by `key`'s address. */
  heldBy(key: string): number {
    return this.#byAddress.get(key)?.size ?? 0;
  }

  /** Every connection held, oldest first per address. */
  *all(): IterableIterator<C> {
    for (const group of this.#byAddress.values()) yield* group;
  }

  /**
   * Makes room for a connection from `key` (evicting as the caps require) and
   * says whether it may be admitted. Admit it with {@link add} right after.
   */
  makeRoom(key: string): boolean {
    const own = this.#byAddress.get(key);
    if (own !== undefined && own.size >= this.#maxPerAddress) {
      const victim = pickVictim(own, false);
      if (victim === undefined) return false;
      victim.evict();
    }
    if (this.#size < this.#maxTotal) return true;
    const victim = this.#victimFromLargest(this.#byAddress.get(key)?.size ?? 0);
    if (victim === undefined) return false;
    victim.evict();
    return this.#size < this.#maxTotal;
  }

  /** Records an admitted connection. */
  add(conn: C): void {
    let group = this.#byAddress.get(conn.addressKey);
    if (group === undefined) {
      group = new Set();
      this.#byAddress.set(conn.addressKey, group);
    }
    if (group.has(conn)) return;
    group.add(conn);
    this.#size++;
  }

  /** Forgets a connection (closed, evicted, or authenticated). Idempotent. */
  release(conn: C): void {
    const group = this.#byAddress.get(conn.addressKey);
    if (group === undefined || !group.delete(conn)) return;
    this.#size--;
    if (group.size === 0) this.#byAddress.delete(conn.addressKey);
  }

  /**
   * A victim from the addresses holding the most slots (several may tie).
   * Their fresh connections qualify only when the newcomer's address holds
   * fewer (`newcomerHolds`) than they do.
   */
  #victimFromLargest(newcomerHolds: number): C | undefined {
    let most = 0;
    for (const group of this.#byAddress.values()) most = Math.max(most, group.size);
    const largest = [...this.#byAddress.values()].filter((g) => g.size === most);
    for (const group of largest) {
      const victim = pickVictim(group, false);
      if (victim !== undefined) return victim;
    }
    if (newcomerHolds >= most) return undefined;
    for (const group of largest) {
      const victim = pickVictim(group, true);
      if (victim !== undefined) return victim;
    }
    return undefined;
  }
}

/** The oldest idle open connection of a group, else its oldest open one, else (with `fresh`) its oldest fresh one. */
function pickVictim<C extends SlotHolder>(group: Set<C>, fresh: boolean): C | undefined {
  let busy: C | undefined;
  let young: C | undefined;
  for (const c of group) {
    if (c.stage === 'open') {
      if (c.idle) return c;
      busy ??= c;
    } else if (c.stage === 'fresh') young ??= c;
  }
  return busy ?? (fresh ? young : undefined);
}
