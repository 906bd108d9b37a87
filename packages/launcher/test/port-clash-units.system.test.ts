/** In-process checks of the clash watch and the ephemeral range warning, with a real child process and real files. */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePortRange } from '@gateway-launchers/common';
import type { LauncherLogger } from '../src/deferred-logger.js';
import { warnIfEphemeral } from '../src/ephemeral-ports.js';
import { KernelProcess } from '../src/kernel-process.js';
import { killOnPortClash } from '../src/port-clash.js';
import { PYTHON } from './helpers/launcher-process.js';

/** A logger that keeps what it is given. */
function recordingLogger(): { logger: LauncherLogger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const keep =
    (level: string) =>
    (obj: Record<string, unknown>, msg?: string): void =>
      void lines.push({ level, ...obj, msg });
  const logger: LauncherLogger = {
    trace: keep('trace'),
    debug: keep('debug'),
    info: keep('info'),
    warn: keep('warn'),
    error: keep('error'),
    fatal: keep('fatal'),
  };
  return { logger, lines };
}

const quiet = { write: (_c: unknown, cb?: (e?: Error | null) => void) => (cb?.(), true) } as unknown as NodeJS.WritableStream;

t.test('a clash message split across two stderr writes still kills the kernel group', async (t) => {
  // The second half is written only once the test has seen the first and created the go file: two chunks for sure.
  const dir = mkdtempSync(join(tmpdir(), 'gl-clash-unit-'));
  const go = join(dir, 'go');
  const script =
    'import os, sys, time\nsys.stderr.write("zmq.error.ZMQError: Address alre"); sys.stderr.flush()\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.01)\nsys.stderr.write("ady in use\\n"); sys.stderr.flush()\ntime.sleep(60)\n';
  const kernel = KernelProcess.spawn([PYTHON, '-c', script, go], { env: process.env, stderr: quiet });
  t.teardown(() => void kernel.signalGroup('SIGKILL'));
  const { logger, lines } = recordingLogger();
  killOnPortClash(kernel, logger);
  await new Promise<void>((resolve) => {
    const off = kernel.onStderr((c) => {
      if (c.toString().includes('alre')) {
        off();
        resolve();
      }
    });
  });
  t.notOk(
    lines.some((l) => l.event === 'port_clash_detected'),
    'half a message is not a clash',
  );
  writeFileSync(go, '');
  const exit = await kernel.exited;
  t.equal(exit.signal, 'SIGKILL', 'killed');
  t.match(lines, [{ level: 'warn', event: 'port_clash_detected', pid: kernel.pid }]);
});

t.test('the watch ends when asked: a clash message after that is left alone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gl-clash-unit-'));
  const go = join(dir, 'go');
  const kernel = KernelProcess.spawn(
    [
      PYTHON,
      '-c',
      'import os, sys, time\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.01)\nsys.stderr.write("Address already in use\\n"); sys.stderr.flush(); sys.exit(7)',
      go,
    ],
    { env: process.env, stderr: quiet },
  );
  const { logger, lines } = recordingLogger();
  const unwatch = killOnPortClash(kernel, logger);
  unwatch();
  writeFileSync(go, '');
  const exit = await kernel.exited;
  t.equal(exit.exitCode, 7, 'the kernel ended on its own');
  t.match(kernel.stderrTail(), /Address already in use/);
  t.same(lines, [], 'nothing logged');
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
