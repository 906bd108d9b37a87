/**
 * The kernel's connection file: written in a private directory (0700) with
 * mode 0600, removed with its directory on every exit path, including the
 * launcher's own death by SIGKILL (a {@link KernelWatchdog} removes it then).
 *
 * @module
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConnectionInfo, toConnectionFile } from '@gateway-launchers/common/connection-info';
import { KernelWatchdog } from './kernel-watchdog.js';

/** A private directory holding one connection file at a time. */
export class ConnectionFileDir {
  /** The private directory. */
  readonly dir: string;
  /** Path of the connection file inside it. */
  readonly path: string;
  /** Removes the directory, and kills the kernel's group, if the launcher dies without {@link remove}. */
  readonly watchdog: KernelWatchdog;
  #removed = false;

  /** Creates the directory (mode 0700) under `parent` (default: the temp dir). */
  constructor(kernelId: string, parent: string = tmpdir()) {
    this.dir = mkdtempSync(join(parent, `gateway-launcher-${kernelId.slice(0, 40)}-`));
    this.path = join(this.dir, `kernel-${kernelId}.json`);
    this.watchdog = KernelWatchdog.start(this.dir);
  }

  /** Writes `info` as the connection file, mode 0600, replacing any previous one. */
  write(info: ConnectionInfo): void {
    writeFileSync(this.path, toConnectionFile(info), { mode: 0o600 });
  }

  /** Removes the file and the directory; safe to call more than once, never throws. */
  remove(): void {
    if (this.#removed) return;
    this.#removed = true;
    this.watchdog.standDown();
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {
      // Nothing more can be done on an exit path.
    }
  }
}
