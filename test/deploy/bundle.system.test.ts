import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { join, relative } from 'node:path';
import { isFailureResponse, type ResponseSuccess } from '@gateway-launchers/common';
import { Receiver } from '../../packages/launcher/test/helpers/receiver.js';
import {
  PATIENT_LAUNCHER_ENV,
  controlText,
  groupAlive,
  kernelClient,
  sendComm,
  replyOf,
} from '../../packages/launcher/test/helpers/launcher-process.js';
import { BUNDLE_DIR, BUNDLE_FILE, PYTHON, ROOT, ensureBundle, installBundle, startProcess } from './helpers/deploy.js';

const RANGE = '47000..48000';

/** The installed bundle's launcher for a python kernel, with only node, the bundle and the kernel's Python: no NODE_PATH, cwd `home`. */
function startBundledLauncher(
  home: string,
  receiver: Receiver,
  kernelId: string,
  extraArgs: string[],
  logLevel: string,
): ReturnType<typeof startProcess> {
  return startProcess(
    [
      process.execPath,
      join(home, 'gateway-launcher.mjs'),
      '--kernel-id',
      kernelId,
      '--response-address',
      receiver.address,
      '--public-key',
      receiver.publicKey,
      '--port-range',
      RANGE,
      ...extraArgs,
      '--kernel-language',
      'python',
      '--python',
      PYTHON,
    ],
    { PATH: '/usr/bin:/bin', HOME: process.env.HOME, LOG_LEVEL: logLevel, ...PATIENT_LAUNCHER_ENV, KERNEL_LAUNCH_TOKEN: receiver.token },
    home,
  );
}

function dirSize(p: string): number {
  return statSync(p).isDirectory() ? readdirSync(p).reduce((n, f) => n + dirSize(join(p, f)), 0) : statSync(p).size;
}

t.test('npm run bundle makes one ESM file that imports only Node built-ins and zeromq, plus zeromq runtime files', async (t) => {
  ensureBundle();
  const text = readFileSync(BUNDLE_FILE, 'utf8');
  t.ok(text.startsWith('#!/usr/bin/env node\n'), 'runs as a script');
  t.ok(statSync(BUNDLE_FILE).mode & 0o100, 'executable');
  const specifiers = new Set(
    [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)["']([^"']+)["']/g)].map((m) => m[1] as string),
  );
  const foreign = [...specifiers].filter(
    (s) =>
      !s.startsWith('node:') &&
      s !== 'zeromq' &&
      ![
        'fs',
        'path',
        'os',
        'net',
        'crypto',
        'events',
        'stream',
        'util',
        'url',
        'http',
        'https',
        'tls',
        'zlib',
        'buffer',
        'child_process',
        'worker_threads',
        'module',
        'assert',
        'tty',
        'string_decoder',
        'diagnostics_channel',
        'async_hooks',
        'timers',
        'perf_hooks',
        'readline',
        'process',
        'dns',
        'v8',
        'bufferutil',
        'utf-8-validate',
      ].includes(s),
  );
  t.same(foreign, [], 'no package is left to resolve at run time except zeromq');
  t.notOk(text.includes(ROOT), 'no path of the build machine is baked in');
  const zmq = join(BUNDLE_DIR, 'node_modules/zeromq');
  const manifest = JSON.parse(readFileSync(join(zmq, 'build/manifest.json'), 'utf8')) as Record<string, string>;
  t.ok(Object.keys(manifest).length > 0, 'the addon manifest lists the shipped addons');
  for (const addon of Object.values(manifest)) t.ok(existsSync(join(zmq, 'build', addon)), `${addon} shipped`);
  t.ok(existsSync(join(BUNDLE_DIR, 'node_modules/cmake-ts/build/loader.js')), "zeromq's addon loader shipped");
  t.match(
    readFileSync(join(BUNDLE_DIR, 'THIRD_PARTY_LICENSES.txt'), 'utf8'),
    /pino .* — MIT[\s\S]*zeromq .* — MIT AND MPL-2\.0/,
    'licences collected',
  );
  t.comment(
    `bundle: gateway-launcher.mjs ${(statSync(BUNDLE_FILE).size / 1024).toFixed(0)} KiB; node_modules (zeromq + loader + addons) ${(dirSize(join(BUNDLE_DIR, 'node_modules')) / 1024 / 1024).toFixed(1)} MiB`,
  );
});

t.test('the bundle, copied outside the repository, runs a real ipykernel from launch to shutdown', async (t) => {
  const { home, cleanup } = installBundle();
  t.teardown(cleanup);
  t.ok(relative(ROOT, home).startsWith('..'), `installed outside the repository (${home})`);
  const receiver = await Receiver.start(RANGE);
  t.teardown(() => receiver.close());
  const run = startBundledLauncher(home, receiver, 'k-bundle', [], 'debug');
  t.teardown(() => run.stop());
  const { plaintext, epk } = await receiver.next();
  t.notOk(isFailureResponse(plaintext), 'success response');
  const r = plaintext as ResponseSuccess;
  const out = await kernelClient({ ...r.conn_info, ip: '127.0.0.1' }, 'execute', 'print("from the bundle"); 6*7').result;
  t.equal(out.stdout, 'from the bundle\n');
  t.equal(out.result, '42');
  const pgid = r.pid;
  t.same(
    replyOf(
      await sendComm(r.comm_port, controlText('k-bundle', { shutdown: true }, epk, receiver.keys.secretKey)),
      epk,
      receiver.keys.secretKey,
    ),
    { ok: true },
  );
  const exit = await run.exited;
  t.equal(exit.code, 0, 'launcher exits with the kernel status');
  t.notOk(groupAlive(pgid), 'kernel process group gone');
  // shutdown_request travels over zeromq: the shipped addon loaded from the bundle's node_modules.
  t.match(
    run.logs.find((l) => l.event === 'shutdown_request_sent'),
    { answered: true },
    'the kernel answered shutdown_request sent through the bundled zeromq',
  );
});

t.test('the bundle loads zeromq only when it needs it, and proxy mode (which relays through zeromq) works from it', async (t) => {
  const text = readFileSync(BUNDLE_FILE, 'utf8');
  t.notMatch(
    text,
    /^import[^;]*from\s*["']zeromq["']/m,
    'no top-level static import of zeromq: direct mode starts without the native addon',
  );
  const { home, cleanup } = installBundle();
  t.teardown(cleanup);
  const receiver = await Receiver.start(RANGE);
  t.teardown(() => receiver.close());
  const run = startBundledLauncher(home, receiver, 'k-bundle-proxy', ['--mode', 'proxy'], 'info');
  t.teardown(() => run.stop());
  const { plaintext, epk } = await receiver.next();
  t.notOk(isFailureResponse(plaintext), `success response: ${run.output().slice(-1000)}`);
  const r = plaintext as ResponseSuccess;
  t.equal(r.mode, 'proxy');
  const out = await kernelClient({ ...r.conn_info, ip: '127.0.0.1' }, 'execute', '1+1').result;
  t.equal(out.result, '2', 'a cell runs through the bundled relay');
  await sendComm(r.comm_port, controlText('k-bundle-proxy', { shutdown: true }, epk, receiver.keys.secretKey));
  t.equal((await run.exited).code, 0);
});

t.test(
  "the bundle's gateway-listener, alone in a directory with no node_modules, waits for the bundle's launcher and prints the connection info",
  async (t) => {
    const { home, cleanup } = installBundle();
    t.teardown(cleanup);
    t.notOk(
      existsSync(join(BUNDLE_DIR, 'yarn/gateway-launcher.tar.gz')),
      'no second copy of the bundle inside it (yarn/run.sh archives on demand)',
    );
    const lone = mkdtempSync(join(tmpdir(), 'gl-listener-alone-'));
    t.teardown(() => rmSync(lone, { recursive: true, force: true }));
    copyFileSync(join(BUNDLE_DIR, 'gateway-listener.mjs'), join(lone, 'gateway-listener.mjs'));
    t.same(readdirSync(lone), ['gateway-listener.mjs'], 'only the file: no node_modules there or above (temp dir)');
    const version = spawnSync(process.execPath, [join(lone, 'gateway-listener.mjs'), '--version'], {
      cwd: lone,
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin' },
    });
    t.equal(
      version.stdout.trim(),
      JSON.parse(readFileSync(join(ROOT, 'packages/listener/package.json'), 'utf8')).version,
      '--version works from the bundle',
    );
    const wait = spawn(
      process.execPath,
      [
        join(lone, 'gateway-listener.mjs'),
        'wait',
        '--kernel-id',
        'k-bundle-wait',
        '--port-range',
        RANGE,
        '--timeout',
        '300',
        '--format',
        'json',
        '--host',
        '127.0.0.1',
      ],
      {
        cwd: lone,
        env: { PATH: '/usr/bin:/bin', LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    t.teardown(() => void wait.kill('SIGKILL'));
    let err = '';
    wait.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const lines = createInterface({ input: wait.stdout })[Symbol.asyncIterator]();
    const first = (await lines.next()).value as string | undefined;
    t.ok(first, `parameters printed: ${err}`);
    const params = JSON.parse(first!) as { env: Record<string, string> };
    const run = startProcess(
      [process.execPath, join(home, 'gateway-launcher.mjs'), '--kernel-language', 'python', '--python', PYTHON],
      { PATH: '/usr/bin:/bin', HOME: process.env.HOME, LOG_LEVEL: 'info', ...params.env },
      home,
    );
    t.teardown(() => run.stop());
    const second = (await lines.next()).value as string;
    const got = JSON.parse(second) as { kernel_id: string; connection_info: { shell_port: number; key: string } };
    t.equal(got.kernel_id, 'k-bundle-wait');
    t.ok(got.connection_info.shell_port >= 47000 && got.connection_info.shell_port <= 48000, 'a connection info inside the range');
    t.equal(got.connection_info.key, '[Redacted]');
    const [code] = (await once(wait, 'close')) as [number | null];
    t.equal(code, 0, err);
  },
);
