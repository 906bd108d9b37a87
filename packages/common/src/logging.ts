/**
 * The project's logger: pino JSON on stderr, a `kernel_id` binding on every
 * line that concerns a kernel, and redaction of every secret field.
 *
 * @module
 */
import { pino, type Logger, type DestinationStream, type LevelWithSilent } from 'pino';

export type { Logger };

/** Field names whose values are secrets. */
const SECRET_FIELDS = [
  'key',
  'token',
  'launch_token',
  'secretKey',
  'secret_key',
  'privateKey',
  'private_key',
  'box',
  'KERNEL_LAUNCH_TOKEN',
  'password',
  'authorization',
];

/**
 * Redaction paths: each secret field at the top level and up to three levels
 * deep (`conn_info.key`, `env.KERNEL_LAUNCH_TOKEN`, `response.conn_info.key`).
 */
export const REDACT_PATHS: readonly string[] = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`, `*.*.*.${f}`]);

const PY_LEVELS: Record<string, LevelWithSilent> = { '10': 'debug', '20': 'info', '30': 'warn', '40': 'error', '50': 'fatal' };
const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

/**
 * Normalises a level: pino names, upper-case names (`DEBUG`, `WARNING`) and
 * Python's numeric levels (`10`…`50`, as Gateway Provisioners' `LOG_LEVEL` uses).
 * Unknown values fall back to `info`.
 */
export function normalizeLevel(level: string | undefined): LevelWithSilent {
  if (level === undefined || level === '') return 'info';
  const l = level.trim().toLowerCase();
  if (PY_LEVELS[l] !== undefined) return PY_LEVELS[l];
  if (l === 'warning') return 'warn';
  if (l === 'critical') return 'fatal';
  return LEVELS.has(l) ? (l as LevelWithSilent) : 'info';
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Level name or Python number; default env `LOG_LEVEL`, else `info`. */
  readonly level?: string;
  /** Component name (`launcher`, `listener`). */
  readonly name?: string;
  /** Bound as `kernel_id` on every line. */
  readonly kernelId?: string;
  /** Where to write; default stderr, synchronously (nothing lost on exit). */
  readonly destination?: DestinationStream;
}

/** Creates a pino logger with redaction; see {@link LoggerOptions}. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const logger = pino(
    {
      level: normalizeLevel(options.level ?? process.env.LOG_LEVEL),
      ...(options.name === undefined ? {} : { name: options.name }),
      base: { pid: process.pid },
      redact: { paths: [...REDACT_PATHS], censor: '[Redacted]' },
    },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
  return options.kernelId === undefined ? logger : logger.child({ kernel_id: options.kernelId });
}
