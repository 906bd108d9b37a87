/**
 * The launcher's command line and environment, read into what to do: print
 * help or the version, or run with a validated {@link LauncherConfig}.
 * Everything `cli.ts` decides before it touches a stream or the network
 * happens here, so it can be called (and tested) in-process: argv and env
 * in, an invocation or a usage {@link GatewayError} out.
 *
 * @module
 */
import type { GatewayError } from '@gateway-launchers/common/errors';
import { parseArgs } from './cli-args.js';
import { type LauncherConfig, buildConfig } from './config.js';

/** What the command line asks for. */
export type Invocation =
  /** Print `text` (help, version) on stdout and exit 0. */
  | { readonly kind: 'print'; readonly text: string }
  /** Start the kernel `config` describes. */
  | { readonly kind: 'run'; readonly config: LauncherConfig };

/**
 * Parses `argv` (without node and script) and validates it with `env`.
 * Rejects with a {@link GatewayError} on a usage error (its code names the
 * kind: `GL_ERR_USAGE`, `GL_ERR_ADDRESS_INVALID`, `GL_ERR_PORT_RANGE_*`, …);
 * any other rejection is a bug, not a usage error. Reads the launch token file
 * when one is named; writes nothing.
 */
export async function readCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<Invocation> {
  const parsed = await parseArgs(argv, env);
  if (parsed.kind === 'print') return parsed;
  return { kind: 'run', config: buildConfig(parsed.options, parsed.kernelArgv, env, parsed.style) };
}

/** The one line a usage error is printed as (and reported to the listener as). */
export function usageLine(error: GatewayError): string {
  // A message is one line by construction; a value quoted in it (a PEM key, a pasted argv) may not be.
  return `gateway-launcher: ${error.message.replace(/\s*[\r\n]+\s*/g, ' ')} [${error.code}] (see --help)`;
}
