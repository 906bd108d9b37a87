/** Readiness seen from outside a real process: its ports must accept, and in /proc the listeners must be its own. */
import t from 'tap';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePortRange } from '@gateway-launchers/common';
import { KernelProcess } from '../src/kernel-process.js';
import { procAvailable, waitUntilListening } from '../src/kernel-readiness.js';
import { selectPorts } from '../src/port-selector.js';
import { PYTHON } from './helpers/launcher-process.js';

const quiet = { write: (_c: unknown, cb?: (e?: Error | null) => void) => (cb?.(), true) } as unknown as NodeJS.WritableStream;

// Binds the given ports on 127.0.0.1 and listens; the last one only once the go file exists.
const BINDER = `import os, socket, sys, time
go, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
def listen(p):
    s = socket.socket(); s.bind(("127.0.0.1", p)); s.listen(); return s
held = [listen(p) for p in ports[:-1]]
while not os.path.exists(go): time.sleep(0.01)
held.append(listen(ports[-1]))
time.sleep(60)
`;

t.test(
  'a kernel is not ready while another process listens on one of its ports, and ready once it listens on all five itself',
  { skip: existsSync('/proc/net/tcp') ? false : 'no /proc' },
  async (t) => {
    t.ok(await procAvailable(), '/proc is readable');
    const held = await selectPorts({ host: '127.0.0.1', range: parsePortRange('0..0'), count: 5 });
    const ports = [...held.ports];
    await held.release();
    const last = ports[4] as number;
    // The intruder: this test process holds the last port.
    const intruder: Server = createServer();
    await new Promise<void>((resolve) => intruder.listen(last, '127.0.0.1', () => resolve()));
    const go = join(mkdtempSync(join(tmpdir(), 'gl-ready-')), 'go');
    const kernel = KernelProcess.spawn([PYTHON, '-c', BINDER, go, ...ports.map(String)], { env: process.env, stderr: quiet });
    t.teardown(() => void kernel.signalGroup('SIGKILL'));
    // All five ports accept (four the kernel's, one ours); a deadline is the only way this wait ends, and it must not end 'ready'.
    t.equal(
      await waitUntilListening(kernel, ports, '127.0.0.1', performance.now() + 3_000, true),
      'timeout',
      "not ready: one listener is not the kernel's",
    );
    await new Promise<void>((resolve) => intruder.close(() => resolve()));
    writeFileSync(go, '');
    t.equal(
      await waitUntilListening(kernel, ports, '127.0.0.1', performance.now() + 60_000, true),
      'ready',
      'ready once the kernel listens on the fifth port too',
    );
    kernel.signalGroup('SIGKILL');
    await kernel.exited;
    t.equal(await waitUntilListening(kernel, ports, '127.0.0.1', performance.now() + 60_000, true), 'exited', 'a dead kernel is not ready');
  },
);
