/**
 * The parts of `gateway-listener serve` that can be checked in-process:
 * JSON-RPC decoding, the key file store, the version, and that the serve
 * command's import graph does not reach yargs. (Its line reader is common's
 * LineReader, tested in packages/common/test/line-reader.test.ts.)
 */
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RPC_ERRORS, decodeRequest } from '../src/json-rpc.js';
import { loadOrCreateKeyFile } from '../src/key-file.js';
import { LISTENER_VERSION } from '../src/version.js';
import { ensureBuilt } from './fixtures/serve-process.js';

const PACKAGE = fileURLToPath(new URL('..', import.meta.url));

t.test('decodeRequest: requests, notifications and what is refused', async (t) => {
  const d = (s: string | Buffer) => decodeRequest(Buffer.isBuffer(s) ? s : Buffer.from(s));
  t.match(d('{"jsonrpc":"2.0","id":1,"method":"stats"}'), { kind: 'request', id: 1, notification: false, method: 'stats', params: {} });
  t.match(d('{"jsonrpc":"2.0","method":"close"}'), { kind: 'request', id: null, notification: true });
  t.match(d('{"jsonrpc":"2.0","id":null,"method":"close"}'), { kind: 'request', id: null, notification: false });
  t.match(d(Buffer.from([0x7b, 0xff, 0x7d])), { kind: 'invalid', error: { code: RPC_ERRORS.PARSE_ERROR } });
  t.match(d('\ufeff{"jsonrpc":"2.0","id":1,"method":"stats"}'), { kind: 'request', id: 1 }, 'a leading UTF-8 BOM is tolerated');
  t.match(d('[]'), { kind: 'invalid', id: null, error: { code: RPC_ERRORS.INVALID_REQUEST } });
  t.match(d('{"jsonrpc":"2.0","id":true,"method":"stats"}'), { kind: 'invalid', id: null });
  t.match(d('{"jsonrpc":"2.0","id":"a","method":"stats","x":1}'), { kind: 'invalid', id: 'a' });
  t.match(
    d('{"__proto__":{"polluted":1},"jsonrpc":"2.0","id":1,"method":"stats"}'),
    { kind: 'invalid', id: 1 },
    '__proto__ is an unknown member',
  );
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'and pollutes nothing');
});

t.test('the key file store: created 0600, reloaded, created once by concurrent starts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gl-keyfile-'));
  const file = join(dir, 'keys.json');
  const runs = await Promise.all([1, 2, 3, 4].map(() => loadOrCreateKeyFile(file, { legacy: false, v1KeyBits: 2048 })));
  t.equal(runs.filter((r) => r.origin === 'created').length, 1, 'exactly one run created it');
  const keys = new Set(runs.map((r) => Buffer.from(r.keyPair.publicKey).toString('hex')));
  t.equal(keys.size, 1, 'every run has the same key');
  t.equal(statSync(file).mode & 0o777, 0o600);
  const again = await loadOrCreateKeyFile(file, { legacy: false, v1KeyBits: 2048 });
  t.equal(again.origin, 'loaded');
  t.same(again.keyPair.secretKey, runs[0]?.keyPair.secretKey);
  const extra = join(dir, 'extra.json');
  writeFileSync(extra, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), note: 'x' }), { mode: 0o600 });
  await t.rejects(loadOrCreateKeyFile(extra, { legacy: false, v1KeyBits: 2048 }), {
    code: 'GL_ERR_USAGE',
    message: /unknown field 'note'/,
  });
  const big = join(dir, 'big.json');
  writeFileSync(big, 'x'.repeat(70 * 1024), { mode: 0o600 });
  await t.rejects(loadOrCreateKeyFile(big, { legacy: false, v1KeyBits: 2048 }), { code: 'GL_ERR_USAGE', message: /larger than/ });
});

t.test('LISTENER_VERSION is the package version', async (t) => {
  const pkg = JSON.parse(readFileSync(join(PACKAGE, 'package.json'), 'utf8')) as { version: string };
  t.equal(LISTENER_VERSION, pkg.version);
});

t.test('the serve command and the library do not import yargs; the wait command does', async (t) => {
  ensureBuilt();
  const graph = (entry: string): Set<string> => {
    const seen = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) {
        const spec = (m[1] ?? m[2]) as string;
        if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
        else if (spec.startsWith('@gateway-launchers/common')) {
          const sub = spec.slice('@gateway-launchers/common'.length);
          visit(join(PACKAGE, '..', 'common', 'dist', sub === '' ? 'index.js' : `${sub.slice(1)}.js`));
        } else seen.add(`pkg:${spec}`);
      }
    };
    visit(entry);
    return seen;
  };
  const serveGraph = graph(join(PACKAGE, 'dist', 'serve-command.js'));
  t.ok(serveGraph.has('pkg:ws'), 'the walk follows imports (it reaches ws)');
  t.notOk(serveGraph.has('pkg:yargs'), 'serve-command does not reach yargs');
  t.notOk(graph(join(PACKAGE, 'dist', 'index.js')).has('pkg:yargs'), 'the library does not reach yargs');
  t.ok(graph(join(PACKAGE, 'dist', 'wait-command.js')).has('pkg:yargs'), 'the wait command does (the check can fail)');
  const cli = readFileSync(join(PACKAGE, 'dist', 'cli.js'), 'utf8');
  t.notMatch(cli, /^\s*import\s.*from/m, 'the bin loads its commands lazily');
  t.ok(existsSync(join(PACKAGE, 'dist', 'serve-command.js')));
});
