/**
 * Helpers for the deployment recipe tests: the bundle as an install tree in a
 * temp directory outside the repository, kernelspecs rendered by the shipped
 * installer, and processes started the way a host would start them.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PATIENT_LAUNCHER_ENV, spawnWithLogs } from '../../../packages/launcher/test/helpers/launcher-process.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const BUNDLE_DIR = join(ROOT, 'bundle');
export const BUNDLE_FILE = join(BUNDLE_DIR, 'gateway-launcher.mjs');
export const STANDINS = join(ROOT, 'packages/launcher/test/fixtures/standins');
export const SPARK_SUBMIT_DOUBLE = join(ROOT, 'test/deploy/fixtures/spark-submit-double.mjs');
/** Debian's interpreter: the only one here with ipykernel and jupyter_client. */
export const PYTHON = '/usr/bin/python3';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Builds bundle/ when it is missing or older than the launcher's compiled JS
 * or the recipes (the test command builds it before tap; this covers running
 * one test file by hand).
 */
export function ensureBundle(): void {
  const sources = Math.max(
    newestMtime(join(ROOT, 'packages/launcher/dist')),
    newestMtime(join(ROOT, 'packages/common/dist')),
    newestMtime(join(ROOT, 'packages/listener/dist')),
    newestMtime(join(ROOT, 'deploy/container')),
    newestMtime(join(ROOT, 'deploy/yarn')),
    newestMtime(join(ROOT, 'deploy/ssh')),
    newestMtime(join(ROOT, 'deploy/kernelspecs')),
  );
  if (existsSync(BUNDLE_FILE) && existsSync(join(BUNDLE_DIR, 'gateway-listener.mjs')) && statSync(BUNDLE_FILE).mtimeMs >= sources) return;
  const r = spawnSync(process.execPath, [join(ROOT, 'tools/bundle.mjs')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm run bundle failed: ${r.stderr}`);
}

/**
 * Copies bundle/ to a fresh directory in the system temp dir, the way an
 * operator installs it on a host: nothing of the repository (no
 * node_modules) on any path above it. Removed by the returned cleanup.
 */
export function installBundle(): { home: string; cleanup: () => void } {
  ensureBundle();
  const base = mkdtempSync(join(tmpdir(), 'gl-install-'));
  const home = join(base, 'gateway-launcher');
  cpSync(BUNDLE_DIR, home, { recursive: true });
  return { home, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

/** Renders kernelspecs with install.mjs (by default the installed copy in `home`); returns name → parsed kernel.json. */
export function renderKernelspecs(
  home: string,
  options: Record<string, string>,
  names: readonly string[] = [],
  installer = join(home, 'kernelspecs/install.mjs'),
): Record<string, KernelSpec> {
  const dest = mkdtempSync(join(tmpdir(), 'gl-kernels-'));
  const flags = Object.entries(options).flatMap(([k, v]) => [`--${k}`, v]);
  const r = spawnSync(process.execPath, [installer, '--dest', dest, '--home', home, '--prefix', '', ...flags, ...names], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`install.mjs failed: ${r.stderr}`);
  const specs: Record<string, KernelSpec> = {};
  for (const name of readdirSync(dest)) specs[name] = JSON.parse(readFileSync(join(dest, name, 'kernel.json'), 'utf8')) as KernelSpec;
  rmSync(dest, { recursive: true, force: true });
  return specs;
}

/** The parts of a kernel.json the tests use. */
export interface KernelSpec {
  display_name: string;
  language: string;
  interrupt_mode?: string;
  argv: string[];
  env?: Record<string, string>;
  metadata?: Record<string, unknown>;
}

/** A process started as a host starts a kernelspec's argv, with its output kept and JSON log lines parsed. */
export interface HostProcess {
  child: ChildProcess;
  logs: Array<Record<string, unknown>>;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM (a launcher stops its kernel), SIGKILL after 20 s. */
  stop: () => Promise<void>;
}

export function startProcess(argv: readonly string[], env: NodeJS.ProcessEnv, cwd?: string): HostProcess {
  const run = spawnWithLogs(argv, env, { ...(cwd === undefined ? {} : { cwd }), captureStdout: true });
  return { child: run.child, logs: run.logs, output: run.stderr, exited: run.exited, stop: run.stop };
}

/**
 * The environment a host gives a kernelspec's process: a minimal base with the
 * launcher's time limits raised for a loaded machine, the kernelspec's env, then the launch's.
 */
export function hostEnv(spec: KernelSpec, launch: Record<string, string>, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LOG_LEVEL: 'debug',
    ...PATIENT_LAUNCHER_ENV,
    ...(spec.env ?? {}),
    ...launch,
    ...extra,
  };
}

/** Reads a JSON-lines record file written by the stand-ins (missing file: no lines). */
export function standinEvents(file: string): Array<Record<string, unknown>> {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => (l.startsWith('{') ? (JSON.parse(l) as Record<string, unknown>) : { event: l.trim() }));
}

/** True while some process has `needle` in its command line (scans /proc). */
export function anyCommandLineContains(needle: string): boolean {
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(needle)) return true;
    } catch {
      // gone
    }
  }
  return false;
}

/** True while process `pid` exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
