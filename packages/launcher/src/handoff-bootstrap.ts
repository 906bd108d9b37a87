/**
 * Where the python preset finds the handoff bootstrap
 * (`gateway_launcher_handoff.py`), and the prelude that installs it before
 * ipykernel binds its sockets.
 *
 * The module ships as a file beside the launcher: `python/` next to `dist/`
 * in the npm package, `python/` next to `gateway-launcher.mjs` in the bundle.
 *
 * @module
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The bootstrap's module name (and file name without `.py`). */
export const HANDOFF_MODULE = 'gateway_launcher_handoff';

/** The directory holding the bootstrap, or undefined when it is not installed. */
export function handoffBootstrapDir(base: string = import.meta.url): string | undefined {
  for (const rel of ['./python/', '../python/']) {
    const dir = fileURLToPath(new URL(rel, base));
    if (existsSync(`${dir}${HANDOFF_MODULE}.py`)) return dir.replace(/\/$/, '');
  }
  return undefined;
}

/**
 * Python lines that import the bootstrap from `dir` (taken off `sys.path`
 * again at once) and arm it. It does nothing unless the launcher handed the
 * kernel sockets, so the same command line serves a direct-mode fallback.
 */
export function handoffPrelude(dir: string): string {
  return [
    'import sys as _gl_sys',
    `_gl_sys.path.insert(0, ${JSON.stringify(dir)})`,
    `import ${HANDOFF_MODULE} as _gl_handoff`,
    'del _gl_sys.path[0]',
    '_gl_handoff.install()',
  ].join('\n');
}
