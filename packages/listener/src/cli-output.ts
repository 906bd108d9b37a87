/**
 * What `gateway-listener` writes on stderr: one format throughout. With
 * `--format json` every line is a JSON object (pino's log lines and the CLI's
 * own messages alike); with `--format shell` every line is text (pino's lines
 * rendered as `gateway-listener: warn: message key=value`). A reader of
 * stderr never has to tell two formats apart.
 *
 * @module
 */
import type { Writable } from 'node:stream';

/** pino's numeric levels by name, for the CLI's own JSON lines. */
const LEVELS = { info: 30, warn: 40, error: 50 } as const;
const LEVEL_NAMES: Readonly<Record<number, string>> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
/** pino fields that text lines leave out (the prefix says who; the reader's clock says when). */
const BOOKKEEPING = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg']);

/**
 * Text from a launcher made safe for the operator's terminal: every control
 * character but `\n` and `\t` (C0, DEL, C1, and the bidirectional overrides
 * that reorder what is shown) appears as a visible `\xHH` / `\u{HHHH}`
 * escape, so a launcher cannot write the clipboard (OSC 52), retitle the
 * window or clear the screen.
 */
export function escapeForTerminal(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const n = c.codePointAt(0) as number;
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u{${n.toString(16)}}`;
  });
}

/**
 * JSON text safe for a terminal: `JSON.stringify` escapes C0 controls but
 * leaves DEL, C1 (a lone U+009B starts a control sequence on some terminals)
 * and bidi overrides raw; they become `\uHHHH` (same JSON value).
 */
export function jsonForTerminal(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, '0')}`,
  );
}

/** Where the CLI's stderr lines go. */
export interface CliOutput {
  /** pino destination for the listener's log. */
  readonly destination: { write(line: string): void };
  /** One message of the CLI itself; `stderr_tail` in `fields` is shown as a block in text. */
  say(level: keyof typeof LEVELS, text: string, fields?: Readonly<Record<string, unknown>>): void;
}

function textOfValue(v: unknown): string {
  return typeof v === 'string' && /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
}

/** Renders one pino JSON line as text; a line that is not JSON passes unchanged. */
export function pinoLineAsText(line: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const level = LEVEL_NAMES[o.level as number] ?? String(o.level);
  const extra = Object.entries(o)
    .filter(([k]) => !BOOKKEEPING.has(k))
    .map(([k, v]) => `${k}=${textOfValue(v)}`);
  return `gateway-listener: ${level}: ${String(o.msg ?? '')}${extra.length === 0 ? '' : ` ${extra.join(' ')}`}\n`;
}

/** Output for `format` on `stderr`. */
export function cliOutput(stderr: Writable, format: 'text' | 'json'): CliOutput {
  if (format === 'json') {
    return {
      destination: { write: (line) => void stderr.write(line) },
      say: (level, text, fields = {}) =>
        void stderr.write(
          `${jsonForTerminal({ level: LEVELS[level], time: Date.now(), name: 'gateway-listener', msg: text, ...fields })}\n`,
        ),
    };
  }
  return {
    destination: { write: (line) => void stderr.write(pinoLineAsText(line)) },
    say: (_level, text, fields = {}) => {
      stderr.write(`gateway-listener: ${escapeForTerminal(text)}\n`);
      const tail = fields.stderr_tail;
      if (typeof tail === 'string' && tail !== '') {
        // A launcher's stderr: shown, never obeyed by the terminal.
        const shown = escapeForTerminal(tail);
        stderr.write('--- kernel stderr (tail) ---\n');
        stderr.write(shown.endsWith('\n') ? shown : `${shown}\n`);
        stderr.write('--- end of kernel stderr ---\n');
      }
    },
  };
}

/** The format asked for on a command line that may not parse (for usage errors). */
export function formatOf(args: readonly string[]): 'text' | 'json' {
  const i = args.indexOf('--format');
  return args.includes('--format=json') || (i >= 0 && args[i + 1] === 'json') ? 'json' : 'text';
}
