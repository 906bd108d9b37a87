/**
 * `gateway-listener serve` as a process: how it ends on `close` and on SIGTERM,
 * answering what it owes first. Each test runs its own process.
 */
import t from 'tap';
import { ServeProcess } from './fixtures/serve-process.js';

t.test('close answers null, ends pending registrations with registration-ended, refuses what follows, exits 0', async (t) => {
  const serve = await ServeProcess.start();
  t.teardown(() => serve.kill());
  await serve.request('register', { kernel_id: 'k-pending' });
  serve.expectAnswer(2, 'close');
  serve.expectAnswer(3, 'stats');
  serve.write('{"jsonrpc":"2.0","id":2,"method":"close"}\n{"jsonrpc":"2.0","id":3,"method":"stats"}\n');
  t.equal((await serve.answer(2)).result, null);
  const late = await serve.answer(3);
  t.equal(late.error?.code, -32000, 'a request after close is refused');
  t.equal(late.error?.data?.code, 'GL_ERR_LISTENER_CLOSED');
  const ended = await serve.notification('registration-ended', 'k-pending');
  t.equal(ended.params?.code, 'GL_ERR_LISTENER_CLOSED');
  t.same(await serve.exited, { code: 0, signal: null });
  const closeIndex = serve.messages.findIndex((m) => m.id === 2);
  t.ok(closeIndex < serve.messages.indexOf(ended), 'the close result comes before the notifications of the close');
  t.same(serve.schemaErrors, []);
});

t.test('SIGTERM closes the listener and exits 0', async (t) => {
  const serve = await ServeProcess.start();
  t.teardown(() => serve.kill());
  await serve.request('register', { kernel_id: 'k-term' });
  serve.child.kill('SIGTERM');
  t.equal((await serve.notification('registration-ended', 'k-term')).params?.code, 'GL_ERR_LISTENER_CLOSED');
  t.same(await serve.exited, { code: 0, signal: null });
});
