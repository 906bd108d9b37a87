// The generated reference pages (docs/errors.md, docs/launcher-options.md)
// (the content of the options page is checked in packages/launcher/test/launcher-options-doc.test.ts)
// must match the code they are generated from. The generators read the built
// package (packages/common/dist), which the test command builds first.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '../src/errors.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

const GENERATORS = [
  { script: 'tools/gen-errors-doc.mjs', doc: 'docs/errors.md' },
  { script: 'tools/gen-launcher-options-doc.mjs', doc: 'docs/launcher-options.md' },
] as const;

function run(script: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, script), ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 }); // a safety net against a hang, generous for a loaded machine
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A fresh temporary directory, removed by `t.teardown`. */
function tempDir(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'gl-docs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

for (const { script, doc } of GENERATORS) {
  t.test(`${doc} is up to date with the code`, async (t) => {
    const r = run(script, ['--check']);
    t.equal(r.status, 0, `${doc} is stale; run \`npm run docs\`:\n${r.stderr}`);
  });

  t.test(`${script} --check fails with a hint when the document differs by one line`, async (t) => {
    const out = join(tempDir(t), 'doc.md');
    t.equal(run(script, ['--out', out]).status, 0, 'generates');
    t.equal(run(script, ['--check', '--out', out]).status, 0, 'a fresh copy passes the check');
    const lines = readFileSync(out, 'utf8').split('\n');
    const last = lines.findLastIndex((l) => l.startsWith('|'));
    lines[last] = `${lines[last]} edited by hand`;
    writeFileSync(out, lines.join('\n'));
    const r = run(script, ['--check', '--out', out]);
    t.equal(r.status, 1, 'an edited copy fails the check');
    t.match(r.stderr, /stale/);
    t.match(r.stderr, 'npm run docs');
    t.match(r.stderr, `line ${last + 1}`, 'names the first differing line');
  });

  t.test(`${script} --check fails when the document is missing`, async (t) => {
    const out = join(tempDir(t), 'missing.md');
    const r = run(script, ['--check', '--out', out]);
    t.equal(r.status, 1);
    t.match(r.stderr, /does not exist/);
    t.notOk(existsSync(out), '--check never writes');
  });

  t.test(`${script} refuses an unknown argument with status 2`, async (t) => {
    const r = run(script, ['--chek']);
    t.equal(r.status, 2);
    t.match(r.stderr, /usage/);
  });
}

t.test('the errors document lists every code, in order, with its area and meaning', async (t) => {
  const out = join(tempDir(t), 'errors.md');
  t.equal(run('tools/gen-errors-doc.mjs', ['--out', out]).status, 0);
  const rows = readFileSync(out, 'utf8')
    .split('\n')
    .map((l) => /^\| `(GL_ERR_[A-Z0-9_]+)` \| (\w+) \| (.*) \|$/.exec(l))
    .filter((m) => m !== null)
    .map((m) => [m[1], { area: m[2], meaning: m[3]!.replace(/\\\|/g, '|') }]);
  t.same(
    rows,
    Object.entries(ERROR_CODES).map(([code, info]) => [code, { area: info.area, meaning: info.meaning }]),
  );
  t.match(readFileSync(out, 'utf8'), /Branch on `code`/, 'tells callers to branch on code');
});
