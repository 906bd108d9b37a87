#!/usr/bin/env node
// The project's test command: build + typecheck, lint and format check, then the tap tests of a tier,
// then one plain closing line `N passed, N failed` that CI reads.
// A "test" here is one top-level t.test() (or top-level assertion) of a file;
// a file that crashes before reporting counts as one failure.
//
// Tiers, decided by file name alone (see CONTRIBUTING.md):
//   *.system.test.ts  system: real processes, kernels, Debian packages (Python's
//                     ipykernel, jupyter_client, ...), the bundle, namespaces (root)
//   other *.test.ts   unit: in-process (or plain `node`) tests, no root, no apt, no bundle
// Test files live in a package's `test/` directory (that package alone) or in the
// top-level test/ (test/e2e: the packages together; test/deploy: the recipes of deploy/
// run from the bundle; test/*.test.ts: the repository as a whole).
//
// usage: node tools/run-tests.mjs [--tier unit|system|all] [--list] [FILE...]
//   (npm test = all; npm run test:unit; npm run test:system). Files given
//   explicitly run whatever their tier, with the preparation of the tier asked for.
//   --list prints the files the tier would run, each with its tier, and runs nothing.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { Parser } from 'tap-parser';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
let tier = 'all';
let listOnly = false;
const extra = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--list') listOnly = true;
  else if (args[i] === '--tier') tier = args[++i] ?? '';
  else if (args[i]?.startsWith('--tier=')) tier = args[i].slice('--tier='.length);
  else extra.push(args[i]);
}
if (!['unit', 'system', 'all'].includes(tier)) {
  console.log(`unknown tier '${tier}' (unit, system or all)`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

/** The tier of a test file, from its name. */
function tierOf(file) {
  return /\.system\.test\.ts$/.test(file) ? 'system' : 'unit';
}

// tap's TypeScript loader does not find the root tsconfig from a child's cwd;
// point it at the one that compiles tests as ESM.
const env = { ...process.env, TS_NODE_PROJECT: join(root, 'tsconfig.tap.json') };

function run(cmd, cmdArgs) {
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit', env });
  return r.status ?? 1;
}

function fail(what) {
  console.log(what);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

/** Where test files are looked for (see the header). */
const TEST_ROOTS = ['packages', 'test'];

if (listOnly) {
  const listed = extra.length > 0 ? extra.map((f) => resolve(f)) : discover();
  for (const f of listed) console.log(`${tierOf(f)}\t${relative(root, f)}`);
  process.exit(listed.length > 0 ? 0 : 1);
}

const needsSystem = tier !== 'unit';

// A fresh Debian machine lacks the real ipykernel, jupyter_client and the
// independent crypto implementations the system tests use: install them (no-op when present).
if (needsSystem && run('bash', ['tools/install-system-deps.sh', 'test']) !== 0) fail('system dependencies missing (see above)');

// Unit tests run the built CLIs too (`node dist/cli.js`): typecheck builds them.
if (run('npm', ['run', '--silent', 'typecheck']) !== 0) fail('typecheck failed');

// The rules the tools keep (eslint.config.js, .prettierrc.json): each check counts as one test.
const checks = [
  ['lint (npm run lint)', run('npx', ['eslint', '.']) === 0],
  ['format (npm run format:check)', run('npx', ['prettier', '--check', '--log-level', 'warn', '.']) === 0],
];

// The deployment recipe tests run the single-file launcher from outside the repository.
if (needsSystem && run('node', ['tools/bundle.mjs']) !== 0) fail('bundle failed');

const files = extra.length > 0 ? extra.map((f) => resolve(f)) : discover();
if (files.length === 0) fail(`no test files for tier ${tier}`);
const resultsDir = join(root, '.tap', 'test-results');
rmSync(resultsDir, { recursive: true, force: true });
const { status: tapStatus, fileResults } = await runTap(files.map((f) => relative(root, f)));

let passed = 0;
let failed = 0;
const failures = [];
for (const [name, ok] of checks) {
  if (ok) passed++;
  else {
    failed++;
    failures.push(`${name}: see its output above`);
  }
}
const skippedFiles = [];
for (const file of files) {
  const rel = relative(root, file);
  const tapFile = join(resultsDir, `${rel}.tap`);
  if (!existsSync(tapFile)) {
    failed++;
    failures.push(`${rel}: no results`);
    continue;
  }
  const counts = countTopLevel(readFileSync(tapFile, 'utf8'));
  passed += counts.passed;
  failed += counts.failed;
  for (const name of counts.failedNames) failures.push(`${rel}: ${name}`);
  // A file tap failed as a whole (killed at its timeout, crashed after its last test) though none of its tests did.
  if (fileResults.get(rel) === false && counts.failed === 0 && !counts.bailed && counts.passed > 0) {
    failed++;
    failures.push(`${rel}: the file failed after its tests (timeout or crash; see tap's output above)`);
  }
  if (counts.skippedFile) {
    skippedFiles.push(`${rel}: ${counts.skippedFile}`);
    continue;
  }
  if (counts.passed + counts.failed === 0 || counts.bailed) {
    failed++;
    failures.push(`${rel}: ran no test or bailed out`);
  }
}
if (tapStatus !== 0 && failed === 0) {
  failed++;
  failures.push(`tap exited with status ${tapStatus}`);
}
if (skippedFiles.length > 0) console.log(`\nskipped as a whole (not counted):\n  ${skippedFiles.join('\n  ')}`);
if (failures.length > 0) console.log(`\nfailed:\n  ${failures.join('\n  ')}`);
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

/**
 * Runs tap on `rel` files, its output passed through; resolves with its exit
 * status and, per file, whether tap reported the file ok.
 */
function runTap(rel) {
  return new Promise((resolvePromise) => {
    const child = spawn('npx', ['tap', ...rel], { cwd: root, stdio: ['inherit', 'pipe', 'inherit'], env });
    const fileResults = new Map();
    const parser = new Parser();
    parser.on('assert', (a) => fileResults.set(a.name.replace(/ # .*$/, ''), a.ok));
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      parser.write(chunk);
    });
    child.on('close', (code) => {
      parser.end();
      resolvePromise({ status: code ?? 1, fileResults });
    });
  });
}

/** The test files of the tier asked for, sorted. */
function discover() {
  return TEST_ROOTS.flatMap((dir) => findTests(join(root, dir))).filter((f) => tier === 'all' || tierOf(f) === tier);
}

function findTests(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...findTests(p));
    else if (/\.test\.ts$/.test(entry.name) && /[\\/]test[\\/]/.test(p)) out.push(p);
  }
  return out.sort();
}

function countTopLevel(tap) {
  const result = { passed: 0, failed: 0, failedNames: [], bailed: false, skippedFile: '' };
  const parser = new Parser();
  parser.on('assert', (a) => {
    if (a.skip || a.todo) return;
    if (a.ok) result.passed++;
    else {
      result.failed++;
      result.failedNames.push(a.name);
    }
  });
  // `t.plan(0, reason)`: the whole file skipped itself (cross-host without root, say).
  parser.on('plan', (p) => {
    if (p.end === 0 && p.comment) result.skippedFile = p.comment;
  });
  parser.on('bailout', () => {
    result.bailed = true;
  });
  parser.end(tap);
  return result;
}
