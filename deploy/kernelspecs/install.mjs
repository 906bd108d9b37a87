#!/usr/bin/env node
// Installs gateway-launcher's kernelspecs: fills the install-time placeholders
// (${NAME}) of each <name>/kernel.json beside this file and writes
// <dest>/<prefix><name>/kernel.json. Runtime placeholders ({kernel_id}, …,
// Gateway Provisioners' own) are left for the host to fill.
//
// usage: node install.mjs --dest DIR [--home DIR] [--node PATH] [--python PATH]
//          [--spark-home DIR] [--rscript PATH] [--ssh-hosts "h1 h2"] [--prefix P] [name…]
//   --home   where the bundle is installed (default: the directory above this script,
//            which is right when this runs from an installed bundle)
//   name…    which kernelspecs (default: all)
// Exits 2 on a usage error, naming it.
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const here = dirname(new URL(import.meta.url).pathname);

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    dest: { type: 'string' },
    home: { type: 'string', default: resolve(here, '..') },
    node: { type: 'string', default: 'node' },
    python: { type: 'string', default: 'python3' },
    'spark-home': { type: 'string', default: '/opt/spark' },
    rscript: { type: 'string', default: 'Rscript' },
    'ssh-hosts': { type: 'string', default: '' },
    prefix: { type: 'string', default: 'gl_' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

/** The install-time placeholders and what fills them. */
const placeholders = {
  GATEWAY_LAUNCHER_HOME: resolve(values.home),
  NODE: values.node,
  PYTHON: values.python,
  SPARK_HOME: values['spark-home'],
  RSCRIPT: values.rscript,
  SSH_HOSTS: values['ssh-hosts'],
};

function fail(message) {
  console.error(`install.mjs: ${message}`);
  process.exit(2);
}

if (values.help) {
  console.log(
    readFileSync(new URL(import.meta.url), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('//'))
      .map((l) => l.slice(3))
      .join('\n'),
  );
  process.exit(0);
}
if (values.dest === undefined) fail('--dest DIR is required (for example ~/.local/share/jupyter/kernels)');

const available = readdirSync(here, { withFileTypes: true })
  .filter((e) => e.isDirectory() && existsSync(join(here, e.name, 'kernel.json')))
  .map((e) => e.name)
  .sort();
const chosen = positionals.length === 0 ? available : positionals;
for (const name of chosen) if (!available.includes(name)) fail(`no kernelspec '${name}' (have: ${available.join(', ')})`);

for (const name of chosen) {
  const template = readFileSync(join(here, name, 'kernel.json'), 'utf8');
  // Substitute inside the parsed JSON's strings so a value never breaks the JSON.
  const spec = JSON.parse(template, (_key, value) =>
    typeof value === 'string'
      ? value.replace(/\$\{([A-Z_]+)\}/g, (m, p) => {
          if (!(p in placeholders)) fail(`${name}/kernel.json uses \${${p}}, which install.mjs does not know`);
          return placeholders[p];
        })
      : value,
  );
  const out = join(resolve(values.dest), `${values.prefix}${name}`);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'kernel.json'), `${JSON.stringify(spec, null, 2)}\n`);
  console.log(`installed ${out}`);
}
