/**
 * The kernel command line: a preset for a kernel language, or the argv the
 * kernelspec gave after `--`. `{connection_file}` is substituted at each start.
 *
 * @module
 */

/** Kernel languages with a preset command line. */
export type KernelLanguage = 'python' | 'r' | 'scala';

/** Inputs of {@link buildKernelArgv}. */
export interface KernelArgvInput {
  readonly language: KernelLanguage | undefined;
  /** argv after `--`; used as is when no language is given, appended to a preset otherwise. */
  readonly argv: readonly string[];
  /** Interpreter of the python preset. */
  readonly python: string;
  /** python preset: ipykernel kernel class. */
  readonly kernelClassName: string | undefined;
  /** python preset: the kernel binds an IPv6 address, so its ZMQ sockets need ZMQ_IPV6. */
  readonly ipv6?: boolean;
}

/**
 * ipykernel (6.x) and pyzmq leave ZMQ_IPV6 off, so binding `::1` fails with
 * "No such device". This bootstrap turns it on for every context, then runs
 * ipykernel exactly as `python -m ipykernel_launcher` would.
 */
export const IPYKERNEL_IPV6_BOOTSTRAP = [
  'import sys, zmq',
  '_init = zmq.Context.__init__',
  'def _ipv6_init(self, *a, **k):',
  '    _init(self, *a, **k)',
  '    self.setsockopt(zmq.IPV6, 1)',
  'zmq.Context.__init__ = _ipv6_init',
  'from ipykernel import kernelapp',
  'kernelapp.launch_new_instance()',
].join('\n');

/** Builds the kernel argv (with `{connection_file}` still in it). */
export function buildKernelArgv(input: KernelArgvInput): string[] {
  switch (input.language) {
    case 'python': {
      const argv = input.ipv6 === true ? [input.python, '-c', IPYKERNEL_IPV6_BOOTSTRAP, '-f', '{connection_file}'] : [input.python, '-m', 'ipykernel_launcher', '-f', '{connection_file}'];
      if (input.kernelClassName !== undefined && input.kernelClassName !== '') argv.push(`--IPKernelApp.kernel_class=${input.kernelClassName}`);
      return [...argv, ...input.argv];
    }
    case 'r':
      return ['R', '--slave', '--no-restore', '--no-save', '-e', 'IRkernel::main()', '--args', '{connection_file}', ...input.argv];
    case 'scala':
      // Apache Toree's launcher script reads the connection file with --profile.
      return [process.env.TOREE_HOME === undefined ? 'toree' : `${process.env.TOREE_HOME}/bin/run.sh`, '--profile', '{connection_file}', ...input.argv];
    case undefined:
      return [...input.argv];
  }
}

/** Substitutes `{connection_file}` in every argument. */
export function substituteConnectionFile(argv: readonly string[], connectionFile: string): string[] {
  return argv.map((a) => a.replaceAll('{connection_file}', connectionFile));
}
