/**
 * `gateway-listener serve` dies with its host: when the host stops reading
 * (its end of stdout closed), the next write fails with EPIPE and serve
 * closes the listener and exits 0 instead of crashing or lingering.
 */
import t from 'tap';
import { ServeProcess } from './fixtures/serve-process.js';

t.test('stdout closed by the host: serve closes and exits 0 at its next write', async (t) => {
  const serve = await ServeProcess.start();
  t.teardown(() => serve.kill());
  serve.child.stdout.destroy();
  serve.write('{"jsonrpc":"2.0","id":1,"method":"register","params":{"kernel_id":"k-orphan"}}\n');
  t.same(await serve.exited, { code: 0, signal: null });
  t.match(serve.stderr, /stdout closed by the host; closing/);
  t.match(serve.stderr, /serve closed/);
});
