/**
 * `gateway-listener serve` on the command line: --help, and the usage errors
 * (exit 2, one message on stderr, nothing on stdout).
 */
import t from 'tap';
import { runServeOnce } from './fixtures/serve-process.js';

t.test('--help prints the usage and exits 0', async (t) => {
  const help = await runServeOnce(['--help']);
  t.equal(help.status, 0);
  t.match(help.stdout, /--key-file PATH/);
});

t.test('a bad flag, a positional or a malformed value exits 2 with one message', async (t) => {
  const cases = [['--bogus'], ['extra'], ['--port', 'eighty'], ['--port-retries', '-1'], ['--key-file', '']];
  const runs = await Promise.all(cases.map((args) => runServeOnce(args)));
  for (const [i, args] of cases.entries()) {
    const r = runs[i] as Awaited<ReturnType<typeof runServeOnce>>;
    t.equal(r.status, 2, `serve ${args.join(' ')}`);
    t.match(r.stderr, /^gateway-listener serve: /);
    t.equal(r.stdout, '', 'nothing on stdout');
  }
});
