/**
 * `gateway-listener serve` on the command line: --help, and the usage errors
 * (exit 2, one message on stderr, nothing on stdout). The argument cases run
 * `runServe` in-process (they end before anything starts); one of each kind
 * also runs as the real bin.
 */
import t from 'tap';
import { PassThrough } from 'node:stream';
import { runServe } from '../src/serve-command.js';
import { runServeOnce } from './fixtures/serve-process.js';

async function inProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await runServe(args, { stdin: new PassThrough(), stdout, stderr, env: {} });
  return { code, stdout: out, stderr: err };
}

t.test('--help prints the usage and exits 0; a bad flag exits 2 (the real bin)', async (t) => {
  const [help, bad] = await Promise.all([runServeOnce(['--help']), runServeOnce(['--bogus'])]);
  t.equal(help.status, 0);
  t.match(help.stdout, /--key-file PATH/);
  t.equal(bad.status, 2);
  t.match(bad.stderr, /^gateway-listener serve: .*--bogus/);
  t.equal(bad.stdout, '');
});

t.test('a bad flag, a positional or a malformed value exits 2 with one message', async (t) => {
  for (const args of [
    ['--bogus'],
    ['extra'],
    ['--port', 'eighty'],
    ['--port', '-1'],
    ['--port-retries', '1.5'],
    ['--key-file', ''],
    ['--legacy=yes'],
  ]) {
    const r = await inProcess(args);
    t.equal(r.code, 2, `serve ${args.join(' ')}`);
    t.match(r.stderr, /^gateway-listener serve: /);
    t.equal(r.stdout, '', 'nothing on stdout');
  }
});

t.test('a listener that cannot start exits 1 (bind) or 2 (a malformed GP_ variable) with one message', async (t) => {
  const bind = await inProcess(['--host', '198.51.100.77', '--port', '0', '--log-level', 'silent']);
  t.equal(bind.code, 1, 'an address that is not local cannot be bound');
  t.match(bind.stderr, /^gateway-listener serve: could not bind .*\n$/);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let err = '';
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await runServe(['--host', '127.0.0.1', '--log-level', 'silent'], {
    stdin: new PassThrough(),
    stdout,
    stderr,
    env: { GP_RESPONSE_PORT: 'eighty' },
  });
  t.equal(code, 2);
  t.match(err, /^gateway-listener serve: .*GP_RESPONSE_PORT/);
});
