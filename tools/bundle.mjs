#!/usr/bin/env node
// `npm run bundle`: gateway-launcher as a directory that runs with only `node`
// on the target (no npm install on YARN nodes or in slim images):
//
//   bundle/gateway-launcher.mjs        the launcher and every pure-JS dependency, one ESM file
//   bundle/python/                     the python preset's handoff bootstrap (handoff mode)
//   bundle/gateway-listener.mjs        the operators' `gateway-listener wait`, one ESM file (no native code)
//   bundle/node_modules/zeromq/        zeromq's runtime files and its prebuilt Linux addons
//   bundle/node_modules/cmake-ts/      the addon loader zeromq requires at run time
//   bundle/THIRD_PARTY_LICENSES.txt    licences of everything bundled or copied
//   bundle/container/ yarn/ ssh/ kernelspecs/   the deployment recipes (docs/deploy-*.md)
//
// YARN needs the directory as an archive (spark-submit --archives): yarn/run.sh
// makes it on demand at each submission, so the bundle does not carry a second
// copy of itself. `--archive PATH` writes one ahead of time, outside the bundle.
//
// The directory is the install tree: copy it to /opt/gateway-launcher (or
// anywhere) on hosts and into images; nothing else is needed but `node`.
// zeromq stays outside the file (a native addon cannot be inlined) and is
// loaded only when used: the kernel's control channel and proxy mode.
//
// usage: node tools/bundle.mjs [--out DIR] [--arch x64,arm64] [--archive PATH]
//   --arch        CPU architectures whose Linux addons (glibc and musl) to include; default: this machine's
//   --archive     also write the bundle as a .tar.gz at PATH (for GATEWAY_LAUNCHER_ARCHIVE); not inside --out
//   --no-archive  accepted for compatibility; there is no archive by default
// Expects `tsc -b packages/launcher packages/listener` to have run (the npm script does it).
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const root = new URL('..', import.meta.url).pathname;
const { values } = parseArgs({
  options: {
    out: { type: 'string', default: join(root, 'bundle') },
    arch: { type: 'string', default: process.arch },
    archive: { type: 'string' },
    'no-archive': { type: 'boolean', default: false },
  },
});
const out = resolve(values.out);
const arches = new Set(
  values.arch
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean),
);
const entry = join(root, 'packages/launcher/dist/cli.js');
const listenerEntry = join(root, 'packages/listener/dist/cli.js');
for (const e of [entry, listenerEntry]) {
  if (!existsSync(e)) {
    console.error(
      `bundle: ${relative(root, e)} is missing; run \`npx tsc -b packages/launcher packages/listener\` first (npm run bundle does)`,
    );
    process.exit(1);
  }
}
if (values.archive !== undefined && resolve(values.archive).startsWith(`${resolve(values.out)}/`)) {
  console.error('bundle: --archive must be outside the bundle directory');
  process.exit(1);
}

/**
 * zeromq is a native addon (copied next to the bundle, below) that the
 * launcher loads only when it needs it: a dynamic import for the control
 * channel, and the proxy module, itself imported dynamically, for proxy mode.
 * esbuild would hoist the proxy module's static `import * as zmq` to the top
 * of the single file and load the addon at every start; turning that import
 * into a CommonJS require keeps it inside the lazily run proxy module.
 */
const lazyZeromq = {
  name: 'lazy-zeromq',
  setup(b) {
    b.onResolve({ filter: /^zeromq$/ }, (args) =>
      args.kind === 'import-statement' ? { path: 'zeromq', namespace: 'lazy-zeromq' } : { path: 'zeromq', external: true },
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-zeromq' }, () => ({
      contents: "module.exports = require('zeromq');",
      loader: 'js',
      resolveDir: root,
    }));
  },
};

const t0 = performance.now();
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

// 1. One ESM file per command. CommonJS dependencies (pino, ws, tweetnacl) call
//    `require` for Node built-ins, which an ES module does not have: the banner
//    gives it one.
/** What both commands' builds share. */
const esmBuild = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minify: true,
  keepNames: true,
  legalComments: 'none', // collected into THIRD_PARTY_LICENSES.txt instead
  metafile: true,
  // bufferutil / utf-8-validate: optional accelerators ws loads inside
  // try/catch; absent here, absent there.
  external: ['bufferutil', 'utf-8-validate'],
  banner: { js: "import { createRequire as __glCreateRequire } from 'node:module';\nconst require = __glCreateRequire(import.meta.url);" },
  logLevel: 'warning',
};
const bundleFile = join(out, 'gateway-launcher.mjs');
// zeromq: see lazyZeromq.
const result = await build({ ...esmBuild, entryPoints: [entry], outfile: bundleFile, plugins: [lazyZeromq] });
chmodSync(bundleFile, 0o755);

// 1b. The handoff bootstrap the python preset imports (handoff-bootstrap.ts finds it in ./python/).
cpSync(join(root, 'packages/launcher/python'), join(out, 'python'), {
  recursive: true,
  filter: (p) => !p.includes('__pycache__') && (statSync(p).isDirectory() || p.endsWith('.py')),
});
// 1c. The listener CLI, for operators debugging a kernel image: pure JS (no
//     zeromq), so the file alone runs anywhere `node` does.
const listenerFile = join(out, 'gateway-listener.mjs');
const listenerResult = await build({ ...esmBuild, entryPoints: [listenerEntry], outfile: listenerFile });
chmodSync(listenerFile, 0o755);

// 2. zeromq's runtime: its compiled lib, the addon manifest (trimmed to what
//    is shipped) and the Linux addons for the chosen architectures.
const require = createRequire(join(root, 'packages/launcher/package.json'));
const zmqDir = dirname(require.resolve('zeromq/package.json'));
const zmqOut = join(out, 'node_modules/zeromq');
const isRuntimeJs = (p) => (statSync(p).isDirectory() ? !p.endsWith('ts3.7') : p.endsWith('.js'));
cpSync(join(zmqDir, 'lib'), join(zmqOut, 'lib'), { recursive: true, filter: isRuntimeJs });
for (const f of ['package.json', 'LICENSE.txt', 'LICENSE_MPL-2.0.txt']) cpSync(join(zmqDir, f), join(zmqOut, f));
const manifest = JSON.parse(readFileSync(join(zmqDir, 'build/manifest.json'), 'utf8'));
const shipped = {};
for (const [key, addon] of Object.entries(manifest)) {
  const cfg = JSON.parse(key);
  // Node 20 (ABI 115) is the oldest Node the launcher runs on.
  if (cfg.os !== 'linux' || !arches.has(cfg.arch) || (cfg.abi ?? 0) < 115) continue;
  const from = join(zmqDir, 'build', addon);
  if (!existsSync(from)) continue;
  cpSync(from, join(zmqOut, 'build', addon));
  shipped[key] = addon;
}
if (Object.keys(shipped).length === 0) {
  console.error(`bundle: zeromq has no Linux addon for ${[...arches].join(', ')}`);
  process.exit(1);
}
writeFileSync(join(zmqOut, 'build/manifest.json'), JSON.stringify(shipped));

// cmake-ts: zeromq's lib/load-addon.js requires cmake-ts/build/loader (plain Node built-ins only).
// (its exports map hides package.json, so find the package from the loader itself)
const cmakeDir = dirname(dirname(createRequire(join(zmqDir, 'package.json')).resolve('cmake-ts/build/loader')));
const cmakeOut = join(out, 'node_modules/cmake-ts');
cpSync(join(cmakeDir, 'package.json'), join(cmakeOut, 'package.json'));
for (const f of ['loader.js', 'loader.mjs']) cpSync(join(cmakeDir, 'build', f), join(cmakeOut, 'build', f));

// 3. Licences of every package that went into the bundle or was copied.
const packages = new Map();
for (const input of [...Object.keys(result.metafile.inputs), ...Object.keys(listenerResult.metafile.inputs)]) {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (m !== null) packages.set(m[1], join(root, input.slice(0, m.index + m[0].length - 1)));
}
packages.set('zeromq', zmqDir);
packages.set('cmake-ts', cmakeDir);
const notices = ['Third-party software in this bundle, with its licence texts.', ''];
for (const [name, dir] of [...packages].sort(([a], [b]) => a.localeCompare(b))) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  notices.push('='.repeat(78), `${name} ${pkg.version} — ${pkg.license ?? 'see package'}`, '='.repeat(78));
  const files = readdirSync(dir).filter((f) => /^(licen[cs]e|copying|notice)/i.test(f));
  for (const f of files) notices.push(readFileSync(join(dir, f), 'utf8').trim(), '');
  if (files.length === 0) notices.push(`(no licence file in the package; its package.json says: ${pkg.license ?? 'nothing'})`, '');
}
writeFileSync(join(out, 'THIRD_PARTY_LICENSES.txt'), `${notices.join('\n')}\n`);

// 4. The deployment recipes, so the directory is all an operator installs.
const recipes = {
  'container/entrypoint.sh': 'container/entrypoint.sh',
  'container/kernel-pod.yaml': 'container/kernel-pod.yaml',
  'yarn/run.sh': 'yarn/run.sh',
  'yarn/launch_gateway_launcher.py': 'yarn/launch_gateway_launcher.py',
  'yarn/launch_gateway_launcher.R': 'yarn/launch_gateway_launcher.R',
  'ssh/launch-over-ssh.sh': 'ssh/launch-over-ssh.sh',
  kernelspecs: 'kernelspecs',
};
for (const [from, to] of Object.entries(recipes)) cpSync(join(root, 'deploy', from), join(out, to), { recursive: true });

// 5. An archive ahead of time, when asked for (yarn/run.sh otherwise makes one per submission).
if (values.archive !== undefined) {
  const archive = resolve(values.archive);
  mkdirSync(dirname(archive), { recursive: true });
  const tar = spawnSync('tar', ['-czf', archive, '-C', out, '.'], { stdio: 'inherit' });
  if (tar.status !== 0) process.exit(tar.status ?? 1);
}

const size = (p) => (statSync(p).isDirectory() ? readdirSync(p).reduce((n, f) => n + size(join(p, f)), 0) : statSync(p).size);
const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;
console.log(
  `bundle: ${relative(process.cwd(), bundleFile) || bundleFile} ${kib(statSync(bundleFile).size)}, gateway-listener.mjs ${kib(statSync(listenerFile).size)}, ` +
    `zeromq runtime ${kib(size(join(out, 'node_modules')))} (${Object.values(shipped).join(', ')}), ` +
    `${packages.size} packages, ${Math.round(performance.now() - t0)} ms`,
);
