/**
 * The log level names the launcher and the listener accept (`LOG_LEVEL`,
 * `--log-level`). Kept apart from `logging.ts` so the launcher's options
 * schema can name them without loading pino.
 *
 * @module
 */

/** Log level spellings the launcher and listener accept (compared lower-cased). */
export const LOG_LEVEL_NAMES: readonly string[] = [
  'trace',
  'debug',
  'info',
  'warn',
  'warning',
  'error',
  'critical',
  'fatal',
  'silent',
  '10',
  '20',
  '30',
  '40',
  '50',
];

/** True when `text` is a log level {@link LOG_LEVEL_NAMES} lists (any case, surrounding white space ignored). */
export function isLogLevelName(text: string): boolean {
  return LOG_LEVEL_NAMES.includes(text.trim().toLowerCase());
}
