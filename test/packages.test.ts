/**
 * What the npm packages ship: a licence file, a README, `repository`, the
 * sources their source maps name, and type declarations whose imports a
 * consumer can resolve from the package's own dependencies. And the listener
 * library does not load yargs (its CLI's parser) when imported.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PACKAGES = ['common', 'listener', 'launcher'];

interface Pkg {
  name: string;
  license: string;
  files: string[];
  repository?: { type: string; url: string; directory: string };
  dependencies?: Record<string, string>;
}

const pkgOf = (p: string): Pkg => JSON.parse(readFileSync(join(ROOT, 'packages', p, 'package.json'), 'utf8')) as Pkg;

for (const p of PACKAGES) {
  t.test(`@gateway-launchers/${p}: licence, README, repository and the sources of its source maps`, async (t) => {
    const dir = join(ROOT, 'packages', p);
    const pkg = pkgOf(p);
    t.equal(pkg.license, 'BSD-3-Clause');
    const licence = readFileSync(join(dir, 'LICENSE'), 'utf8');
    t.match(licence, /BSD 3-Clause License[\s\S]*Copyright \(c\) \d{4}, gateway-launchers contributors/);
    t.equal(licence, readFileSync(join(ROOT, 'LICENSE'), 'utf8'), 'same text as the repository LICENSE');
    t.ok(existsSync(join(dir, 'README.md')), 'README.md');
    t.match(pkg.repository, { type: 'git', directory: `packages/${p}` });
    for (const f of ['dist', 'README.md', 'LICENSE']) t.ok(pkg.files.includes(f), `files has ${f}`);
    // Every source a shipped map names must ship too.
    const maps = readdirSync(join(dir, 'dist')).filter((f) => f.endsWith('.map'));
    t.ok(maps.length > 0, 'dist has source maps');
    const missing = maps.flatMap((m) => {
      const { sources } = JSON.parse(readFileSync(join(dir, 'dist', m), 'utf8')) as { sources: string[] };
      return sources
        .map((s) => resolve(dir, 'dist', s))
        .filter((s) => !pkg.files.some((f) => s.startsWith(join(dir, f))) || !existsSync(s));
    });
    t.same(missing, [], 'each source named by a map is in the package');
  });

  const pkgJson = pkgOf(p) as { exports?: Record<string, unknown> };
  if (pkgJson.exports !== undefined && !('.' in pkgJson.exports)) {
    // The launcher is a command only: no library entry, so no declarations to check.
    t.test(`@gateway-launchers/${p}: a command only, it exports no library entry`, async (t) => {
      t.notOk('.' in (pkgJson.exports as Record<string, unknown>), 'no "." export');
    });
    continue;
  }
  t.test(
    `@gateway-launchers/${p}: the type declarations import only node built-ins and the package's dependencies (with their types)`,
    async (t) => {
      const dir = join(ROOT, 'packages', p);
      const deps = Object.keys(pkgOf(p).dependencies ?? {});
      const seen = new Set<string>();
      const bare = new Set<string>();
      const stack = [join(dir, 'dist', 'index.d.ts')];
      while (stack.length > 0) {
        const file = stack.pop() as string;
        if (seen.has(file)) continue;
        seen.add(file);
        for (const m of readFileSync(file, 'utf8').matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"]([^'"]+)['"]/g)) {
          const spec = m[1] as string;
          if (spec.startsWith('.')) {
            const next = resolve(dirname(file), spec.replace(/\.js$/, '.d.ts'));
            if (existsSync(next)) stack.push(next);
          } else {
            bare.add(spec);
          }
        }
      }
      const unresolved = [...bare].filter((spec) => {
        if (spec.startsWith('node:') || builtinModules.includes(spec)) return false;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string);
        if (!deps.includes(name)) return true;
        // A dependency without its own types needs @types/<name> among the dependencies too.
        const own = JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
          types?: string;
          typings?: string;
          exports?: unknown;
        };
        const hasTypes =
          own.types !== undefined ||
          own.typings !== undefined ||
          JSON.stringify(own.exports ?? {}).includes('"types"') ||
          existsSync(join(ROOT, 'node_modules', name, 'index.d.ts'));
        return !hasTypes && !deps.includes(`@types/${name.replace(/^@([^/]+)\//, '$1__')}`);
      });
      t.same(unresolved, [], `declarations import: ${[...bare].join(', ')}`);
    },
  );
}

/** Runs `code` (ESM) in a child node with a loader hook that records every module URL loaded. */
function modulesLoadedBy(code: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'gl-loads-'));
  try {
    const log = join(dir, 'loaded.txt');
    writeFileSync(
      join(dir, 'hooks.mjs'),
      "import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) {\n  appendFileSync(process.env.GL_LOAD_LOG, `${url}\\n`);\n  return next(url, context);\n}\n",
    );
    writeFileSync(
      join(dir, 'register.mjs'),
      "import { register } from 'node:module';\nregister(new URL('./hooks.mjs', import.meta.url));\n",
    );
    writeFileSync(log, '');
    const r = spawnSync(
      process.execPath,
      [
        '--import',
        join(dir, 'register.mjs'),
        '--input-type=module',
        '-e',
        `${code}\nimport { createRequire } from 'node:module';\nconsole.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));`,
      ],
      {
        env: { PATH: process.env.PATH, GL_LOAD_LOG: log },
        encoding: 'utf8',
        cwd: ROOT,
      },
    );
    if (r.status !== 0) throw new Error(r.stderr);
    const cjs = JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as string[];
    return [...readFileSync(log, 'utf8').split('\n').filter(Boolean), ...cjs];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

t.test('importing the listener library loads no yargs; its CLI module does (the check sees yargs when it is there)', async (t) => {
  const index = join(ROOT, 'packages/listener/dist/index.js');
  const cli = join(ROOT, 'packages/listener/dist/wait-command.js');
  const library = modulesLoadedBy(`await import(${JSON.stringify(index)});`);
  t.ok(
    library.some((u) => u.includes('/packages/listener/dist/response-listener.js')),
    'the library itself was loaded and seen',
  );
  t.same(
    library.filter((u) => /\/node_modules\/yargs(-parser)?\//.test(u)),
    [],
    'no yargs module',
  );
  const withCli = modulesLoadedBy(`await import(${JSON.stringify(cli)});`);
  t.ok(
    withCli.some((u) => /\/node_modules\/yargs\//.test(u)),
    'the CLI module loads yargs, and the check sees it',
  );
});

t.test(
  'install-system-deps.sh: the demo profile asks for the kernel packages only; the test profile for everything the suite uses',
  async (t) => {
    // Stand-ins on PATH: dpkg-query knows no package, id says "not root", so the script lists what it would install and stops.
    const bin = mkdtempSync(join(tmpdir(), 'gl-deps-'));
    t.teardown(() => rmSync(bin, { recursive: true, force: true }));
    writeFileSync(join(bin, 'dpkg-query'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
    writeFileSync(join(bin, 'id'), '#!/bin/sh\necho 1000\n', { mode: 0o755 });
    const run = (profile: string) =>
      spawnSync('bash', [join(ROOT, 'tools/install-system-deps.sh'), profile], {
        env: { PATH: `${bin}:/usr/bin:/bin` },
        encoding: 'utf8',
      });
    const listed = (stderr: string): string[] =>
      (/missing Debian packages \(\w+\): (.*)/.exec(stderr)?.[1] ?? '').split(' ').filter(Boolean);
    const demo = run('demo');
    t.equal(demo.status, 1);
    t.same(listed(demo.stderr), ['python3-ipykernel', 'python3-jupyter-client'], 'demo: no R, no sshd, no podman');
    const test = run('test');
    for (const p of [
      'python3-ipykernel',
      'r-cran-irkernel',
      'openssh-server',
      'nftables',
      'python3-jupyter-server',
      'python3-pytest',
      'python3-jupyter-kernel-test',
      'python3-venv',
      'podman',
      'runc',
      'debootstrap',
      'uidmap',
      'slirp4netns',
      'fuse-overlayfs',
    ]) {
      t.ok(listed(test.stderr).includes(p), `test profile has ${p}`);
    }
    t.equal(run('bogus').status, 2, 'an unknown profile is a usage error');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    t.match(pkg.scripts.demo, /install-system-deps\.sh demo /, 'npm run demo uses the demo profile');
  },
);
