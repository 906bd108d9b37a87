/**
 * Admission of unauthenticated connections: a global cap and a per-address
 * cap, so that one peer (or one IPv6 /64) cannot hold the slots a launcher
 * elsewhere needs. When a cap is reached, room is made by closing a connection
 * of the peer that holds the most slots (for the per-address cap: the
 * newcomer's own address), never one that has not yet had its first read, and
 * never one whose complete response is being verified.
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
   * True when the connection may be closed to make room: its first read has
   * had its chance and it has not delivered a complete response.
   */
  readonly evictable: boolean;
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
      const victim = pickVictim(own);
      if (victim === undefined) return false;
      victim.evict();
    }
    if (this.#size < this.#maxTotal) return true;
    const victim = this.#victimFromLargest();
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

  /** A victim from the address holding the most slots; failing that, from the next ones. */
  #victimFromLargest(): C | undefined {
    let largest: Set<C> | undefined;
    for (const group of this.#byAddress.values()) if (largest === undefined || group.size > largest.size) largest = group;
    if (largest === undefined) return undefined;
    const first = pickVictim(largest);
    if (first !== undefined) return first;
    // Rare: every connection of the largest holder is in its first turn or being verified.
    const groups = [...this.#byAddress.values()].filter((g) => g !== largest).sort((a, b) => b.size - a.size);
    for (const group of groups) {
      const victim = pickVictim(group);
      if (victim !== undefined) return victim;
    }
    return undefined;
  }
}

/** The oldest idle evictable connection of a group, else its oldest evictable one. */
function pickVictim<C extends SlotHolder>(group: Set<C>): C | undefined {
  let busy: C | undefined;
  for (const c of group) {
    if (!c.evictable) continue;
    if (c.idle) return c;
    busy ??= c;
  }
  return busy;
}
