/**
 * `@gateway-launchers/launcher`: the launcher agent as a library (the CLI is
 * `gateway-launcher`).
 *
 * @packageDocumentation
 */
export { Launcher, type LauncherState, type LauncherHooks } from './launcher.js';
export { DeferredLogger, type LauncherLogger } from './deferred-logger.js';
export { type LauncherConfig, type ListenerKey, buildConfig, resolveOptions, parseListenerKey } from './config.js';
export { parseArgs, type ParsedArgs } from './cli-args.js';
export { selectPorts, type HeldPorts, type SelectPortsOptions } from './port-selector.js';
export { buildKernelArgv, substituteConnectionFile, type KernelLanguage } from './kernel-argv.js';
export { KernelProcess, exitStatusOf, type KernelExit } from './kernel-process.js';
export { LAUNCHER_VERSION } from './version.js';
