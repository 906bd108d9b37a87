/**
 * `gateway-listener serve`: how a registration ends without a launcher —
 * `cancel` (registration-ended GL_ERR_REGISTRATION_ABORTED) and its timeout
 * (launch-timeout). One process serves the file.
 */
import t from 'tap';
import { ServeProcess } from './fixtures/serve-process.js';

const serve = await ServeProcess.start();
t.teardown(() => serve.kill());

t.test('cancel ends a pending registration with registration-ended GL_ERR_REGISTRATION_ABORTED, once', async (t) => {
  await serve.request('register', { kernel_id: 'k-cancel' });
  t.same((await serve.request('cancel', { kernel_id: 'k-cancel' })).result, { cancelled: true });
  const ended = await serve.notification('registration-ended', 'k-cancel');
  t.equal(ended.params?.code, 'GL_ERR_REGISTRATION_ABORTED');
  t.same((await serve.request('cancel', { kernel_id: 'k-cancel' })).result, { cancelled: false }, 'nothing left to cancel');
  t.same((await serve.request('cancel', { kernel_id: 'k-never' })).result, { cancelled: false });
  t.match((await serve.request('stats')).result, { pending_registrations: 0 });
  t.ok((await serve.request('register', { kernel_id: 'k-cancel' })).result, 'the id can be registered again');
  t.same(serve.schemaErrors, []);
});

t.test('a registration without a response ends with launch-timeout', async (t) => {
  await serve.request('register', { kernel_id: 'k-late', timeout_ms: 300, port_range: '40000..42000', transport: 'ws' });
  const n = await serve.notification('launch-timeout', 'k-late');
  t.same(n.params, { kernel_id: 'k-late', timeout_ms: 300 });
  t.same(serve.schemaErrors, []);
});
