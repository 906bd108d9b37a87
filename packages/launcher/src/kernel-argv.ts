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
}

/** Builds the kernel argv (with `{connection_file}` still in it). */
export function buildKernelArgv(input: KernelArgvInput): string[] {
  switch (input.language) {
    case 'python': {
      const argv = [input.python, '-m', 'ipykernel_launcher', '-f', '{connection_file}'];
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
