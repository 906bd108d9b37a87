/**
 * `gateway-listener serve --key-file` refuses (exit 2, one line on stderr,
 * the content never quoted) a key file that is not private, not a key file,
 * a symbolic link, a directory, or in a missing directory.
 */
import t from 'tap';
import { chmodSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toBase64 } from '@gateway-launchers/common';
import { loadOrCreateKeyFile } from '../src/key-file.js';
import { runServeOnce } from './fixtures/serve-process.js';

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'gl-serve-'));
}

t.test(
  '--key-file refuses a file that is not private, malformed, a link, or in a missing directory (exit 2, one line, no content)',
  async (t) => {
    const dir = tempDir();
    const secretText = toBase64(new Uint8Array(32).fill(1));
    const loose = join(dir, 'loose.json');
    writeFileSync(loose, JSON.stringify({ v: 1, x25519_secret_key: secretText }));
    chmodSync(loose, 0o644);
    const malformed = join(dir, 'malformed.json');
    writeFileSync(malformed, `{"v":1,"x25519_secret_key":"${secretText.slice(0, 20)}"}`, { mode: 0o600 });
    const notJson = join(dir, 'not.json');
    writeFileSync(notJson, `secret-material ${secretText}`, { mode: 0o600 });
    const link = join(dir, 'link.json');
    const good = join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ v: 1, x25519_secret_key: secretText }), { mode: 0o600 });
    symlinkSync(good, link);
    const cases: Array<[string, RegExp]> = [
      [loose, /mode 0644/],
      [malformed, /x25519_secret_key/],
      [notJson, /not JSON/],
      [link, /symbolic link/],
      [join(dir, 'missing', 'keys.json'), /cannot be created/],
      [dir, /not a regular file/],
    ];
    for (const [path, why] of cases) {
      await t.rejects(loadOrCreateKeyFile(path, { legacy: false, v1KeyBits: 2048 }), { code: 'GL_ERR_USAGE', message: why }, path);
    }
    for (const [path] of cases) {
      const error = await loadOrCreateKeyFile(path, { legacy: false, v1KeyBits: 2048 }).catch((e: Error) => e);
      t.notOk(String((error as Error).message).includes(secretText.slice(0, 20)), 'the content is not quoted');
    }
    // The process: exit 2 and one line on stderr, even at trace level.
    const r = await runServeOnce(['--host', '127.0.0.1', '--port', '0', '--key-file', loose], { LOG_LEVEL: 'trace' });
    t.equal(r.status, 2, 'serve exits 2');
    t.equal(r.stdout, '', 'nothing on stdout');
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line on stderr');
    t.match(r.stderr, /^gateway-listener serve: --key-file .*mode 0644/);
    t.notOk(r.stderr.includes(secretText), 'the content is not quoted');
    t.equal(statSync(loose).mode & 0o777, 0o644, 'a refused file is left as it was');
  },
);
