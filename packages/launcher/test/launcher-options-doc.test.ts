// docs/launcher-options.md is generated from LAUNCHER_OPTIONS (this package's
// src/launcher-options.ts); its staleness is checked with the other generated
// pages in packages/common/test/docs.test.ts. Here: what the page shows.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LAUNCHER_ENV_ONLY, LAUNCHER_OPTIONS } from '../src/launcher-options.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

function run(script: string, args: string[]): { status: number | null } {
  const r = spawnSync(process.execPath, [join(root, script), ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 }); // a safety net against a hang, generous for a loaded machine
  return { status: r.status };
}

function tempDir(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'gl-docs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('the options document shows every flag, alias, environment variable, default and choice under its group', async (t) => {
  const out = join(tempDir(t), 'options.md');
  t.equal(run('tools/gen-launcher-options-doc.mjs', ['--out', out]).status, 0);
  const text = readFileSync(out, 'utf8');
  const sections = new Map(
    text
      .split(/^## /m)
      .slice(1)
      .map((s) => [s.slice(0, s.indexOf('\n')), s] as const),
  );
  for (const option of LAUNCHER_OPTIONS) {
    const section = sections.get(option.group) ?? '';
    const row = section.split('\n').find((l) => l.startsWith(`| \`--${option.name}`));
    t.ok(row, `--${option.name} has a row under ${option.group}`);
    if (row === undefined) continue;
    for (const alias of option.aliases ?? []) t.match(row, `\`--${alias}\``, `alias --${alias}`);
    for (const env of option.env ?? []) t.match(row, `\`${env}\``, `env ${env}`);
    for (const choice of option.choices ?? []) t.match(row, `\`${choice}\``, `choice ${choice}`);
    if (option.default !== undefined && option.default !== '')
      t.match(row, `\`${String(option.default)}\``, `default ${String(option.default)}`);
    t.match(row, option.describe.slice(0, 30), 'description');
  }
  for (const variable of LAUNCHER_ENV_ONLY) t.match(sections.get('Environment only') ?? '', `| \`${variable.name}\` |`, variable.name);
});
