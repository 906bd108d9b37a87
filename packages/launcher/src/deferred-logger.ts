/**
 * A logger that buffers until the real one is attached. The launcher starts
 * the kernel before it loads pino, so nothing that is only needed later
 * delays the kernel; what it logs meanwhile is written, in order, on attach.
 *
 * @module
 */
import type { Logger } from 'pino';

type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** Records kept before {@link DeferredLogger.attach}, at most this many. */
const MAX_BUFFERED = 1_000;

/** The logging calls the launcher makes (a subset of pino's `Logger`). */
export interface LauncherLogger {
  trace(obj: Record<string, unknown>, msg?: string): void;
  debug(obj: Record<string, unknown>, msg?: string): void;
  info(obj: Record<string, unknown>, msg?: string): void;
  warn(obj: Record<string, unknown>, msg?: string): void;
  error(obj: Record<string, unknown>, msg?: string): void;
  fatal(obj: Record<string, unknown>, msg?: string): void;
}

/** A {@link LauncherLogger} that buffers until a pino logger is attached. */
export class DeferredLogger implements LauncherLogger {
  #target: Logger | undefined;
  readonly #buffer: Array<[Level, Record<string, unknown>, string | undefined]> = [];

  #log(level: Level, obj: Record<string, unknown>, msg?: string): void {
    if (this.#target !== undefined) this.#target[level](obj, msg);
    else if (this.#buffer.length < MAX_BUFFERED) this.#buffer.push([level, obj, msg]);
  }

  /** Writes everything buffered to `logger`, then forwards to it directly. */
  attach(logger: Logger): void {
    for (const [level, obj, msg] of this.#buffer.splice(0)) logger[level](obj, msg);
    this.#target = logger;
  }

  /** The attached logger, once there is one. */
  get attached(): Logger | undefined {
    return this.#target;
  }

  trace(obj: Record<string, unknown>, msg?: string): void {
    this.#log('trace', obj, msg);
  }
  debug(obj: Record<string, unknown>, msg?: string): void {
    this.#log('debug', obj, msg);
  }
  info(obj: Record<string, unknown>, msg?: string): void {
    this.#log('info', obj, msg);
  }
  warn(obj: Record<string, unknown>, msg?: string): void {
    this.#log('warn', obj, msg);
  }
  error(obj: Record<string, unknown>, msg?: string): void {
    this.#log('error', obj, msg);
  }
  fatal(obj: Record<string, unknown>, msg?: string): void {
    this.#log('fatal', obj, msg);
  }
}
