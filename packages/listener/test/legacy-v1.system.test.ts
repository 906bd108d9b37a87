/**
 * Protocol v1 (Gateway Provisioners) with `legacy: true`: a payload built by
 * pycryptodome exactly like GP's Python launcher is accepted; v1 and v2 never
 * satisfy each other's registrations; v1 control is GP's plain JSON.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { generateV1KeyPair, sealV1 } from '@gateway-launchers/common';
import { exchange, sendValidResponse, startListener } from './fixtures/fake-launcher.js';
import type { ResponseRejectedEvent } from '../src/response-listener.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const GP_LAUNCHER = fileURLToPath(new URL('./fixtures/gp_v1_launcher.py', import.meta.url));

// One RSA key for the file: generating keys is the slow part.
const v1KeyPair = await generateV1KeyPair(1024);

function v1ConnInfo(kernelId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    shell_port: 50001,
    iopub_port: 50002,
    stdin_port: 50003,
    control_port: 50004,
    hb_port: 50005,
    ip: '127.0.0.1',
    key: 'k',
    transport: 'tcp',
    signature_scheme: 'hmac-sha256',
    kernel_name: '',
    pid: 7,
    pgid: 7,
    comm_port: 50006,
    kernel_id: kernelId,
    ...extra,
  };
}

t.test("accepts a v1 payload built by pycryptodome the way GP's launcher builds it", async (t) => {
  const l = await startListener({ legacy: true }); // RSA key generated at start (2048 bits)
  t.teardown(() => l.close());
  const launch = l.register('gp-kernel-1', { protocol: 1, portRange: '40000..41000' });
  t.equal(launch.protocol, 1);
  t.equal(launch.publicKey, l.v1PublicKey, "the RSA key in GP's form is handed out");
  t.ok(createPublicKey({ key: Buffer.from(launch.publicKey, 'base64'), format: 'der', type: 'spki' }), 'base64 DER SubjectPublicKeyInfo');
  t.equal(launch.launchToken, undefined, 'v1 has no token');
  t.notOk('KERNEL_LAUNCH_TOKEN' in launch.env);
  const { stdout } = await run(PYTHON, [GP_LAUNCHER, launch.responseAddress, launch.publicKey, 'gp-kernel-1', '40006', '40000']);
  const sent = JSON.parse(stdout) as { key: string; pid: number };
  const r = await launch.response;
  t.equal(r.protocol, 1);
  t.same(
    r.connectionInfo,
    {
      shell_port: 40001,
      iopub_port: 40002,
      stdin_port: 40003,
      control_port: 40005,
      hb_port: 40004,
      ip: '127.0.0.1',
      transport: 'tcp',
      key: sent.key,
      signature_scheme: 'hmac-sha256',
      kernel_name: '',
    },
    "GP's 0.0.0.0 becomes the address the response came from",
  );
  t.equal(r.commPort, 40006);
  t.equal(r.pid, sent.pid);
  t.same(r.control, { kernelId: 'gp-kernel-1', protocol: 1, host: '127.0.0.1', commPort: 40006 });
});

t.test("v1 and v2 never satisfy each other's registrations (GL_ERR_PROTOCOL_MISMATCH)", async (t) => {
  const l = await startListener({ legacy: true, v1KeyPair });
  t.teardown(() => l.close());
  const rejected: ResponseRejectedEvent[] = [];
  l.on('response-rejected', (e) => rejected.push(e));
  const v2 = l.register('v2-kernel');
  // Anyone holding the RSA public key can forge a v1 payload: it must not satisfy a v2 (token) registration.
  const forged = sealV1(v1ConnInfo('v2-kernel'), createPublicKey(v1KeyPair.privateKey));
  t.same(JSON.parse((await exchange(v2.responseAddress, forged, { end: true })).trim()), { ok: false, error: 'GL_ERR_PROTOCOL_MISMATCH' });
  t.equal(rejected.at(-1)?.code, 'GL_ERR_PROTOCOL_MISMATCH');
  t.ok(l.isPending('v2-kernel'));

  const v1 = l.register('v1-kernel', { protocol: 1 });
  t.same(
    await sendValidResponse({ ...v1, publicKey: l.publicKey, launchToken: '' }),
    { ok: false, error: 'GL_ERR_PROTOCOL_MISMATCH' },
    'a v2 response for a v1 registration',
  );
  t.ok(l.isPending('v1-kernel'));

  t.same(await sendValidResponse(v2), { ok: true });
  await v2.response;
  await exchange(v1.responseAddress, sealV1(v1ConnInfo('v1-kernel'), createPublicKey(v1KeyPair.privateKey)), { end: true });
  t.equal((await v1.response).protocol, 1, 'both still launch afterwards');
});

t.test('refuses an undecryptable v1 payload with GL_ERR_V1_DECRYPT_FAILED, leaving the registration pending', async (t) => {
  const l = await startListener({ legacy: true, v1KeyPair });
  t.teardown(() => l.close());
  const launch = l.register('v1-victim', { protocol: 1 });
  const other = await generateV1KeyPair(1024);
  const wrongKey = sealV1(v1ConnInfo('v1-victim'), createPublicKey(other.privateKey));
  t.same(JSON.parse((await exchange(launch.responseAddress, wrongKey, { end: true })).trim()), {
    ok: false,
    error: 'GL_ERR_V1_DECRYPT_FAILED',
  });
  t.ok(l.isPending('v1-victim'));
  const good = sealV1(v1ConnInfo('v1-victim'), createPublicKey(v1KeyPair.privateKey));
  t.equal(await exchange(launch.responseAddress, good, { end: true }), '', 'v1 launchers get no answer');
  await launch.response;
  t.same(
    JSON.parse((await exchange(launch.responseAddress, good, { end: true })).trim()),
    { ok: false, error: 'GL_ERR_RESPONSE_REPLAYED' },
    'a replay is refused',
  );
});

t.test('refuses a re-spelled copy of an accepted v1 payload, also for a relaunch of the same kernel id (issue 11.6)', async (t) => {
  const l = await startListener({ legacy: true, v1KeyPair });
  t.teardown(() => l.close());
  const first = l.register('v1-respelled', { protocol: 1 });
  const good = sealV1(v1ConnInfo('v1-respelled'), createPublicKey(v1KeyPair.privateKey));
  t.equal(await exchange(first.responseAddress, good, { end: true }), '');
  await first.response;
  // Same ciphertexts, another spelling: keys reordered and spaced in the outer JSON.
  const outer = JSON.parse(Buffer.from(good, 'base64').toString('utf8')) as Record<string, unknown>;
  const respelled = Buffer.from(
    `{"conn_info" : ${JSON.stringify(outer.conn_info)}, "key": ${JSON.stringify(outer.key)},  "version": ${JSON.stringify(outer.version)} }`,
  ).toString('base64');
  t.not(respelled, good, 'the copy is spelled differently');
  const relaunch = l.register('v1-respelled', { protocol: 1 });
  t.same(
    JSON.parse((await exchange(relaunch.responseAddress, respelled, { end: true })).trim()),
    { ok: false, error: 'GL_ERR_RESPONSE_REPLAYED' },
    'the re-spelled copy is refused as a replay',
  );
  t.ok(l.isPending('v1-respelled'), 'the relaunch still waits for its own response');
  const fresh = sealV1({ ...v1ConnInfo('v1-respelled'), key: 'another-key' }, createPublicKey(v1KeyPair.privateKey));
  t.equal(await exchange(relaunch.responseAddress, fresh, { end: true }), '', "the relaunched kernel's own response is accepted");
  t.equal((await relaunch.response).connectionInfo.key, 'another-key');
});

t.test("v1 control is GP's plain JSON on the comm port, then a half-close", async (t) => {
  const received: string[] = [];
  const comm = createServer({ allowHalfOpen: true }, (s) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => {
      received.push(Buffer.concat(chunks).toString());
      s.end();
    });
  });
  comm.listen(0, '127.0.0.1');
  await once(comm, 'listening');
  t.teardown(() => comm.close());
  const commPort = (comm.address() as AddressInfo).port;

  const l = await startListener({ legacy: true, v1KeyPair });
  t.teardown(() => l.close());
  const launch = l.register('v1-controlled', { protocol: 1 });
  await exchange(
    launch.responseAddress,
    sealV1(v1ConnInfo('v1-controlled', { comm_port: commPort }), createPublicKey(v1KeyPair.privateKey)),
    { end: true },
  );
  await launch.response;
  const control = l.control('v1-controlled');
  t.same(await control.interrupt(), { ok: true, value: { ok: true, route: 'comm-port' } });
  t.same(await control.signal('SIGUSR2'), { ok: true, value: { ok: true, route: 'comm-port' } });
  const restart = await control.restart();
  t.equal(!restart.ok && restart.error.code, 'GL_ERR_CONTROL_REQUEST_INVALID', 'v1 launchers cannot restart');
  t.same(await control.shutdown(), { ok: true, value: { ok: true, route: 'comm-port' } });
  while (received.length < 3) await new Promise((r) => setTimeout(r, 5));
  t.same(
    received.map((m) => JSON.parse(m) as unknown),
    [{ signum: 2 }, { signum: 12 }, { shutdown: 1 }],
  );
});
