/**
 * A small typed event emitter for host-facing events. Unlike Node's
 * `EventEmitter` it has no special `'error'` event that would crash a host
 * which forgot a handler, and a listener that throws cannot break the
 * listener's own socket handling: the exception is reported to `onListenerError`.
 *
 * @module
 */

/** A listener of one event. */
export type EventListener<P> = (payload: P) => void;

/** Emits typed events, one payload object per event. */
export class TypedEmitter<Events extends { [K in keyof Events]: unknown }> {
  readonly #listeners = new Map<keyof Events, Array<{ fn: EventListener<never>; once: boolean }>>();
  readonly #onListenerError: (event: keyof Events, error: unknown) => void;

  /** @param onListenerError called when a host listener throws (never rethrown). */
  constructor(onListenerError: (event: keyof Events, error: unknown) => void = () => {}) {
    this.#onListenerError = onListenerError;
  }

  /** Adds `listener` for `event`. */
  on<K extends keyof Events>(event: K, listener: EventListener<Events[K]>): this {
    return this.#add(event, listener, false);
  }

  /** Adds `listener` for the next `event` only. */
  once<K extends keyof Events>(event: K, listener: EventListener<Events[K]>): this {
    return this.#add(event, listener, true);
  }

  /** Removes `listener` from `event` (every registration of it). */
  off<K extends keyof Events>(event: K, listener: EventListener<Events[K]>): this {
    const list = this.#listeners.get(event);
    if (list === undefined) return this;
    const kept = list.filter((l) => l.fn !== (listener as EventListener<never>));
    if (kept.length === 0) this.#listeners.delete(event);
    else this.#listeners.set(event, kept);
    return this;
  }

  /** Number of listeners of `event`. */
  listenerCount(event: keyof Events): number {
    return this.#listeners.get(event)?.length ?? 0;
  }

  /** Calls every listener of `event` with `payload`; a throwing listener is reported, not rethrown. */
  protected emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const list = this.#listeners.get(event);
    if (list === undefined) return;
    if (list.some((l) => l.once)) {
      const kept = list.filter((l) => !l.once);
      if (kept.length === 0) this.#listeners.delete(event);
      else this.#listeners.set(event, kept);
    }
    for (const { fn } of list) {
      try {
        (fn as EventListener<Events[K]>)(payload);
      } catch (error) {
        this.#onListenerError(event, error);
      }
    }
  }

  #add<K extends keyof Events>(event: K, listener: EventListener<Events[K]>, once: boolean): this {
    const list = this.#listeners.get(event) ?? [];
    list.push({ fn: listener as EventListener<never>, once });
    this.#listeners.set(event, list);
    return this;
  }
}
