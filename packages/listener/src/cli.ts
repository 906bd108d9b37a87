#!/usr/bin/env node
/**
 * The `gateway-listener` executable: `serve` (JSON-RPC over stdio, see
 * {@link runServe}) or `wait` (see {@link runCli}). Each command's module is
 * loaded only when it runs, so `serve` never loads yargs.
 *
 * @module
 */
const args = process.argv.slice(2);
if (args[0] === 'serve') {
  const { runServe } = await import('./serve-command.js');
  const code = await runServe(args.slice(1), {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    handleSignals: true,
  });
  // Launcher sockets or timers may still be open after the listener closed;
  // everything owed to the host is written (stdout to a pipe or file is synchronous).
  process.exit(code);
} else {
  const { runCli } = await import('./wait-command.js');
  process.exitCode = await runCli(args, { stdout: process.stdout, stderr: process.stderr, env: process.env, handleSignals: true });
}
