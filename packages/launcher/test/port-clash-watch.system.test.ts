/**
 * The clash watch on a real child process's stderr: a split message still
 * kills the kernel's group, and a watch that was ended leaves the kernel
 * alone. The scanner and the rest of port-clash handling are checked without
 * processes in port-clash.test.ts.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KernelProcess } from '../src/kernel-process.js';
import { killOnPortClash } from '../src/port-clash.js';
import { PYTHON } from './helpers/launcher-process.js';
import { recordingLogger } from './helpers/recording-logger.js';

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
