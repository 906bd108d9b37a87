/**
 * A kernel's process tree as /proc shows it, for tests of a launcher killed
 * outright: what must be gone afterwards is every live process of the kernel's
 * process group (a `sleep` that R's `system(wait = FALSE)` left to init is
 * still in it) and every descendant of the kernel.
 */
import { readFileSync, readdirSync } from 'node:fs';

/** One line of /proc/<pid>/stat, the fields these tests use. */
export interface ProcStat {
  readonly pid: number;
  readonly comm: string;
  /** One letter: R, S, D, Z (zombie), T, ... */
  readonly state: string;
  readonly ppid: number;
  readonly pgid: number;
  readonly sid: number;
}

/** /proc/<pid>/stat parsed, or undefined when the process is gone. */
export function procStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm is in parentheses and may itself hold spaces or parentheses: the fields follow the last ')'.
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  return {
    pid,
    comm: text.slice(text.indexOf('(') + 1, close),
    state: fields[0] ?? '',
    ppid: Number(fields[1]),
    pgid: Number(fields[2]),
    sid: Number(fields[3]),
  };
}

/** Every live (not zombie) process on the machine. */
export function liveProcesses(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = procStat(Number(name));
    if (stat !== undefined && stat.state !== 'Z') out.push(stat);
  }
  return out;
}

/** True while `pid` exists and is not a zombie. */
export function alive(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== undefined && stat.state !== 'Z';
}

/** Live processes whose parent chain leads to `root` (`root` itself need not be alive any more). */
export function descendantsOf(root: number, all: readonly ProcStat[] = liveProcesses()): ProcStat[] {
  const byPid = new Map(all.map((p) => [p.pid, p]));
  return all.filter((p) => {
    for (let pp = p.ppid; pp > 1; pp = byPid.get(pp)?.ppid ?? 0) if (pp === root) return true;
    return false;
  });
}

/** Live processes of the kernel's tree: its process group (the kernel is its leader) and its descendants. */
export function kernelTree(kernelPid: number): ProcStat[] {
  const all = liveProcesses();
  const below = new Set(descendantsOf(kernelPid, all));
  return all.filter((p) => p.pid === kernelPid || p.pgid === kernelPid || below.has(p));
}

/** Kills (SIGKILL) whichever of `pids` still lives: a test's teardown after a failed assertion. */
export function killSurvivors(pids: readonly number[]): void {
  for (const pid of pids) {
    if (!alive(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}
