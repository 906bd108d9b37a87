/**
 * The launcher's command line, built with yargs from the common options
 * schema (`LAUNCHER_OPTIONS`), so `--help`, the parser and
 * `docs/launcher-options.md` never disagree.
 *
 * @module
 */
import yargs from 'yargs';
import { LAUNCHER_OPTIONS, LAUNCHER_ENV_ONLY } from '@gateway-launchers/common';
import { type RawOptions, resolveOptions } from './config.js';
import { LAUNCHER_VERSION } from './version.js';

/** What parsing decided. */
export type ParsedArgs =
  | { readonly kind: 'run'; readonly options: RawOptions; readonly kernelArgv: readonly string[] }
  | { readonly kind: 'exit'; readonly code: number };

function describe(spec: (typeof LAUNCHER_OPTIONS)[number]): string {
  const notes: string[] = [];
  if (spec.env !== undefined && spec.env.length > 0) notes.push(`env ${spec.env.join(', ')}`);
  if (spec.choices !== undefined) notes.push(`one of ${spec.choices.join(', ')}`);
  if (spec.default !== undefined && spec.default !== '') notes.push(`default ${String(spec.default)}`);
  return notes.length === 0 ? spec.describe : `${spec.describe} [${notes.join('; ')}]`;
}

/** Builds the yargs parser (also used to render help). */
export function buildParser(argv: readonly string[]) {
  let y = yargs([...argv])
    .scriptName('gateway-launcher')
    .usage('$0 [options] [-- kernel command using {connection_file}]\n\nStarts a Jupyter kernel with its ports inside a range and reports its connection info, sealed, to the listener.')
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

/**
 * Parses `argv` (without node and script). Prints help or version and returns
 * `exit` for them; throws an Error with a one-line message on a usage error.
 */
export async function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<ParsedArgs> {
  const dashDash = argv.indexOf('--');
  const own = dashDash < 0 ? argv : argv.slice(0, dashDash);
  const parser = buildParser(argv);
  if (own.includes('--help') || own.includes('-h')) {
    process.stdout.write(`${await parser.getHelp()}\n`);
    return { kind: 'exit', code: 0 };
  }
  if (own.includes('--version')) {
    process.stdout.write(`${LAUNCHER_VERSION}\n`);
    return { kind: 'exit', code: 0 };
  }
  const parsed = (await parser.parseAsync()) as Record<string, unknown>;
  const positional = (parsed._ as unknown[] | undefined) ?? [];
  if (positional.length > 0) throw new Error(`unexpected argument '${String(positional[0])}'; put the kernel command after --`);
  const kernelArgv = ((parsed['--'] as unknown[] | undefined) ?? []).map(String);
  return { kind: 'run', options: resolveOptions(parsed, env), kernelArgv };
}
