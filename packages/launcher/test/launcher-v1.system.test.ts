import t from 'tap';
import { generateV1KeyPair, openV1, validateConnectionInfo, type ConnectionInfo } from '@gateway-launchers/common';
import { startV1Receiver } from './helpers/receiver.js';
import {
  CELL_STARTED,
  IPYKERNEL_ARGV,
  SLEEPING_CELL,
  groupAlive,
  kernelClient,
  runLauncher,
  sendComm,
} from './helpers/launcher-process.js';

t.test('with an RSA key the launcher speaks Gateway Provisioners v1 end to end', async (t) => {
  const keys = await generateV1KeyPair(1024); // GP's size
  const v1 = await startV1Receiver();
  t.teardown(v1.close);
  const { port, payload } = v1;
  const run = runLauncher([
    '--RemoteProcessProxy.kernel-id',
    'k-v1',
    '--RemoteProcessProxy.response-address',
    `127.0.0.1:${port}`,
    '--RemoteProcessProxy.public-key',
    keys.publicKeyBase64,
    '--RemoteProcessProxy.port-range',
    '26100..27100',
    ...IPYKERNEL_ARGV,
  ]);
  t.teardown(() => run.stop());
  const opened = openV1(await payload, keys);
  t.ok(opened.ok, 'our v1 decoder opens what the launcher sent');
  if (!opened.ok) return;
  const v = opened.value;
  t.equal(v.kernel_id, 'k-v1');
  for (const f of ['pid', 'pgid', 'comm_port']) t.type(v[f], 'number', `${f} is a number`);
  const info = validateConnectionInfo(v, { extraPorts: { comm_port: v.comm_port } });
  t.ok(info.ok, 'connection info passes validation');
  const conn = info.ok ? info.value : ({} as ConnectionInfo);
  const commPort = v.comm_port as number;
  t.ok(commPort >= 26100 && commPort <= 27100, 'comm port in range');

  // GP's host polls liveness with signum 0 every few seconds: silent, harmless.
  t.equal(await sendComm(commPort, '{"signum": 0}', '127.0.0.1', { newline: false }), '', 'signum 0 gets no answer');
  const cell = kernelClient({ ...conn, ip: '127.0.0.1' }, 'execute_async', SLEEPING_CELL);
  await cell.printed(CELL_STARTED);
  t.equal(await sendComm(commPort, '{"signum": 0}', '127.0.0.1', { newline: false }), '');
  // The poll is done (the launcher closed the connection) and has no other trace to wait for. Only a failure could show
  // here (an interrupt that ended the cell): a slow machine makes this check weaker, never wrong.
  await new Promise((r) => setTimeout(r, 200));
  t.equal(cell.child.exitCode, null, 'the cell still runs after a liveness poll');
  t.equal(await sendComm(commPort, '{"signum": 2}', '127.0.0.1', { newline: false }), '', 'signum 2 gets no answer');
  const result = await cell.result;
  t.equal(result.ename, 'KeyboardInterrupt', 'signum 2 interrupted the cell');

  const pgid = run.logs.find((l) => l.event === 'kernel_spawned')?.pid as number;
  await sendComm(commPort, '{"shutdown": 1}', '127.0.0.1', { newline: false });
  const exit = await run.exited;
  t.equal(exit.code, 0, 'v1 shutdown stops the kernel and the launcher');
  t.notOk(groupAlive(pgid));
});
