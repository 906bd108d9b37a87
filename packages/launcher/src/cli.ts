#!/usr/bin/env node
/**
 * `gateway-launcher`: parse flags and environment, run one kernel, exit with
 * its status. Usage errors print one line and exit 2.
 *
 * @module
 */
import { isGatewayError } from '@gateway-launchers/common/errors';
import { DeferredLogger } from './deferred-logger.js';
import { readCommandLine, usageLine } from './command-line.js';
import { Launcher } from './launcher.js';
import { isWildcard, reportedAddress } from '@gateway-launchers/common/local-address';
import { USAGE_EXIT_STATUS, reportUsageError } from './usage-failure.js';

// A reader of our stderr that goes away (a closed pipe, a dropped SSH session)
// must not take the launcher, and with it the kernel's supervision, down: logs
// are lost, supervision goes on.
process.stderr.on('error', () => {});
process.stdout.on('error', () => {});

/**
 * Prints the usage error, and sends it to the listener as a failure response
 * when flags and environment say where (see usage-failure.ts), so the host
 * does not wait out its timeout. A stop signal cuts the report short.
 */
async function usageFailure(line: string, argv: readonly string[]): Promise<number> {
  process.stderr.write(`${line}\n`);
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(s, onSignal);
  const reported = await reportUsageError(line, argv, process.env, abort.signal);
  if (reported !== undefined) process.stderr.write(`gateway-launcher: reported the usage error to the listener at ${reported.href}\n`);
  return USAGE_EXIT_STATUS;
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let invocation;
  try {
    invocation = await readCommandLine(argv, process.env);
  } catch (e) {
    if (!isGatewayError(e)) throw e;
    return usageFailure(usageLine(e), argv);
  }
  if (invocation.kind === 'print') {
    process.stdout.write(invocation.text);
    return 0;
  }
  let config = invocation.config;
  if (config.ip === undefined || isWildcard(config.ip))
    config = { ...config, reportIp: await reportedAddress(config.responseAddress, config.prohibitedIps) };
  // pino is loaded once the kernel is spawned (or at exit): until then lines are buffered.
  const logger = new DeferredLogger();
  let attached: Promise<void> | undefined;
  const attachLogger = (): Promise<void> =>
    (attached ??= import('@gateway-launchers/common/logging').then(({ createLogger }) =>
      logger.attach(createLogger({ name: 'gateway-launcher', kernelId: config.kernelId, level: config.logLevel })),
    ));
  const launcher = new Launcher(config, logger, process.env, { kernelSpawned: () => void attachLogger() });
  const onSignal = (signal: NodeJS.Signals): void => {
    logger.info({ event: 'signal', signal }, `received ${signal}`);
    // Once the kernel is down, a failure report still retrying gets one shutdown grace more, not the launch timeout.
    void launcher.stop(signal).then(() => setTimeout(() => launcher.abandonReports(), config.shutdownGraceMs).unref());
  };
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(s, onSignal);
  const emergency = (err: unknown): void => {
    // The kernel first: nothing below may keep it from being stopped.
    launcher.abort();
    try {
      logger.fatal({ event: 'crash', err: err instanceof Error ? err.message : String(err) }, 'launcher crashed; killed the kernel');
      if (logger.attached === undefined)
        process.stderr.write(`gateway-launcher: crashed: ${err instanceof Error ? err.message : String(err)}\n`);
    } catch {
      // stderr itself may be what failed
    }
    process.exit(1);
  };
  process.on('uncaughtException', emergency);
  process.on('unhandledRejection', emergency);
  const status = await launcher.run();
  await attachLogger();
  return status;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`gateway-launcher: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
