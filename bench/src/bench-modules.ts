/**
 * Bench section `modules`: process start and module load, five runs each —
 * `node -e 0`, an `import()` of the launcher's modules (inside node and as a
 * whole process), `python -c 0`, importing ipykernel, and the peak RSS of an
 * empty node process and of one that only imports the launcher.
 *
 * @module
 */
import { f0, f1, median, timeProcess } from './bench-util.js';

/** Runs per figure. */
const RUNS = 5;

/** Every run's figure, ms unless named MiB. */
export interface ModuleLoad {
  readonly nodeBare: readonly number[];
  readonly launcherImport: readonly number[];
  readonly launcherImportWall: readonly number[];
  readonly pythonBare: readonly number[];
  readonly ipykernelImport: readonly number[];
  readonly nodeHwm: readonly number[];
  readonly importHwm: readonly number[];
}

/** Nothing measured (the section did not run). */
export const NO_MODULE_LOAD: ModuleLoad = {
  nodeBare: [],
  launcherImport: [],
  launcherImportWall: [],
  pythonBare: [],
  ipykernelImport: [],
  nodeHwm: [],
  importHwm: [],
};

/** Runs the modules section. */
export async function modulesSection(python: string): Promise<ModuleLoad> {
  const r = {
    nodeBare: [] as number[],
    launcherImport: [] as number[],
    launcherImportWall: [] as number[],
    pythonBare: [] as number[],
    ipykernelImport: [] as number[],
    nodeHwm: [] as number[],
    importHwm: [] as number[],
  };
  // The Launcher class and what it imports: the launcher's modules without running its CLI (the package has no library entry).
  const url = new URL('../../packages/launcher/dist/launcher.js', import.meta.url).href;
  const hwmOf = async (pre: string): Promise<number> =>
    Number(
      (
        await timeProcess(process.execPath, [
          '--input-type=module',
          '-e',
          `${pre} const s = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8'); console.log(/VmHWM:\\s+(\\d+)/.exec(s)[1] / 1024);`,
        ])
      ).out.trim(),
    );
  for (let i = 0; i < RUNS; i++) {
    r.nodeBare.push((await timeProcess(process.execPath, ['-e', '0'])).ms);
    const imp = await timeProcess(process.execPath, [
      '--input-type=module',
      '-e',
      `const t = performance.now(); await import(${JSON.stringify(url)}); console.log(performance.now() - t);`,
    ]);
    r.launcherImportWall.push(imp.ms);
    r.launcherImport.push(Number(imp.out.trim()));
    r.nodeHwm.push(await hwmOf(''));
    r.importHwm.push(await hwmOf(`await import(${JSON.stringify(url)});`));
    r.pythonBare.push((await timeProcess(python, ['-c', '0'])).ms);
    r.ipykernelImport.push((await timeProcess(python, ['-c', 'import ipykernel.kernelapp'])).ms);
  }
  return r;
}

/** The console line of the section. */
export function modulesNotes(ml: ModuleLoad): string[] {
  return [
    `module load (${RUNS} runs, medians): node -e 0 ${f0(median(ml.nodeBare))} ms; import launcher modules ${f0(median(ml.launcherImport))} ms (process wall ${f0(median(ml.launcherImportWall))} ms); python -c 0 ${f0(median(ml.pythonBare))} ms; import ipykernel.kernelapp ${f0(median(ml.ipykernelImport))} ms (process wall); VmHWM node empty ${f1(median(ml.nodeHwm))} MiB, node + launcher modules ${f1(median(ml.importHwm))} MiB`,
  ];
}

/** The section's table and peak-RSS line (markdown). */
export function modulesMarkdown(ml: ModuleLoad): string {
  return `Process start and module load (${RUNS} runs each, medians, wall time of a whole process unless stated):

| | ms |
|---|---|
| \`node -e 0\` | ${f0(median(ml.nodeBare))} |
| \`import()\` of packages/launcher/dist/launcher.js, measured inside node | ${f0(median(ml.launcherImport))} |
| node process that imports the launcher | ${f0(median(ml.launcherImportWall))} |
| \`python3 -c 0\` | ${f0(median(ml.pythonBare))} |
| \`python3 -c 'import ipykernel.kernelapp'\` | ${f0(median(ml.ipykernelImport))} |

Peak RSS (VmHWM) for scale: empty node process ${f1(median(ml.nodeHwm))} MiB; node process that only imports the launcher's modules ${f1(median(ml.importHwm))} MiB.`;
}
