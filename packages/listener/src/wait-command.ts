/**
 * `gateway-listener wait`: for operators. Registers one kernel on a fresh
 * listener, prints what `gateway-launcher` needs, waits for the response, and
 * prints the validated connection info or writes a connection file (0600)
 * that `jupyter console --existing PATH` can use.
 *
 * Exit codes: 0 received, 1 other error, 2 usage, 3 timeout, 4 the launcher
 * reported that the kernel failed (its stderr tail is printed), 130 interrupted.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { access, chmod, constants as fsConstants, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import yargs from 'yargs';
import {
  type ConnectionInfo,
  GatewayError,
  createLogger,
  isGatewayError,
  isLogLevelName,
  redactConnectionInfo,
  toConnectionFile,
} from '@gateway-launchers/common';
import { ResponseListener } from './response-listener.js';
import { type CliOutput, cliOutput, formatOf, jsonForTerminal } from './cli-output.js';
import { LISTENER_VERSION } from './version.js';

/** Exit codes of `gateway-listener`. */
export const EXIT_CODES = Object.freeze({ OK: 0, ERROR: 1, USAGE: 2, TIMEOUT: 3, KERNEL_FAILED: 4, INTERRUPTED: 130 });

/** Where the CLI writes and what it reads. */
export interface CliIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly env: NodeJS.ProcessEnv;
  /** Where `serve` reads requests. Default: process.stdin. */
  readonly stdin?: Readable;
  /** Install SIGINT/SIGTERM handlers that abort the wait (the real process does). */
  readonly handleSignals?: boolean;
}

interface WaitArgs {
  kernelId: string;
  portRange: string;
  timeout: number | undefined;
  connectionFile: string | undefined;
  legacy: boolean;
  showKey: boolean;
  transport: 'tcp' | 'ws';
  format: 'shell' | 'json';
  host: string | undefined;
  responseIp: string | undefined;
  port: number | undefined;
  portRetries: number | undefined;
  logLevel: string;
}

class UsageError extends Error {}

/** Quotes a value for a POSIX shell. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

function buildParser(io: CliIo) {
  return yargs()
    .scriptName('gateway-listener')
    .usage("$0 wait --kernel-id ID [options]\n\nWait for one kernel launcher's response and print its validated connection info.")
    .command('wait', "register a kernel id, print the launcher's parameters, wait for its response")
    .command('serve', 'JSON-RPC 2.0 over stdio for hosts that are not Node (see gateway-listener serve --help)')
    .options({
      'kernel-id': { type: 'string', describe: 'Kernel id to register (1-128 characters of A-Z a-z 0-9 . _ -).' },
      'port-range': { type: 'string', default: '0..0', describe: 'lo..hi range the kernel ports must lie in; 0..0 for any.' },
      timeout: { type: 'number', describe: 'Seconds to wait for the response. Default: KERNEL_LAUNCH_TIMEOUT, else 30.' },
      'connection-file': { type: 'string', describe: 'Write the connection info to this file (mode 0600) instead of printing it.' },
      legacy: { type: 'boolean', default: false, describe: 'Expect a Gateway Provisioners v1 launcher (RSA key, no token).' },
      'show-key': { type: 'boolean', default: false, describe: 'Print the connection key instead of [Redacted].' },
      transport: { type: 'string', choices: ['tcp', 'ws'], default: 'tcp', describe: 'Response transport the launcher is told to use.' },
      format: {
        type: 'string',
        choices: ['shell', 'json'],
        default: 'shell',
        describe: "Output: 'shell' (an export line, then the info) or 'json' (one JSON object per line).",
      },
      host: { type: 'string', describe: 'Address to bind. Default: GP_RESPONSE_ADDR_ANY / GP_RESPONSE_IP / first non-loopback IPv4.' },
      'response-ip': { type: 'string', describe: 'Address launchers connect to. Default: the bound address, or GP_RESPONSE_IP.' },
      port: { type: 'number', describe: 'Port to bind (0: any). Default GP_RESPONSE_PORT, else 8877.' },
      'port-retries': { type: 'number', describe: 'Further ports to try when taken. Default GP_RESPONSE_PORT_RETRIES, else 10.' },
      'log-level': { type: 'string', default: io.env.LOG_LEVEL ?? 'warn', describe: 'pino level of the listener log on stderr.' },
    })
    .strict()
    .demandCommand(1, 1, 'a command is required: wait or serve', 'only one command is allowed')
    .exitProcess(false)
    .version(LISTENER_VERSION)
    .help()
    .wrap(100)
    .fail((message: string | undefined, error: Error | undefined) => {
      throw new UsageError(message ?? error?.message ?? 'invalid usage');
    });
}

function parseArgs(args: readonly string[], io: CliIo): { help: string } | WaitArgs {
  let output = '';
  let argv: Record<string, unknown>;
  try {
    argv = buildParser(io).parseSync([...args], {}, (_err: unknown, _argv: unknown, out: string) => {
      output = out;
    }) as Record<string, unknown>;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (argv.help === true || argv.version === true) return { help: output };
  if (output !== '') throw new UsageError(output);
  const [command] = argv._ as unknown[];
  if (command !== 'wait') throw new UsageError(`unknown command '${String(command)}'; the commands are: wait, serve`);
  if (typeof argv.kernelId !== 'string' || argv.kernelId === '') throw new UsageError('missing required option --kernel-id');
  const timeout = argv.timeout as number | undefined;
  // Timers take at most 2^31-1 ms (about 24.8 days).
  if (timeout !== undefined && !(Number.isFinite(timeout) && timeout > 0 && timeout * 1000 <= 2 ** 31 - 1))
    throw new UsageError('--timeout must be a positive number of seconds, at most 2147483 (about 24.8 days)');
  if (!isLogLevelName(argv.logLevel as string))
    throw new UsageError(
      `--log-level '${String(argv.logLevel)}' is not one of trace, debug, info, warn, error, fatal, silent (or 10, 20, 30, 40, 50)`,
    );
  for (const name of ['port', 'portRetries'] as const) {
    const v = argv[name];
    if (v !== undefined && !(typeof v === 'number' && Number.isInteger(v) && v >= 0))
      throw new UsageError(`--${name === 'port' ? 'port' : 'port-retries'} must be a non-negative integer`);
  }
  return {
    kernelId: argv.kernelId,
    portRange: argv.portRange as string,
    timeout,
    connectionFile: argv.connectionFile as string | undefined,
    legacy: argv.legacy === true,
    showKey: argv.showKey === true,
    transport: argv.transport as 'tcp' | 'ws',
    format: argv.format as 'shell' | 'json',
    host: argv.host as string | undefined,
    responseIp: argv.responseIp as string | undefined,
    port: argv.port as number | undefined,
    portRetries: argv.portRetries as number | undefined,
    logLevel: argv.logLevel as string,
  };
}

async function writeConnectionFile(path: string, info: ConnectionInfo): Promise<string> {
  const target = resolvePath(path);
  // Write a private temporary file, then rename: the file never exists with
  // wider permissions or half-written.
  const tmp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, toConnectionFile(info), { mode: 0o600, flag: 'wx' });
    await chmod(tmp, 0o600);
    await rename(tmp, target);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  return target;
}

function line(stream: Writable, text: string): void {
  stream.write(`${text}\n`);
}

/** Why `path` cannot be written as a connection file, or undefined when it can. */
async function connectionFileProblem(path: string): Promise<string | undefined> {
  const target = resolvePath(path);
  try {
    if ((await stat(target)).isDirectory()) return 'is a directory';
    await access(target, fsConstants.W_OK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
      return `cannot be written (${(error as NodeJS.ErrnoException).code ?? String(error)})`;
  }
  // The file is written next to itself (temporary name, then rename): its directory must take new files.
  const probe = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.probe`);
  try {
    await writeFile(probe, '', { mode: 0o600, flag: 'wx' });
    await rm(probe, { force: true });
  } catch (error) {
    return `its directory ${dirname(target)} does not take new files (${(error as NodeJS.ErrnoException).code ?? String(error)})`;
  }
  return undefined;
}

/**
 * Runs `gateway-listener` with `args` (without the node and script paths) and
 * resolves with the exit code. Never throws.
 */
export async function runCli(args: readonly string[], io: CliIo): Promise<number> {
  if (args[0] === 'serve') {
    const { runServe } = await import('./serve-command.js');
    return runServe(args.slice(1), { ...io, stdin: io.stdin ?? process.stdin });
  }
  let parsed: { help: string } | WaitArgs;
  try {
    parsed = parseArgs(args, io);
  } catch (error) {
    cliOutput(io.stderr, formatOf(args)).say(
      'error',
      `${error instanceof Error ? error.message : String(error)} (run 'gateway-listener --help' for usage)`,
    );
    return EXIT_CODES.USAGE;
  }
  if ('help' in parsed) {
    io.stdout.write(parsed.help.endsWith('\n') ? parsed.help : `${parsed.help}\n`);
    return EXIT_CODES.OK;
  }
  return wait(parsed, io);
}

async function wait(a: WaitArgs, io: CliIo): Promise<number> {
  const out = cliOutput(io.stderr, a.format === 'json' ? 'json' : 'text');
  if (a.connectionFile !== undefined) {
    // Found out now, not after a kernel was launched for nothing.
    const problem = await connectionFileProblem(a.connectionFile);
    if (problem !== undefined) {
      out.say('error', `--connection-file ${a.connectionFile}: ${problem}`);
      return EXIT_CODES.USAGE;
    }
  }
  let listener: ResponseListener;
  try {
    listener = await ResponseListener.start({
      ...(a.host === undefined ? {} : { host: a.host }),
      ...(a.responseIp === undefined ? {} : { advertisedHost: a.responseIp }),
      ...(a.port === undefined ? {} : { port: a.port }),
      ...(a.portRetries === undefined ? {} : { portRetries: a.portRetries }),
      legacy: a.legacy,
      logger: createLogger({ name: 'gateway-listener', level: a.logLevel, destination: out.destination }),
      env: io.env,
    });
  } catch (error) {
    out.say('error', error instanceof Error ? error.message : String(error));
    return isGatewayError(error, 'GL_ERR_USAGE') ? EXIT_CODES.USAGE : EXIT_CODES.ERROR;
  }
  const abort = new AbortController();
  const onSignal = (): void => abort.abort(new Error('interrupted'));
  if (io.handleSignals === true) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  try {
    let launch;
    try {
      launch = listener.register(a.kernelId, {
        portRange: a.portRange,
        protocol: a.legacy ? 1 : 2,
        transport: a.transport,
        signal: abort.signal,
        ...(a.timeout === undefined ? {} : { timeoutMs: Math.round(a.timeout * 1000) }),
      });
    } catch (error) {
      out.say('error', error instanceof Error ? error.message : String(error));
      return EXIT_CODES.USAGE;
    }
    const seconds = a.timeout ?? listener.defaultTimeoutMs / 1000;
    if (a.format === 'json') {
      line(
        io.stdout,
        JSON.stringify({ kernel_id: a.kernelId, response_address: launch.responseAddress, env: launch.env, argv: launch.argv }),
      );
    } else {
      line(
        io.stdout,
        `export ${Object.entries(launch.env)
          .map(([k, v]) => `${k}=${shellQuote(v)}`)
          .join(' ')}`,
      );
    }
    out.say(
      'info',
      `waiting up to ${seconds} s for kernel ${a.kernelId} on ${launch.responseAddress}; start gateway-launcher with the environment above${a.format === 'shell' ? ' (eval the export line)' : ''}.`,
    );

    try {
      const response = await launch.response;
      const info = response.connectionInfo;
      const shown = a.showKey ? info : redactConnectionInfo(info);
      if (a.connectionFile !== undefined) {
        let path: string;
        try {
          path = await writeConnectionFile(a.connectionFile, info);
        } catch (error) {
          out.say('error', `could not write ${a.connectionFile}: ${error instanceof Error ? error.message : String(error)}`);
          return EXIT_CODES.ERROR;
        }
        if (a.format === 'json')
          line(
            io.stdout,
            JSON.stringify({ kernel_id: a.kernelId, connection_file: path, comm_port: response.commPort, pid: response.pid }),
          );
        else line(io.stdout, path);
        out.say('info', `connection file written: ${path} (use: jupyter console --existing ${path})`);
      } else if (a.format === 'json') {
        line(io.stdout, JSON.stringify({ kernel_id: a.kernelId, connection_info: shown, comm_port: response.commPort, pid: response.pid }));
      } else {
        io.stdout.write(toConnectionFile(shown as ConnectionInfo));
      }
      return EXIT_CODES.OK;
    } catch (error) {
      return reportFailure(error, a, io, out);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await listener.close();
  }
}

function reportFailure(error: unknown, a: WaitArgs, io: CliIo, out: CliOutput): number {
  const code = error instanceof GatewayError ? error.code : 'GL_ERR_UNKNOWN';
  const message = error instanceof Error ? error.message : String(error);
  if (a.format === 'json')
    line(
      io.stdout,
      jsonForTerminal({ kernel_id: a.kernelId, error: code, ...(error instanceof GatewayError ? { details: error.details } : {}) }),
    );
  const tail = code === 'GL_ERR_KERNEL_FAILED' ? (error as GatewayError).details.stderr_tail : undefined;
  out.say('error', message, { code, ...(typeof tail === 'string' && tail !== '' ? { stderr_tail: tail } : {}) });
  switch (code) {
    case 'GL_ERR_REGISTRATION_TIMEOUT':
      return EXIT_CODES.TIMEOUT;
    case 'GL_ERR_KERNEL_FAILED':
      return EXIT_CODES.KERNEL_FAILED;
    case 'GL_ERR_REGISTRATION_ABORTED':
      return EXIT_CODES.INTERRUPTED;
    default:
      return EXIT_CODES.ERROR;
  }
}
