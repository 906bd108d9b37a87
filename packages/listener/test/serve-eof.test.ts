/**
 * `gateway-listener serve` as a process: how it ends at stdin EOF,
 * answering what it owes first. Each test runs its own process.
 */
import t from 'tap';
import { ServeProcess } from './fixtures/serve-process.js';

t.test('stdin EOF in the middle of a line: the fragment is answered, then a clean exit', async (t) => {
  const serve = await ServeProcess.start();
  t.teardown(() => serve.kill());
  await serve.request('register', { kernel_id: 'k-eof' });
  serve.write('{"jsonrpc":"2.0","id":9,"method":"sta');
  const exit = serve.end();
  const e = await serve.next((m) => m.error !== undefined, 'the error for the fragment');
  t.equal(e.error?.code, -32700);
  t.equal((await serve.notification('registration-ended', 'k-eof')).params?.code, 'GL_ERR_LISTENER_CLOSED');
  t.same(await exit, { code: 0, signal: null });
  t.same(serve.schemaErrors, []);
});

t.test('a complete request on the last line without a newline is still served before the exit', async (t) => {
  const serve = await ServeProcess.start();
  t.teardown(() => serve.kill());
  serve.expectAnswer(5, 'stats');
  serve.write('{"jsonrpc":"2.0","id":5,"method":"stats"}');
  const exit = serve.end();
  t.ok((await serve.answer(5)).result);
  t.same(await exit, { code: 0, signal: null });
  t.same(serve.schemaErrors, []);
});
