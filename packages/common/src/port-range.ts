/**
 * Port ranges (`lo..hi`) with Gateway Provisioners' rules: `0..0` or empty means
 * any port; otherwise both ends lie in 1024..65535, `lo <= hi`, and the range
 * spans at least `MIN_PORT_RANGE_SIZE` ports (`hi - lo`, default 1000).
 *
 * @module
 */
import { DEFAULT_MIN_PORT_RANGE_SIZE } from './limits.js';
import { GatewayError } from './errors.js';

/** A validated port range. `any` ranges (`0..0`) contain every port 1..65535. */
export interface PortRange {
  /** Lowest allowed port, or 0 for any. */
  readonly lo: number;
  /** Highest allowed port, or 0 for any. */
  readonly hi: number;
  /** True for `0..0`: the OS may pick any port. */
  readonly any: boolean;
}

/** The range that allows any port. */
export const ANY_PORT_RANGE: PortRange = Object.freeze({ lo: 0, hi: 0, any: true });

/** Lowest port a non-`any` range may include. */
export const MIN_RANGE_PORT = 1024;
/** Highest TCP port. */
export const MAX_PORT = 65535;

/** Options of {@link parsePortRange}. */
export interface ParsePortRangeOptions {
  /** Smallest allowed `hi - lo`; default: env `MIN_PORT_RANGE_SIZE`, else 1000. */
  readonly minSize?: number;
}

/**
 * Reads the minimum range size from `MIN_PORT_RANGE_SIZE` (GP's name, also
 * `GP_MIN_PORT_RANGE_SIZE` / `EG_MIN_PORT_RANGE_SIZE`), falling back to 1000.
 * A value that is not a non-negative integer throws a `GL_ERR_USAGE` error.
 */
export function minPortRangeSizeFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.MIN_PORT_RANGE_SIZE ?? env.GP_MIN_PORT_RANGE_SIZE ?? env.EG_MIN_PORT_RANGE_SIZE;
  if (raw === undefined || raw.trim() === '') return DEFAULT_MIN_PORT_RANGE_SIZE;
  if (!/^\d{1,5}$/.test(raw.trim())) {
    throw new GatewayError('GL_ERR_USAGE', `MIN_PORT_RANGE_SIZE must be a non-negative integer, got '${raw}'`, {
      details: { variable: 'MIN_PORT_RANGE_SIZE' },
    });
  }
  return Number(raw.trim());
}

/**
 * Parses and validates a port range. Throws {@link GatewayError} with one of the
 * `GL_ERR_PORT_RANGE_*` codes; the message names the input and the broken rule.
 */
export function parsePortRange(text: string | undefined | null, options: ParsePortRangeOptions = {}): PortRange {
  const input = (text ?? '').trim();
  if (input === '') return ANY_PORT_RANGE;
  const m = /^(\d{1,5})\.\.(\d{1,5})$/.exec(input);
  if (m === null) {
    throw new GatewayError(
      'GL_ERR_PORT_RANGE_SYNTAX',
      `port range '${input}' is not of the form lo..hi (for example 40000..41000, or 0..0 for any port)`,
      {
        details: { input },
      },
    );
  }
  const lo = Number(m[1]);
  const hi = Number(m[2]);
  if (lo === 0 && hi === 0) return ANY_PORT_RANGE;
  for (const [end, value] of [
    ['lower', lo],
    ['upper', hi],
  ] as const) {
    if (value < MIN_RANGE_PORT || value > MAX_PORT) {
      throw new GatewayError(
        'GL_ERR_PORT_RANGE_BOUNDS',
        `port range '${input}': ${end} end ${value} is outside ${MIN_RANGE_PORT}..${MAX_PORT} (use 0..0 for any port)`,
        {
          details: { input, end, value },
        },
      );
    }
  }
  if (lo > hi) {
    throw new GatewayError('GL_ERR_PORT_RANGE_ORDER', `port range '${input}': lower end ${lo} is above upper end ${hi}`, {
      details: { input },
    });
  }
  const minSize = options.minSize ?? minPortRangeSizeFromEnv();
  if (hi - lo < minSize) {
    throw new GatewayError(
      'GL_ERR_PORT_RANGE_TOO_SMALL',
      `port range '${input}' spans ${hi - lo} ports; at least ${minSize} are required (set MIN_PORT_RANGE_SIZE to change the minimum)`,
      {
        details: { input, size: hi - lo, minSize },
      },
    );
  }
  return Object.freeze({ lo, hi, any: false });
}

/** True when `port` is an integer allowed by `range` (any range: 1..65535). */
export function portRangeContains(range: PortRange, port: number): boolean {
  if (!Number.isInteger(port) || port < 1 || port > MAX_PORT) return false;
  return range.any || (port >= range.lo && port <= range.hi);
}

/** The `lo..hi` text of a range. */
export function formatPortRange(range: PortRange): string {
  return `${range.lo}..${range.hi}`;
}
