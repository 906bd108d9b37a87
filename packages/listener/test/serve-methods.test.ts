/**
 * `gateway-listener serve`: the methods that need no launcher (adopt,
 * controlTarget, forget, control of unknown kernels) and the
 * response-rejected notification.
 */
import t from 'tap';
import { connect } from 'node:net';
import { keyPairFromSecretKey, toBase64 } from '@gateway-launchers/common';
import { ServeProcess } from './fixtures/serve-process.js';

// One process serves the file: these methods do not change what the other tests see.
const serve = await ServeProcess.start();
t.teardown(() => serve.kill());

t.test('a refused response on the response port becomes a response-rejected notification', async (t) => {
  const [host, port] = String(serve.ready.response_address).split(':') as [string, string];
  const socket = connect({ host, port: Number(port) });
  socket.on('error', () => {});
  socket.end('{"v":2,"kernel_id":"k-who","epk":"x","nonce":"y","box":"z"}\n');
  const n = await serve.notification('response-rejected');
  t.equal(n.params?.code, 'GL_ERR_ENVELOPE_MALFORMED');
  t.equal(n.params?.protocol, 'v2');
  socket.destroy();
  t.same(serve.schemaErrors, []);
});

t.test('controlTarget, forget and control for an unknown kernel answer without error', async (t) => {
  t.same((await serve.request('controlTarget', { kernel_id: 'k-none' })).result, { control_target: null });
  t.same((await serve.request('forget', { kernel_id: 'k-none' })).result, { forgotten: false });
  t.match((await serve.request('control', { kernel_id: 'k-none', action: 'shutdown' })).result, {
    ok: false,
    code: 'GL_ERR_CONTROL_UNAVAILABLE',
  });
  t.same(serve.schemaErrors, []);
});

t.test('adopt of a well-formed target makes it controllable, forget drops it', async (t) => {
  const target = {
    kernel_id: 'k-adopted',
    protocol: 2,
    host: '127.0.0.1',
    comm_port: 9,
    launcher_public_key: toBase64(keyPairFromSecretKey(new Uint8Array(32).fill(7)).publicKey),
  };
  t.same((await serve.request('adopt', { control_target: target })).result, { ok: true });
  t.same((await serve.request('controlTarget', { kernel_id: 'k-adopted' })).result, { control_target: target });
  // Nothing listens on port 9 of loopback: the request is tried, and fails as a result.
  t.match((await serve.request('control', { kernel_id: 'k-adopted', action: 'signal', signal: 'SIGCONT' })).result, {
    ok: false,
    code: 'GL_ERR_CONTROL_FAILED',
  });
  t.same((await serve.request('forget', { kernel_id: 'k-adopted' })).result, { forgotten: true });
  t.same((await serve.request('controlTarget', { kernel_id: 'k-adopted' })).result, { control_target: null });
  t.same(serve.schemaErrors, []);
});
