#!/usr/bin/env node
// The project's test command: build + typecheck, then every package's tap
// tests, then one plain closing line `N passed, N failed` that CI reads.
// A "test" here is one top-level t.test() (or top-level assertion) of a file;
// a file that crashes before reporting counts as one failure.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Parser } from 'tap-parser';

const root = new URL('..', import.meta.url).pathname;
const extra = process.argv.slice(2);

// tap's TypeScript loader does not find the root tsconfig from a child's cwd;
// point it at the one that compiles tests as ESM.
const env = { ...process.env, TS_NODE_PROJECT: join(root, 'tsconfig.tap.json') };

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env });
  return r.status ?? 1;
}

// A fresh Debian machine lacks the real ipykernel, jupyter_client and the
// independent crypto implementations the tests use: install them (no-op when present).
if (run('bash', ['scripts/install-system-deps.sh', 'test']) !== 0) {
  console.log('system dependencies missing (see above)');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

if (run('npm', ['run', '--silent', 'typecheck']) !== 0) {
  console.log('typecheck failed');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

// The deployment recipe tests run the single-file launcher from outside the repository.
if (run('node', ['scripts/bundle.mjs']) !== 0) {
  console.log('bundle failed');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const files = extra.length > 0 ? extra : ['packages', 'scripts'].flatMap((dir) => findTests(join(root, dir)));
const resultsDir = join(root, '.tap', 'test-results');
rmSync(resultsDir, { recursive: true, force: true });
const tapStatus = run('npx', ['tap', ...files.map((f) => relative(root, f))]);

let passed = 0;
let failed = 0;
const failures = [];
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
  if (counts.passed + counts.failed === 0 || counts.bailed) {
    failed++;
    failures.push(`${rel}: ran no test or bailed out`);
  }
}
if (tapStatus !== 0 && failed === 0) {
  failed++;
  failures.push(`tap exited with status ${tapStatus}`);
}
if (failures.length > 0) console.log(`\nfailed:\n  ${failures.join('\n  ')}`);
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

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
  const result = { passed: 0, failed: 0, failedNames: [], bailed: false };
  const parser = new Parser();
  parser.on('assert', (a) => {
    if (a.skip || a.todo) return;
    if (a.ok) result.passed++;
    else {
      result.failed++;
      result.failedNames.push(a.name);
    }
  });
  parser.on('bailout', () => {
    result.bailed = true;
  });
  parser.end(tap);
  return result;
}
