/**
 * A network namespace for a test file, joined to the host by veth pairs with
 * link-local addresses, and everything needed to leave nothing behind: the
 * processes started in it or for it, the namespace (with its veth ends and
 * nftables ruleset) and the host ends of the pairs. Cleanup is synchronous and
 * idempotent, and also runs on process 'exit', SIGTERM and SIGINT (a runner
 * timeout) until the file's teardown has run.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess, type StdioOptions } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';

/** Runs `ip` with `args`; returns its stdout, throws on failure. */
export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** Why namespace tests cannot run here (root, Linux, `ip` and each of `tools` are needed), or `undefined`. */
export function netnsSkipReason(tools: readonly { cmd: string; name: string }[] = []): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'needs root to create a network namespace';
  for (const { cmd, name } of [{ cmd: 'ip', name: '`ip` (iproute2)' }, ...tools]) if (!which(cmd)) return `${name} not found`;
  return undefined;
}

/** A short random tag for interface names (≤ 15 characters with a 4-character prefix). */
export function linkTag(pidChars: number): string {
  return `${process.pid.toString(36).slice(-pidChars)}${randomBytes(2).toString('hex')}`;
}

/**
 * `n` distinct third octets `x` of 169.254.x.0/24 that no address on this host
 * uses yet (1..254: 169.254.0/24 and .255/24 are reserved).
 */
export function freeLinkLocalOctets(n: number): number[] {
  const used = ip('-4', '-o', 'addr', 'show');
  const octets: number[] = [];
  for (let i = 0; i < 50 * n && octets.length < n; i++) {
    const x = randomInt(1, 255);
    if (!used.includes(`169.254.${x}.`) && !octets.includes(x)) octets.push(x);
  }
  if (octets.length < n) throw new Error(`found only ${octets.length} of ${n} free 169.254.x.0/24 subnets on this host`);
  return octets;
}

/** One test file's namespace. Create it in `t.before` with {@link TestNamespace.create}, call `unguard` in teardown. */
export class TestNamespace {
  /** The namespace's name (`ip netns`). */
  readonly name: string;
  readonly #children = new Set<ChildProcess>();
  readonly #hostLinks: string[] = [];
  #cleaned = false;
  readonly #onSignal = (sig: NodeJS.Signals): void => {
    this.cleanup();
    process.kill(process.pid, sig);
  };
  readonly #onExit = (): void => this.cleanup();

  /** Names a namespace `${prefix}-<pid>-<random>` and guards the process; nothing is created yet. */
  constructor(prefix: string) {
    this.name = `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
    process.on('exit', this.#onExit);
    process.once('SIGTERM', this.#onSignal);
    process.once('SIGINT', this.#onSignal);
  }

  /** Creates the namespace with its loopback up. */
  create(): void {
    ip('netns', 'add', this.name);
    ip('-n', this.name, 'link', 'set', 'lo', 'up');
  }

  /** Adds a veth pair: `hostLink` with `hostIp`/30 on the host, `nsLink` with `nsIp`/30 in the namespace, both up. */
  addVethPair(hostLink: string, nsLink: string, hostIp: string, nsIp: string): void {
    this.#hostLinks.push(hostLink);
    ip('link', 'add', hostLink, 'type', 'veth', 'peer', 'name', nsLink);
    ip('link', 'set', nsLink, 'netns', this.name);
    ip('addr', 'add', `${hostIp}/30`, 'dev', hostLink);
    ip('link', 'set', hostLink, 'up');
    ip('-n', this.name, 'addr', 'add', `${nsIp}/30`, 'dev', nsLink);
    ip('-n', this.name, 'link', 'set', nsLink, 'up');
  }

  /** Spawns `argv` inside the namespace; killed at cleanup if still running. */
  spawn(argv: string[], env: NodeJS.ProcessEnv, stdio: StdioOptions = ['ignore', 'pipe', 'pipe']): ChildProcess {
    return this.track(spawn('ip', ['netns', 'exec', this.name, ...argv], { env, stdio }));
  }

  /** Kills `child` at cleanup if it is still running then. */
  track(child: ChildProcess): ChildProcess {
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** Whether `ip netns list` still names this namespace. */
  exists(): boolean {
    return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .stdout.split('\n')
      .some((l) => l.split(' ')[0] === this.name);
  }

  /** Kills the tracked processes and everything in the namespace, deletes it and the host links. Synchronous, idempotent. */
  cleanup(): void {
    if (this.#cleaned) return;
    this.#cleaned = true;
    for (const c of this.#children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    try {
      for (const pid of ip('netns', 'pids', this.name).split(/\s+/).filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
    } catch {
      // namespace not there
    }
    // Deleting the namespace removes the veth pairs (both ends) and its nftables ruleset.
    spawnSync('ip', ['netns', 'del', this.name], { stdio: 'ignore' });
    for (const link of this.#hostLinks) spawnSync('ip', ['link', 'del', link], { stdio: 'ignore' }); // in case the ns was never made
  }

  /** Cleans up and removes the process guards (the file's teardown). */
  unguard(): void {
    this.cleanup();
    process.removeListener('exit', this.#onExit);
    process.removeListener('SIGTERM', this.#onSignal);
    process.removeListener('SIGINT', this.#onSignal);
  }
}
