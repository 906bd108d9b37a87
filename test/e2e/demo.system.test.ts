import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const DEMO = fileURLToPath(new URL('../../demo/dist/demo.js', import.meta.url));

for (const [transport, mode] of [
  ['tcp', 'direct'],
  ['ws', 'direct'],
  ['tcp', 'proxy'],
  ['tcp', 'handoff'],
] as const) {
  t.test(`the demo runs a real kernel end to end over ${transport} in ${mode} mode and exits 0`, async (t) => {
    // The launcher's own limits raised as in the other launcher tests (a slow kernel on a loaded machine is not a broken one);
    // the spawnSync timeout is a safety net against a hang: the demo bounds its own waits.
    const env = { ...process.env, KERNEL_LAUNCH_TIMEOUT: '120', KERNEL_SHUTDOWN_GRACE: '30' };
    const r = spawnSync(process.execPath, [DEMO, '--transport', transport, '--mode', mode], { encoding: 'utf8', env, timeout: 300_000 });
    t.equal(r.status, 0, r.stderr);
    t.match(r.stdout, /executed a cell: stdout "hello from a kernel started by gateway-launcher on .*", result 42/);
    t.match(r.stdout, /the cell ended with KeyboardInterrupt/);
    t.match(r.stdout, /launcher exited with status 0/);
    for (const phase of ['response accepted', 'kernel ready', 'first output', 'interrupted', 'shutdown']) t.match(r.stdout, phase);
    t.notMatch(r.stdout + r.stderr, /"key":"(?!\[Redacted\])/, 'no connection key printed');
  });
}

t.test('the demo lists its options with --help', async (t) => {
  const r = spawnSync(process.execPath, [DEMO, '--help'], { encoding: 'utf8' });
  t.equal(r.status, 0);
  for (const o of ['--port-range', '--transport', '--kernel-language', '--mode']) t.match(r.stdout, o);
});
