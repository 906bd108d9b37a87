// Shared plumbing of the doc generators: argument parsing, loading the built
// common package, and writing or checking the generated file.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository root. */
export const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Reads `--check` and `--out PATH` from argv; exits with status 2 and a usage
 * line on anything else.
 */
export function parseArgs(argv, { script, defaultOut }) {
  const options = { check: false, out: resolve(root, defaultOut) };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--check') options.check = true;
    else if (arg === '--out' && i + 1 < argv.length) options.out = resolve(process.cwd(), argv[++i]);
    else if (arg.startsWith('--out=')) options.out = resolve(process.cwd(), arg.slice('--out='.length));
    else {
      console.error(`${script}: unknown argument '${arg}'`);
      console.error(`usage: node tools/${script} [--check] [--out PATH]   (default PATH: ${defaultOut})`);
      process.exit(2);
    }
  }
  return options;
}

/** Imports a module of the built common package, with a hint when it is not built. */
export async function importCommon(file) {
  return importBuilt('common', file);
}

/** Imports a module of a built package (`packages/<pkg>/dist/<file>`), or exits 2 with a hint. */
export async function importBuilt(pkg, file) {
  const path = resolve(root, `packages/${pkg}/dist`, file);
  if (!existsSync(path)) {
    console.error(`${relative(root, path)} is missing: build the ${pkg} package first (npx tsc -b packages/${pkg}, or npm run docs)`);
    process.exit(2);
  }
  return import(pathToFileURL(path).href);
}

/**
 * Writes `text` to `out`, or with `check` compares it with the file there and
 * exits 1 with a hint (and the first differing line) when they differ.
 */
export function writeOrCheck(text, { check, out }, { source }) {
  const shown = relative(process.cwd(), out) || out;
  if (!check) {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, text);
    console.log(`wrote ${shown}`);
    return;
  }
  const current = existsSync(out) ? readFileSync(out, 'utf8') : undefined;
  if (current === text) return;
  console.error(current === undefined ? `${shown} does not exist.` : `${shown} is stale: it differs from what ${source} defines.`);
  if (current !== undefined) {
    const want = text.split('\n');
    const have = current.split('\n');
    const line = want.findIndex((l, i) => l !== have[i]);
    const at = line < 0 ? want.length : line;
    console.error(
      `first difference at line ${at + 1}:\n  expected: ${JSON.stringify(want[at] ?? '<end of file>')}\n  found:    ${JSON.stringify(have[at] ?? '<end of file>')}`,
    );
  }
  console.error('Regenerate it with `npm run docs` and commit the result.');
  process.exit(1);
}

/** Escapes text for a Markdown table cell. */
export function cell(text) {
  return String(text).replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}
