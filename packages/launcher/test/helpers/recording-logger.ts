/** A {@link LauncherLogger} for in-process tests that keeps every call. */
import type { LauncherLogger } from '../../src/deferred-logger.js';

/** A logger that keeps what it is given: `lines` holds each call as `{ level, ...fields, msg }`. */
export function recordingLogger(): { logger: LauncherLogger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const keep =
    (level: string) =>
    (obj: Record<string, unknown>, msg?: string): void =>
      void lines.push({ level, ...obj, msg });
  const logger: LauncherLogger = {
    trace: keep('trace'),
    debug: keep('debug'),
    info: keep('info'),
    warn: keep('warn'),
    error: keep('error'),
    fatal: keep('fatal'),
  };
  return { logger, lines };
}
