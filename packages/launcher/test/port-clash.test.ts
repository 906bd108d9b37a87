/**
 * Port-clash handling in-process: reading a kernel's stderr for the clash
 * message, choosing retry ports away from the ones that clashed, and the
 * ephemeral port range warning. The same handling with real kernels is in
 * port-clash.system.test.ts and port-clash-watch.system.test.ts.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isGatewayError, parsePortRange } from '@gateway-launchers/common';
import { warnIfEphemeral } from '../src/ephemeral-ports.js';
import { PORT_CLASH_RE } from '../src/launch-mode.js';
import { portClashScanner } from '../src/port-clash.js';
import { selectPorts } from '../src/port-selector.js';
import { holdPortBlock } from './helpers/ports.js';
import { recordingLogger } from './helpers/recording-logger.js';

t.test('the clash message as kernels write it is a clash; other bind failures are not', async (t) => {
  for (const text of [
    "zmq.error.ZMQError: Address already in use (addr='tcp://127.0.0.1:40001')",
    'Error in bind: Address already in use',
    'Error: listen EADDRINUSE: address already in use 127.0.0.1:40001',
    'ADDRESS ALREADY IN USE',
  ])
    t.ok(PORT_CLASH_RE.test(text), text);
  for (const text of [
    "zmq.error.ZMQError: Cannot assign requested address (addr='tcp://203.0.113.9:40001')",
    'Error: listen EADDRNOTAVAIL: address not available',
    'zmq.error.ZMQError: Permission denied',
    'KeyboardInterrupt',
  ])
    t.notOk(PORT_CLASH_RE.test(text), text);
});

t.test('the stderr scanner sees a clash in one chunk or split across chunks, and nothing in other output', async (t) => {
  const whole = portClashScanner();
  t.notOk(whole(Buffer.from('NOTE: When using the `ipython kernel` entry point, Ctrl-C will not work.\n')));
  t.ok(whole(Buffer.from('zmq.error.ZMQError: Address already in use\n')), 'in one chunk');

  const split = portClashScanner();
  t.notOk(split(Buffer.from('zmq.error.ZMQError: Address alre')), 'half a message is not a clash');
  t.ok(split(Buffer.from('ady in use\n')), 'the other half completes it');

  const bytes = portClashScanner();
  const message = Buffer.from('Traceback ...\nzmq.error.ZMQError: Address already in use\n');
  const seen = [...message].map((b) => bytes(Buffer.from([b])));
  t.same(seen.indexOf(true), message.indexOf('use') + 2, 'byte by byte: seen at the last byte of the message, not before');
});

t.test('retry ports avoid the ones that clashed, in a range with just enough others', async (t) => {
  const block = await holdPortBlock(10);
  t.teardown(() => block.close());
  await block.release([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const range = parsePortRange(`${block.base}..${block.base + 9}`, { minSize: 0 });
  const clashed = new Set([0, 2, 4, 6, 8].map((o) => block.base + o));
  for (const start of [0, 0.5, 0.99]) {
    const held = await selectPorts({ host: '127.0.0.1', range, count: 5, exclude: clashed, random: () => start });
    const chosen = [...held.ports].sort((a, b) => a - b);
    await held.release();
    t.same(
      chosen,
      [1, 3, 5, 7, 9].map((o) => block.base + o),
      `random start ${start}: the five that did not clash`,
    );
  }
});

t.test('retry ports: fewer free ports than needed once the clashed ones are excluded is GL_ERR_PORT_RANGE_EXHAUSTED', async (t) => {
  const block = await holdPortBlock(8);
  t.teardown(() => block.close());
  await block.release([0, 1, 2, 3, 4, 5, 6, 7]);
  const range = parsePortRange(`${block.base}..${block.base + 7}`, { minSize: 0 });
  const clashed = new Set([0, 1, 2, 3].map((o) => block.base + o));
  const e = await selectPorts({ host: '127.0.0.1', range, count: 5, exclude: clashed }).then(
    (held) => (void held.release(), undefined),
    (err: unknown) => err,
  );
  t.ok(isGatewayError(e, 'GL_ERR_PORT_RANGE_EXHAUSTED'), String(e));
  t.match(e, { details: { found: 4, needed: 5 }, message: /only 4 of the 5 ports needed are free/ });
});

t.test('a restart on the ports a kernel had takes all of them or none', async (t) => {
  const block = await holdPortBlock(3);
  t.teardown(() => block.close());
  await block.release([0, 1]);
  const range = parsePortRange('0..0');
  const only = [0, 1, 2].map((o) => block.base + o);
  const some = await selectPorts({ host: '127.0.0.1', range, count: 3, only }).then(
    (held) => (void held.release(), undefined),
    (err: unknown) => err,
  );
  t.ok(isGatewayError(some, 'GL_ERR_PORT_RANGE_EXHAUSTED'), 'one of them still taken: none');
  await block.release([2]);
  const all = await selectPorts({ host: '127.0.0.1', range, count: 3, only });
  t.same(all.ports, only, 'all free: exactly those');
  await all.release();
});

t.test(
  'the ephemeral range warning: overlap at either end warns once with both ranges; outside, 0..0 or an unreadable file do not',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gl-eph-'));
    const file = join(dir, 'ip_local_port_range');
    writeFileSync(file, '32768\t60999\n');
    const check = (range: string, f = file): Array<Record<string, unknown>> => {
      const { logger, lines } = recordingLogger();
      warnIfEphemeral(parsePortRange(range, { minSize: 0 }), logger, f);
      return lines;
    };
    t.match(check('40000..41000'), [
      { level: 'warn', event: 'port_range_ephemeral_overlap', port_range: '40000..41000', ephemeral_range: '32768..60999' },
    ]);
    t.equal(check('32000..32768').length, 1, 'touching the low end');
    t.equal(check('60999..61999').length, 1, 'touching the high end');
    t.same(check('10000..11000'), [], 'below');
    t.same(check('61000..62000'), [], 'above');
    t.same(check('0..0'), [], 'any port: the ephemeral range by definition');
    t.same(check('40000..41000', join(dir, 'missing')), [], 'no file');
    writeFileSync(file, 'garbage');
    t.same(check('40000..41000'), [], 'a malformed file');
  },
);
