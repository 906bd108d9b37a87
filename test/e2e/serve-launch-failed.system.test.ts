/**
 * End to end: a kernel that dies before it is ready ends its registration
 * with `launch-failed`, carrying the exit code and the tail of the kernel's
 * stderr as the real `gateway-launcher` reported them.
 */
import t from 'tap';
import { ServeProcess } from '../../packages/listener/test/fixtures/serve-process.js';
import { PYTHON, startLauncher, stopLauncher } from './fixtures/real-launcher.js';

t.test('a failing kernel gives launch-failed with its exit code and stderr tail', async (t) => {
  const serve = await ServeProcess.start();
  t.teardown(() => serve.kill());
  const reg = await serve.request('register', { kernel_id: 'k-fails', transport: 'ws', timeout_ms: 90_000 });
  const env = (reg.result as { env: Record<string, string> }).env;
  const launcher = startLauncher(env, [
    '--',
    PYTHON,
    '-c',
    'import sys; sys.stderr.write("no module named kernel_of_serve_test\\n"); sys.exit(3)',
    '{connection_file}',
  ]);
  t.teardown(() => stopLauncher(launcher));
  const failed = await serve.notification('launch-failed', 'k-fails');
  const p = failed.params as { exit_code: number | null; signal: string | null; stderr_tail: string; message: string };
  t.equal(p.exit_code, 3);
  t.equal(p.signal, null);
  t.match(p.stderr_tail, /no module named kernel_of_serve_test/);
  t.match(p.message, /failed to start/);
  t.notOk(
    serve.messages.some((m) => m.method === 'connection-info' || m.method === 'registration-ended' || m.method === 'launch-timeout'),
    'exactly one terminal notification',
  );
  t.match((await serve.request('stats')).result, { pending_registrations: 0, sessions: 0 });
  t.not(await launcher.exited, 0, 'the launcher exited with a failure');
  t.same(serve.schemaErrors, []);
});
