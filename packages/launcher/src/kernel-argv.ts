/**
 * The kernel command line: a preset for a kernel language, or the argv the
 * kernelspec gave after `--`. `{connection_file}` is substituted at each start.
 *
 * @module
 */
import { handoffPrelude } from './handoff-bootstrap.js';
import { type ClusterInit, PYTHON_LAUNCH_WITH_NAMESPACE, pythonClusterPrelude, rSparkPrelude } from './spark-init.js';

/** Kernel languages with a preset command line. */
export type KernelLanguage = 'python' | 'r' | 'scala';

/** Inputs of {@link buildKernelArgv}. */
export interface KernelArgvInput {
  readonly language: KernelLanguage | undefined;
  /** argv after `--`; used as is when no language is given (config refuses both at once; appended to a preset here). */
  readonly argv: readonly string[];
  /** Interpreter of the python preset. */
  readonly python: string;
  /** python preset: ipykernel kernel class. */
  readonly kernelClassName: string | undefined;
  /** python preset: the kernel binds an IPv6 address, so its ZMQ sockets need ZMQ_IPV6. */
  readonly ipv6?: boolean;
  /** python and r presets: the cluster start-up hook (see spark-init.ts); r supports Spark only. */
  readonly cluster?: ClusterInit | undefined;
  /** python preset: directory of the handoff bootstrap, to install before ipykernel binds (handoff mode). */
  readonly handoffDir?: string | undefined;
  /** scala preset: Toree's `--alternate-sigint` value (a signal name without SIG, as Toree takes it). */
  readonly alternateSigint?: string;
  /** scala preset: `TOREE_HOME`, where Toree's `bin/run.sh` is; undefined: `toree` on the PATH. */
  readonly toreeHome?: string | undefined;
}

/**
 * ipykernel (6.x) and pyzmq leave ZMQ_IPV6 off, so binding `::1` fails with
 * "No such device". This prelude turns it on for every context.
 */
export const IPYKERNEL_IPV6_PRELUDE = [
  'import zmq',
  '_gl_zmq_init = zmq.Context.__init__',
  'def _gl_ipv6_init(self, *a, **k):',
  '    _gl_zmq_init(self, *a, **k)',
  '    self.setsockopt(zmq.IPV6, 1)',
  'zmq.Context.__init__ = _gl_ipv6_init',
].join('\n');

/** Starts ipykernel as `python -m ipykernel_launcher` would (the script's directory is not put on sys.path). */
const PYTHON_LAUNCH = [
  'import sys',
  "if sys.path and sys.path[0] == '':",
  '    del sys.path[0]',
  'from ipykernel import kernelapp',
  'kernelapp.launch_new_instance()',
].join('\n');

/** The IPv6 bootstrap on its own: the prelude, then ipykernel exactly as `python -m ipykernel_launcher` would run it. */
export const IPYKERNEL_IPV6_BOOTSTRAP = `${IPYKERNEL_IPV6_PRELUDE}\n${PYTHON_LAUNCH}`;

/**
 * The python preset's `-c` program when it needs one (handoff, IPv6, a cluster hook);
 * undefined when plain `-m ipykernel_launcher` does.
 */
export function pythonBootstrap(ipv6: boolean, cluster: ClusterInit | undefined, handoffDir?: string): string | undefined {
  if (!ipv6 && cluster === undefined && handoffDir === undefined) return undefined;
  const parts: string[] = [];
  if (handoffDir !== undefined) parts.push(handoffPrelude(handoffDir));
  if (ipv6) parts.push(IPYKERNEL_IPV6_PRELUDE);
  if (cluster === undefined) {
    parts.push(PYTHON_LAUNCH);
  } else {
    parts.push(pythonClusterPrelude(cluster), "if _sys.path and _sys.path[0] == '':\n    del _sys.path[0]", PYTHON_LAUNCH_WITH_NAMESPACE);
  }
  return parts.join('\n');
}

/** Builds the kernel argv (with `{connection_file}` still in it). */
export function buildKernelArgv(input: KernelArgvInput): string[] {
  switch (input.language) {
    case 'python': {
      const bootstrap = pythonBootstrap(input.ipv6 === true, input.cluster, input.handoffDir);
      const argv =
        bootstrap === undefined
          ? [input.python, '-m', 'ipykernel_launcher', '-f', '{connection_file}']
          : [input.python, '-c', bootstrap, '-f', '{connection_file}'];
      if (input.kernelClassName !== undefined && input.kernelClassName !== '')
        argv.push(`--IPKernelApp.kernel_class=${input.kernelClassName}`);
      return [...argv, ...input.argv];
    }
    case 'r': {
      const hook = input.cluster?.clusterType === 'spark' ? ['-e', rSparkPrelude(input.cluster.mode, input.cluster.appName)] : [];
      return ['R', '--slave', '--no-restore', '--no-save', ...hook, '-e', 'IRkernel::main()', '--args', '{connection_file}', ...input.argv];
    }
    case 'scala':
      // Apache Toree's launcher script reads the connection file with --profile.
      return [
        input.toreeHome === undefined ? 'toree' : `${input.toreeHome}/bin/run.sh`,
        '--profile',
        '{connection_file}',
        ...(input.alternateSigint === undefined ? [] : ['--alternate-sigint', input.alternateSigint]),
        ...input.argv,
      ];
    case undefined:
      return [...input.argv];
  }
}

/** Substitutes `{connection_file}` in every argument. */
export function substituteConnectionFile(argv: readonly string[], connectionFile: string): string[] {
  return argv.map((a) => a.replaceAll('{connection_file}', connectionFile));
}
