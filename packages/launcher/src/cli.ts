#!/usr/bin/env node
/**
 * `gateway-launcher`: parse flags and environment, run one kernel, exit with
 * its status. Usage errors print one line and exit 2.
 *
 * @module
 */
import { createLogger, isGatewayError } from '@gateway-launchers/common';
import { parseArgs } from './cli-args.js';
import { buildConfig } from './config.js';
import { Launcher } from './launcher.js';

const USAGE_EXIT = 2;

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = await parseArgs(process.argv.slice(2), process.env);
  } catch (e) {
    const code = isGatewayError(e) ? ` [${e.code}]` : '';
    process.stderr.write(`gateway-launcher: ${(e as Error).message}${code} (see --help)\n`);
    return USAGE_EXIT;
  }
  if (parsed.kind === 'exit') return parsed.code;
  let config;
  try {
    config = buildConfig(parsed.options, parsed.kernelArgv, process.env);
  } catch (e) {
    if (!isGatewayError(e)) throw e;
    process.stderr.write(`gateway-launcher: ${e.message} [${e.code}]\n`);
    return USAGE_EXIT;
  }
  const logger = createLogger({ name: 'gateway-launcher', kernelId: config.kernelId, level: config.logLevel });
  const launcher = new Launcher(config, logger);
  const onSignal = (signal: NodeJS.Signals): void => {
    logger.info({ event: 'signal', signal }, `received ${signal}`);
    void launcher.stop(signal);
  };
  for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(s, onSignal);
  const emergency = (err: unknown): void => {
    logger.fatal({ event: 'crash', err: err instanceof Error ? err.message : String(err) }, 'launcher crashed; killing the kernel');
    launcher.abort();
    process.exit(1);
  };
  process.on('uncaughtException', emergency);
  process.on('unhandledRejection', emergency);
  return launcher.run();
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`gateway-launcher: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
