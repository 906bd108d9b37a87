/**
 * `gateway-listener serve`: the response listener for hosts that are not Node.
 * The host starts it once as a child process and speaks JSON-RPC 2.0 over
 * stdio, one JSON object per line (docs/listener-serve.md). stderr carries
 * pino JSON logs, never a secret.
 *
 * Lifecycle: parse flags → load or create the key file → start the listener →
 * `ready` notification → answer requests until `close`, stdin EOF, SIGTERM or
 * SIGINT → close the listener (pending registrations end with
 * `registration-ended`) → write what is still owed → exit 0.
 *
 * Exit codes: 0 closed normally, 1 the listener could not start, 2 usage
 * (a bad flag, or a key file that is refused).
 *
 * This module does not load yargs: a host's child process starts faster, and
 * the library never pulls in the CLI's parser.
 *
 * @module
 */
import { type Readable, type Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import {
  type BoxKeyPair,
  type LineItem,
  type Logger,
  type V1KeyPair,
  LineReader,
  createLogger,
  isGatewayError,
} from '@gateway-launchers/common';
import { MAX_REQUEST_LINE_BYTES, notificationLine } from './json-rpc.js';
import { loadOrCreateKeyFile } from './key-file.js';
import { DEFAULT_V1_KEY_BITS } from './listener-options.js';
import { ResponseListener } from './response-listener.js';
import { ServeDispatcher } from './serve-dispatcher.js';
import { LISTENER_VERSION } from './version.js';

/**
 * Requests answered asynchronously (control) at once; beyond it stdin is not
 * read until one is answered, so a host's flood waits in its own pipe.
 */
export const MAX_IN_FLIGHT_REQUESTS = 64;

/** Exit codes of `gateway-listener serve`. */
export const SERVE_EXIT_CODES = Object.freeze({ OK: 0, ERROR: 1, USAGE: 2 });

/** Streams and environment of a `serve` run. */
export interface ServeIo {
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly env: NodeJS.ProcessEnv;
  /** Close on SIGTERM and SIGINT (the real process does). */
  readonly handleSignals?: boolean;
}

interface ServeArgs {
  readonly keyFile: string | undefined;
  readonly legacy: boolean;
  readonly host: string | undefined;
  readonly advertisedHost: string | undefined;
  readonly port: number | undefined;
  readonly portRetries: number | undefined;
  readonly logLevel: string;
}

const USAGE = `Usage: gateway-listener serve [options]

The response listener for hosts that are not Node: JSON-RPC 2.0 over stdio,
one JSON object per line (see docs/listener-serve.md). Logs go to stderr.

Options:
  --key-file PATH        Keep the listener's key pair in PATH (mode 0600, created if
                         missing), so that a restarted host can adopt running launchers.
  --legacy               Also accept Gateway Provisioners v1 payloads (RSA key; with
                         --key-file it is stored in the same file).
  --host H               Address to bind. Default: GP_RESPONSE_ADDR_ANY / GP_RESPONSE_IP /
                         first non-loopback IPv4.
  --advertised-host H    Address launchers connect to. Default: the bound address, or GP_RESPONSE_IP.
  --port P               Port to bind (0: any). Default GP_RESPONSE_PORT, else 8877.
  --port-retries N       Further ports to try when taken. Default GP_RESPONSE_PORT_RETRIES, else 10.
  --log-level L          pino level of the log on stderr. Default LOG_LEVEL, else info.
  --help                 Show this help.
`;

class UsageError extends Error {}

function nonNegativeInteger(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,9}$/.test(text)) throw new UsageError(`--${name} must be a non-negative integer`);
  return Number(text);
}

function parseServeArgs(args: readonly string[], env: NodeJS.ProcessEnv): ServeArgs | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        'key-file': { type: 'string' },
        legacy: { type: 'boolean' },
        host: { type: 'string' },
        'advertised-host': { type: 'string' },
        port: { type: 'string' },
        'port-retries': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const v = parsed.values;
  if (v.help === true) return 'help';
  if (v['key-file'] === '') throw new UsageError('--key-file needs a path');
  return {
    keyFile: v['key-file'],
    legacy: v.legacy === true,
    host: v.host,
    advertisedHost: v['advertised-host'],
    port: nonNegativeInteger('port', v.port),
    portRetries: nonNegativeInteger('port-retries', v['port-retries']),
    logLevel: v['log-level'] ?? env.LOG_LEVEL ?? 'info',
  };
}

function line(stream: Writable, text: string): void {
  stream.write(`${text}\n`);
}

/**
 * Runs `gateway-listener serve` with `args` (after the word `serve`) and
 * resolves with the exit code once it has closed. Never throws.
 */
export async function runServe(args: readonly string[], io: ServeIo): Promise<number> {
  let a: ServeArgs | 'help';
  try {
    a = parseServeArgs(args, io.env);
  } catch (error) {
    line(io.stderr, `gateway-listener serve: ${error instanceof Error ? error.message : String(error)}`);
    line(io.stderr, "Run 'gateway-listener serve --help' for usage.");
    return SERVE_EXIT_CODES.USAGE;
  }
  if (a === 'help') {
    io.stdout.write(USAGE);
    return SERVE_EXIT_CODES.OK;
  }
  const log = createLogger({ name: 'gateway-listener', level: a.logLevel });
  let listener: ResponseListener;
  try {
    let keyPair: BoxKeyPair | undefined;
    let v1KeyPair: V1KeyPair | undefined;
    if (a.keyFile !== undefined) {
      const stored = await loadOrCreateKeyFile(a.keyFile, { legacy: a.legacy, v1KeyBits: DEFAULT_V1_KEY_BITS });
      keyPair = stored.keyPair;
      v1KeyPair = stored.v1KeyPair;
      log.info({ key_file: a.keyFile, origin: stored.origin, legacy: a.legacy }, 'key file ready');
    }
    listener = await ResponseListener.start({
      ...(a.host === undefined ? {} : { host: a.host }),
      ...(a.advertisedHost === undefined ? {} : { advertisedHost: a.advertisedHost }),
      ...(a.port === undefined ? {} : { port: a.port }),
      ...(a.portRetries === undefined ? {} : { portRetries: a.portRetries }),
      ...(keyPair === undefined ? {} : { keyPair }),
      ...(v1KeyPair === undefined ? {} : { v1KeyPair }),
      legacy: a.legacy,
      logger: log,
      env: io.env,
    });
  } catch (error) {
    line(io.stderr, `gateway-listener serve: ${error instanceof Error ? error.message : String(error)}`);
    return isGatewayError(error, 'GL_ERR_USAGE') ? SERVE_EXIT_CODES.USAGE : SERVE_EXIT_CODES.ERROR;
  }
  return new ServeSession(listener, io, log).run();
}

/** One running `serve`: stdin in, dispatcher, stdout out, and the way to a clean exit. */
class ServeSession {
  readonly #listener: ResponseListener;
  readonly #io: ServeIo;
  readonly #log: Logger;
  readonly #dispatcher: ServeDispatcher;
  readonly #lines = new LineReader(MAX_REQUEST_LINE_BYTES, { stripCr: true });
  /** Items read but not yet handled (bounded: stdin is paused while any wait). */
  readonly #queue: LineItem[] = [];
  #inputEnded = false;
  #outputBroken = false;
  #stopping: Promise<number> | undefined;
  #finish!: (code: number) => void;
  readonly #done = new Promise<number>((resolve) => {
    this.#finish = resolve;
  });

  constructor(listener: ResponseListener, io: ServeIo, log: Logger) {
    this.#listener = listener;
    this.#io = io;
    this.#log = log;
    this.#dispatcher = new ServeDispatcher(listener, {
      write: (text) => this.#write(text),
      onClose: () => void this.#stop('close requested'),
      onAnswered: () => this.#pump(),
      log,
    });
  }

  async run(): Promise<number> {
    const { stdin, stdout } = this.#io;
    stdout.on('error', (error: NodeJS.ErrnoException) => {
      // The host stopped reading (EPIPE): nobody is left to answer.
      this.#outputBroken = true;
      this.#log.warn({ errno: error.code }, 'stdout closed by the host; closing');
      void this.#stop('stdout closed');
    });
    const onSignal = (signal: NodeJS.Signals): void => void this.#stop(`signal ${signal}`);
    if (this.#io.handleSignals === true) {
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    }
    this.#write(
      notificationLine('ready', {
        version: LISTENER_VERSION,
        response_address: this.#listener.responseAddress,
        websocket_url: this.#listener.webSocketUrl,
        public_key: this.#listener.publicKey,
        v1_public_key: this.#listener.v1PublicKey ?? null,
        pid: process.pid,
      }),
    );
    this.#log.info({ response_address: this.#listener.responseAddress, legacy: this.#listener.legacy }, 'serve ready');
    stdin.on('data', (chunk: Buffer | string) => {
      if (this.#stopping !== undefined) return;
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      this.#queue.push(...this.#lines.push(bytes));
      this.#pump();
    });
    stdin.on('end', () => {
      this.#inputEnded = true;
      this.#queue.push(...this.#lines.end());
      this.#pump();
    });
    stdin.on('error', (error: NodeJS.ErrnoException) => {
      this.#log.warn({ errno: error.code }, 'stdin failed; closing');
      this.#inputEnded = true;
      this.#pump();
    });
    const code = await this.#done;
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    return code;
  }

  /** Handles queued items while request slots are free; reads more only when the queue is empty. */
  #pump(): void {
    while (this.#queue.length > 0 && this.#dispatcher.inFlight < MAX_IN_FLIGHT_REQUESTS) {
      const item = this.#queue.shift() as LineItem;
      if (item.kind === 'line') this.#dispatcher.line(item.line);
      else this.#dispatcher.overlong(item.seen, MAX_REQUEST_LINE_BYTES);
    }
    if (this.#queue.length > 0) {
      this.#io.stdin.pause();
      return;
    }
    if (this.#inputEnded) {
      void this.#stop('stdin closed');
      return;
    }
    if (this.#stopping === undefined) this.#io.stdin.resume();
  }

  #write(text: string): void {
    if (this.#outputBroken) return;
    this.#io.stdout.write(`${text}\n`);
  }

  #stop(reason: string): Promise<number> {
    if (this.#stopping !== undefined) return this.#stopping;
    // The body runs in a later microtask, once #stopping is set: #pump may call #stop again.
    this.#stopping = Promise.resolve().then(async () => {
      this.#log.info({ reason }, 'serve closing');
      this.#dispatcher.stopAccepting();
      // Answer what was already read (with the closing error); read nothing more.
      this.#pump();
      this.#io.stdin.pause();
      await this.#listener.close();
      await this.#dispatcher.drained();
      this.#log.info('serve closed');
      this.#finish(SERVE_EXIT_CODES.OK);
      return SERVE_EXIT_CODES.OK;
    });
    return this.#stopping;
  }
}
