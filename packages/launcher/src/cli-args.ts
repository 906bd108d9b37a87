/**
 * The launcher's command line, built from the common options schema
 * (`LAUNCHER_OPTIONS`), so `--help`, the parser and
 * `docs/launcher-options.md` never disagree.
 *
 * Start-up matters (the kernel waits for it): a normal run parses with
 * `yargs-parser`, yargs' own parser, configured from the schema; the full
 * yargs (help text, about 50 ms and 10 MiB more to load) is imported only
 * for `--help`.
 *
 * @module
 */
import yargsParser from 'yargs-parser';
import { GatewayError } from '@gateway-launchers/common/errors';
import { LAUNCHER_OPTIONS, LAUNCHER_ENV_ONLY } from './launcher-options.js';
import { type ArgvStyle, type RawOptions, resolveOptions } from './config.js';
import { LAUNCHER_VERSION } from './version.js';

/** What parsing decided: run with these options, or print `text` (help, version) on stdout and exit 0. */
export type ParsedArgs =
  | { readonly kind: 'run'; readonly options: RawOptions; readonly kernelArgv: readonly string[]; readonly style: ArgvStyle }
  | { readonly kind: 'print'; readonly text: string };

function usage(message: string, cause?: unknown): GatewayError {
  return new GatewayError('GL_ERR_USAGE', message, cause === undefined ? {} : { cause });
}

function describe(spec: (typeof LAUNCHER_OPTIONS)[number]): string {
  const notes: string[] = [];
  if (spec.env !== undefined && spec.env.length > 0) notes.push(`env ${spec.env.join(', ')}`);
  if (spec.choices !== undefined) notes.push(`one of ${spec.choices.join(', ')}`);
  if (spec.default !== undefined && spec.default !== '') notes.push(`default ${String(spec.default)}`);
  return notes.length === 0 ? spec.describe : `${spec.describe} [${notes.join('; ')}]`;
}

/** Builds the full yargs parser, for `--help`. */
export async function buildParser(argv: readonly string[]) {
  const { default: yargs } = await import('yargs');
  let y = yargs([...argv])
    .scriptName('gateway-launcher')
    .usage(
      '$0 [options] [-- kernel command using {connection_file}]\n\nStarts a Jupyter kernel with its ports inside a range and reports its connection info, sealed, to the listener.',
    )
    .parserConfiguration({ 'dot-notation': false, 'populate--': true, 'camel-case-expansion': false, 'duplicate-arguments-array': false })
    .strict()
    .exitProcess(false)
    .version(LAUNCHER_VERSION)
    .help()
    .alias('help', 'h')
    .wrap(Math.min(120, process.stdout.columns ?? 100))
    .epilog(
      `Environment only:\n${LAUNCHER_ENV_ONLY.map((e) => `  ${e.name}: ${e.describe}`).join('\n')}\n\nExample:\n  KERNEL_LAUNCH_TOKEN=… gateway-launcher --kernel-id k1 --response-address 10.0.0.5:8877 --public-key <key> --port-range 40000..41000 -- python3 -m ipykernel_launcher -f {connection_file}`,
    )
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    });
  for (const spec of LAUNCHER_OPTIONS) {
    y = y.option(spec.name, {
      type: spec.type,
      describe: describe(spec),
      group: `${spec.group}:`,
      requiresArg: spec.type !== 'boolean',
      ...(spec.aliases === undefined ? {} : { alias: [...spec.aliases] }),
    });
  }
  return y;
}

const PARSER_CONFIG = {
  'dot-notation': false,
  'populate--': true,
  'camel-case-expansion': false,
  'duplicate-arguments-array': false,
  'strip-aliased': true,
} as const;

// Numbers are read as text and converted by resolveOptions, so that an error names what was typed (`abc`, not NaN).
const parserOptions = {
  string: LAUNCHER_OPTIONS.filter((o) => o.type !== 'boolean').map((o) => o.name),
  boolean: LAUNCHER_OPTIONS.filter((o) => o.type === 'boolean').map((o) => o.name),
  alias: Object.fromEntries(LAUNCHER_OPTIONS.filter((o) => o.aliases !== undefined).map((o) => [o.name, [...(o.aliases ?? [])]])),
  configuration: PARSER_CONFIG,
};
const KNOWN = new Set(['_', '--', ...LAUNCHER_OPTIONS.flatMap((o) => [o.name, ...(o.aliases ?? [])])]);
const VALUE_FLAGS = new Set(
  LAUNCHER_OPTIONS.filter((o) => o.type !== 'boolean')
    .flatMap((o) => [o.name, ...(o.aliases ?? [])])
    .map((n) => `--${n}`),
);

/**
 * A PEM block given as its own argument (`--public-key "$(cat key.pem)"`)
 * starts with dashes, which a parser reads as the next flag: glue it to its
 * flag as `--flag=value`.
 */
function gluePemValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const next = argv[i + 1];
    if (arg === '--') return [...out, ...argv.slice(i)];
    if (VALUE_FLAGS.has(arg) && next !== undefined && next.startsWith('-----BEGIN ')) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/**
 * Parses `argv` leniently (no unknown-flag or value checks), for reporting a
 * usage error to the listener: the flags that name the listener may well be
 * fine when another one is not.
 */
export function parseLoosely(argv: readonly string[]): Record<string, unknown> {
  try {
    const parsed = yargsParser.detailed(gluePemValues(argv), parserOptions);
    return parsed.argv as Record<string, unknown>;
  } catch {
    return {};
  }
}

/**
 * Parses `argv` (without node and script) with `env` filling absent flags.
 * Help and version are returned as text to print, not printed. Every usage
 * error is a {@link GatewayError} (`GL_ERR_USAGE`, or the code of the value
 * that failed) with a one-line message. Touches no stream and no network.
 */
export async function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<ParsedArgs> {
  const dashDash = argv.indexOf('--');
  const own = dashDash < 0 ? argv : argv.slice(0, dashDash);
  if (own.includes('--help') || own.includes('-h')) return { kind: 'print', text: `${await (await buildParser(argv)).getHelp()}\n` };
  if (own.includes('--version')) return { kind: 'print', text: `${LAUNCHER_VERSION}\n` };
  const parsed = yargsParser.detailed(gluePemValues(argv), parserOptions);
  if (parsed.error !== null && parsed.error !== undefined) throw usage(parsed.error.message, parsed.error);
  const unknown = Object.keys(parsed.argv).find((k) => !KNOWN.has(k));
  if (unknown !== undefined) throw usage(`Unknown argument: ${unknown}`);
  for (const spec of LAUNCHER_OPTIONS) {
    // yargs-parser reads a string flag without a value as ''.
    if (spec.type !== 'boolean' && spec.default === undefined && (parsed.argv as Record<string, unknown>)[spec.name] === '')
      throw usage(`--${spec.name} needs a value`);
  }
  const positional = parsed.argv._ ?? [];
  if (positional.length > 0) throw usage(`unexpected argument '${String(positional[0])}'; put the kernel command after --`);
  const kernelArgv = ((parsed.argv['--'] as unknown[] | undefined) ?? []).map(String);
  const flags = parsed.argv as Record<string, unknown>;
  const style: ArgvStyle = {
    gpSpelling: own.some((a) => a.startsWith('--RemoteProcessProxy.')),
    languageFromEnv: flags['kernel-language'] === undefined,
  };
  return { kind: 'run', options: resolveOptions(flags, env), kernelArgv, style };
}
