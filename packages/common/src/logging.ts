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

const SECRETS: ReadonlySet<string> = new Set(SECRET_FIELDS);
const CENSOR = '[Redacted]';
/** Levels of nesting below the top level that {@link redactSecrets} searches (`*.*.*.key`). */
const REDACT_DEPTH = 3;

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * `value` with every secret field (`key`, `token`, `KERNEL_LAUNCH_TOKEN`, …:
 * `SECRET_FIELDS`) at the top level and up to three levels deep
 * (`conn_info.key`, `env.KERNEL_LAUNCH_TOKEN`, `response.conn_info.key`)
 * replaced by `[Redacted]`, in plain objects and arrays. Copies what it changes and never
 * modifies `value` (a logged object is often still in use).
 *
 * Why not pino's own `redact` option: it parses its 44 paths (each field at four depths) character by
 * character when a logger is created, which is hot enough for V8's optimizing
 * compiler; in the launcher that one compilation was ≈ 3.5 MiB of its peak
 * RSS (docs/performance-notes.md). Log records here are small, so walking
 * them costs less than pino's compiled paths would save.
 */
export function redactSecrets<T>(value: T, depth = 0): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    if (depth >= REDACT_DEPTH) return value;
    let copy: unknown[] | undefined;
    value.forEach((item: unknown, i) => {
      const r = redactSecrets(item, depth + 1);
      if (r !== item) (copy ??= [...(value as unknown[])])[i] = r;
    });
    return (copy ?? value) as T;
  }
  if (!isPlainObject(value)) return value;
  let copy: Record<string, unknown> | undefined;
  for (const k of Object.keys(value)) {
    const v = value[k];
    const r = SECRETS.has(k) ? CENSOR : depth < REDACT_DEPTH ? redactSecrets(v, depth + 1) : v;
    if (r !== v) (copy ??= { ...value })[k] = r;
  }
  return (copy ?? value) as T;
}

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
      formatters: { log: (record) => redactSecrets(record), bindings: (bindings) => redactSecrets(bindings) },
    },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
  // pino applies `formatters.bindings` to the root's bindings only: children's go through this.
  const child = logger.child;
  logger.child = function (this: Logger, bindings, childOptions) {
    return child.call(this, redactSecrets(bindings), childOptions);
  } as Logger['child'];
  return options.kernelId === undefined ? logger : logger.child({ kernel_id: options.kernelId });
}
