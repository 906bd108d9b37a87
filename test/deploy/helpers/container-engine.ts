/**
 * A real container engine for the container recipe's test: podman (as root,
 * with runc), a Debian base image made here by debootstrap, a node image made
 * from the host's own node binary, and the kernel image built from the
 * project's Dockerfile on top of both. Nothing comes from a container
 * registry: Debian packages come from the mirror apt is configured with.
 *
 * Scratch files live in the repository's `.cache/container/` (ignored by
 * git); the images live in podman's own storage and are the cache of later
 * runs (the base is rebuilt only when its recipe below changes).
 */
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ROOT } from './deploy.js';

/** Where the scratch work goes: inside the repository, ignored by git. */
export const CACHE_DIR = join(ROOT, '.cache/container');
export const DOCKERFILE = join(ROOT, 'deploy/container/Dockerfile');

/**
 * This machine's limits: crun refuses its hybrid cgroups (runc does not), and
 * podman's default ulimits exceed what the sandbox lets a process set.
 */
export const ENGINE = ['--runtime', 'runc'] as const;
export const LIMITS = ['--ulimit', 'nofile=4096:4096', '--ulimit', 'nproc=4096:4096'] as const;

/**
 * The base images' recipes; their hashes name the images, so a change rebuilds
 * them. debootstrap's own resolver cannot install python3-ipykernel (it does
 * not follow virtual packages such as python3-cffi-backend-api-min), so apt
 * does that in a container of the minimal image.
 */
const MINBASE = { suite: 'bookworm', variant: 'minbase' } as const;
const IPYKERNEL = { from: MINBASE, install: ['python3-ipykernel'] } as const;
const IMAGE_PREFIX = 'localhost/gateway-launchers-test';

/** Result of a finished command. */
export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end, keeping at most the last 64 KiB of each stream. */
export function runCommand(argv: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const keep = (s: string): string => (s.length > 65_536 ? s.slice(-65_536) : s);
    child.stdout.on('data', (c: Buffer) => (stdout = keep(stdout + c.toString())));
    child.stderr.on('data', (c: Buffer) => (stderr = keep(stderr + c.toString())));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs a command and throws with its output's tail when it fails. */
async function mustRun(
  argv: readonly string[],
  what: string,
  options: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<CommandResult> {
  const r = await runCommand(argv, options);
  if (r.code !== 0) throw new Error(`${what} failed (exit ${String(r.code)}): ${argv.join(' ')}\n${(r.stderr || r.stdout).slice(-3000)}`);
  return r;
}

/** `podman <args>` with this machine's runtime. */
export function podman(args: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
  return runCommand(['podman', ...ENGINE, ...args], options);
}

async function imageExists(name: string): Promise<boolean> {
  return (await podman(['image', 'exists', name])).code === 0;
}

/**
 * The Debian mirror apt uses here, for debootstrap: the first source of the
 * suite in /etc/apt/sources.list (one-line format) or sources.list.d
 * (`.list` and deb822 `.sources`). Debian's own address when none names it.
 */
export function aptMirror(suite: string = MINBASE.suite): string {
  const files: string[] = [];
  if (existsSync('/etc/apt/sources.list')) files.push('/etc/apt/sources.list');
  if (existsSync('/etc/apt/sources.list.d'))
    for (const f of readdirSync('/etc/apt/sources.list.d').sort()) files.push(join('/etc/apt/sources.list.d', f));
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (name: string): string[] =>
          (new RegExp(`^${name}:\\s*(.*)$`, 'mi').exec(stanza)?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
        if (field('Types').includes('deb') && field('Suites').includes(suite)) {
          const uri = field('URIs')[0];
          if (uri !== undefined) return uri;
        }
      }
    } else if (file.endsWith('.list') || file === '/etc/apt/sources.list') {
      for (const line of text.split('\n')) {
        // deb [options] URI suite component...
        const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
        if (m !== null && m[2] === suite) return m[1]!;
      }
    }
  }
  return 'http://deb.debian.org/debian';
}

/** Hands back what was done, for the test's comments. */
export interface Prepared {
  image: string;
  built: boolean;
  ms: number;
}

function recipeTag(recipe: object): string {
  return createHash('sha256').update(JSON.stringify(recipe)).digest('hex').slice(0, 12);
}

/**
 * `debootstrap --variant=minbase bookworm` into .cache/container, imported
 * into podman (then the tree is removed). Reused while podman has it.
 */
export async function ensureMinbaseImage(): Promise<Prepared> {
  const t0 = performance.now();
  const image = `${IMAGE_PREFIX}/debian:${MINBASE.suite}-min-${recipeTag(MINBASE)}`;
  if (await imageExists(image)) return { image, built: false, ms: performance.now() - t0 };
  mkdirSync(CACHE_DIR, { recursive: true });
  const work = mkdtempSync(join(CACHE_DIR, 'rootfs-'));
  try {
    const rootfs = join(work, 'rootfs');
    await mustRun(['debootstrap', `--variant=${MINBASE.variant}`, MINBASE.suite, rootfs, aptMirror(MINBASE.suite)], 'debootstrap');
    // An imported tree has no image config: give it the PATH Debian's images set.
    await mustRun(
      [
        'bash',
        '-o',
        'pipefail',
        '-c',
        'tar -C "$1" -c . | podman import --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" - "$2"',
        'import',
        rootfs,
        image,
      ],
      'podman import (base)',
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { image, built: true, ms: performance.now() - t0 };
}

/**
 * The kernel image's base: the minimal image plus Debian's python3-ipykernel
 * (apt from the same mirror, in a container on the host network), committed.
 */
export async function ensureBaseImage(): Promise<Prepared & { minbase: Prepared }> {
  const t0 = performance.now();
  const image = `${IMAGE_PREFIX}/debian-ipykernel:${MINBASE.suite}-${recipeTag(IPYKERNEL)}`;
  if (await imageExists(image)) return { image, built: false, ms: performance.now() - t0, minbase: { image: '', built: false, ms: 0 } };
  const minbase = await ensureMinbaseImage();
  const name = `gl-test-base-${process.pid}`;
  try {
    const script = `apt-get update -qq && apt-get install -y -qq --no-install-recommends ${IPYKERNEL.install.join(' ')} && rm -rf /var/lib/apt/lists/*`;
    await mustRun(
      [
        'podman',
        ...ENGINE,
        'run',
        '--name',
        name,
        '--network',
        'host',
        ...LIMITS,
        '-e',
        'DEBIAN_FRONTEND=noninteractive',
        minbase.image,
        'sh',
        '-c',
        script,
      ],
      'apt-get install in the base',
    );
    await mustRun(['podman', ...ENGINE, 'commit', '--quiet', name, image], 'podman commit (base)');
  } finally {
    await podman(['rm', '--force', name]);
  }
  return { image, built: true, ms: performance.now() - t0, minbase };
}

/**
 * The node image the Dockerfile's NODE_IMAGE stage copies from: only
 * /usr/local/bin/node, the host's own binary (Debian 12's nodejs is 18). It
 * links against glibc, libstdc++ and libgcc_s only, which the Debian base and
 * the Dockerfile's `apt-get install libstdc++6` provide.
 */
export async function ensureNodeImage(): Promise<Prepared> {
  const t0 = performance.now();
  const image = `${IMAGE_PREFIX}/host-node:${process.version}`;
  if (await imageExists(image)) return { image, built: false, ms: performance.now() - t0 };
  mkdirSync(CACHE_DIR, { recursive: true });
  const work = mkdtempSync(join(CACHE_DIR, 'node-'));
  try {
    mkdirSync(join(work, 'usr/local/bin'), { recursive: true });
    copyFileSync(process.execPath, join(work, 'usr/local/bin/node'));
    chmodSync(join(work, 'usr/local/bin/node'), 0o755);
    await mustRun(
      ['bash', '-o', 'pipefail', '-c', 'tar -C "$1" -c usr | podman import - "$2"', 'import', work, image],
      'podman import (node)',
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { image, built: true, ms: performance.now() - t0 };
}

/**
 * Builds deploy/container/Dockerfile from the repository root (the context
 * .dockerignore reduces to bundle/), as the docs say, with the two local
 * images as build arguments. Layers are cached by podman, so an unchanged
 * bundle costs seconds. Returns the image id, so that a concurrent run's
 * build under the same tag cannot swap the image under this one.
 */
export async function buildKernelImage(baseImage: string, nodeImage: string): Promise<Prepared> {
  const t0 = performance.now();
  mkdirSync(CACHE_DIR, { recursive: true });
  const work = mkdtempSync(join(CACHE_DIR, 'build-'));
  try {
    const iidfile = join(work, 'iid');
    await mustRun(
      [
        'podman',
        ...ENGINE,
        'build',
        '--pull=never',
        '--network',
        'host',
        ...LIMITS,
        '--build-arg',
        `BASE_IMAGE=${baseImage}`,
        '--build-arg',
        `NODE_IMAGE=${nodeImage}`,
        '--iidfile',
        iidfile,
        '-f',
        DOCKERFILE,
        '-t',
        `${IMAGE_PREFIX}/kernel-python:latest`,
        ROOT,
      ],
      'podman build',
    );
    return { image: readFileSync(iidfile, 'utf8').trim(), built: true, ms: performance.now() - t0 };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * `podman run` arguments for a kernel container as kernel-pod.yaml describes
 * it: the image's user, a read-only root with writable /tmp and home, no
 * capabilities, no privilege escalation; each env var named with `-e NAME`
 * so its value (the launch token) is taken from podman's environment and
 * never on a command line.
 */
export function runArgs(name: string, image: string, envNames: readonly string[]): string[] {
  return [
    ...ENGINE,
    'run',
    '--rm',
    '--name',
    name,
    '--network',
    'host',
    ...LIMITS,
    '--read-only',
    '--tmpfs',
    '/tmp:rw,mode=1777',
    '--tmpfs',
    '/home/jovyan:rw,mode=1777',
    '--cap-drop',
    'all',
    '--security-opt',
    'no-new-privileges',
    ...envNames.flatMap((n) => ['-e', n]),
    image,
  ];
}
