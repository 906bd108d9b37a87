#!/usr/bin/env node
/**
 * The `gateway-listener` executable; see {@link runCli} for commands and exit codes.
 *
 * @module
 */
import { runCli } from './wait-command.js';

process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, handleSignals: true });
