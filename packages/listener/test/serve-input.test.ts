/**
 * `gateway-listener serve` never dies of its input: each malformed line gets a
 * JSON-RPC error and changes nothing. One real process serves the whole file;
 * every test ends by checking that it still answers and that its state
 * (stats, the pending registration) is what it was.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import { type Message, ServeProcess } from './fixtures/serve-process.js';

const serve = await ServeProcess.start();
t.teardown(() => serve.kill());

// One registration stays pending throughout: hostile input must not touch it.
const registered = await serve.request('register', { kernel_id: 'k-steady', timeout_ms: 600_000 });
const baseline = (await serve.request('stats')).result;

/** Sends a raw line and returns the error answer that follows it (matched by id). */
async function errorFor(line: string | Buffer, id: unknown = null): Promise<Message> {
  serve.write(Buffer.concat([Buffer.isBuffer(line) ? line : Buffer.from(line), Buffer.from('\n')]));
  return serve.next((m) => m.method === undefined && m.id === id && m.error !== undefined, `an error answer with id ${JSON.stringify(id)}`);
}

/** The process still answers, and nothing changed. */
async function unchanged(t: Test): Promise<void> {
  const stats = await serve.request('stats');
  t.same(stats.result, baseline, 'stats unchanged');
  const again = await serve.request('register', { kernel_id: 'k-steady' });
  t.equal(again.error?.data?.code, 'GL_ERR_ALREADY_REGISTERED', 'the pending registration is still there');
  t.same(serve.schemaErrors, [], 'every message serve wrote validates against its schema');
}

t.test('the register result carries the launch token only inside env', async (t) => {
  const r = registered.result as { env: Record<string, string>; argv: string[] };
  const token = r.env.KERNEL_LAUNCH_TOKEN as string;
  t.match(token, /^[A-Za-z0-9_-]{43}$/);
  t.notOk(
    r.argv.some((a) => a.includes(token)),
    'not on argv',
  );
  t.equal(serve.stdout.split(token).length - 1, 1, 'once on stdout');
  t.notOk(serve.stderr.includes(token), 'never on stderr');
});

t.test('a line that is not JSON gets -32700', async (t) => {
  const e = await errorFor('hello, serve');
  t.equal(e.error?.code, -32700);
  await unchanged(t);
});

t.test('binary garbage, including invalid UTF-8 and NUL bytes, gets -32700', async (t) => {
  const garbage = randomBytes(4096).map((b) => (b === 0x0a ? 0xff : b));
  garbage[0] = 0xff; // never valid UTF-8
  const e = await errorFor(Buffer.from(garbage));
  t.equal(e.error?.code, -32700);
  const quoted = await errorFor(
    Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":"x\u0000'), Buffer.from([0xc3, 0x28]), Buffer.from('","method":"stats"}')]),
  );
  t.equal(quoted.error?.code, -32700, 'a JSON-looking line with an invalid UTF-8 sequence too');
  await unchanged(t);
});

t.test('a batch array gets -32600 and none of its requests runs', async (t) => {
  const e = await errorFor(
    JSON.stringify([
      { jsonrpc: '2.0', id: 900, method: 'close' },
      { jsonrpc: '2.0', id: 901, method: 'stats' },
    ]),
  );
  t.equal(e.error?.code, -32600);
  t.match(e.error?.message, /batch/);
  await unchanged(t);
});

t.test('JSON that is not a request object gets -32600', async (t) => {
  for (const line of [
    '42',
    '"text"',
    'null',
    'true',
    '{}',
    '{"jsonrpc":"2.0"}',
    '{"jsonrpc":"1.0","method":"stats","id":3}',
    '{"jsonrpc":"2.0","method":7,"id":4}',
    '{"jsonrpc":"2.0","method":"stats","id":5,"extra":1}',
  ]) {
    const parsed = JSON.parse(line) as { id?: unknown };
    const id = typeof parsed === 'object' && parsed !== null && 'id' in parsed ? parsed.id : null;
    const e = await errorFor(line, id);
    t.equal(e.error?.code, -32600, line);
  }
  await unchanged(t);
});

t.test('an id of a type JSON-RPC does not allow gets -32600 with id null', async (t) => {
  for (const id of [{}, [], true, 1.5, 1e300, 2 ** 60, 'x'.repeat(257)]) {
    const e = await errorFor(JSON.stringify({ jsonrpc: '2.0', id, method: 'stats' }));
    t.equal(e.error?.code, -32600, `id ${JSON.stringify(id).slice(0, 20)}`);
  }
  const nullId = await errorFor('{"jsonrpc":"2.0","id":null,"method":"nope"}');
  t.equal(nullId.error?.code, -32601, 'id null is allowed (and echoed)');
  serve.expectAnswer('str-id', 'stats');
  serve.write(`${JSON.stringify({ jsonrpc: '2.0', id: 'str-id', method: 'stats' })}\n`);
  t.same((await serve.answer('str-id')).result, baseline, 'a string id is echoed');
  serve.expectAnswer(-7, 'stats');
  serve.write(`${JSON.stringify({ jsonrpc: '2.0', id: -7, method: 'stats' })}\n`);
  t.ok((await serve.answer(-7)).result, 'a negative integer id is echoed');
  await unchanged(t);
});

t.test('an unknown method gets -32601, including names of Object.prototype members', async (t) => {
  for (const [i, method] of ['nope', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'Register', ''].entries()) {
    const e = await errorFor(JSON.stringify({ jsonrpc: '2.0', id: 1000 + i, method }), 1000 + i);
    t.equal(e.error?.code, -32601, `method '${method}'`);
  }
  await unchanged(t);
});

t.test('wrong params get -32602 with a GL_ERR_ code and a message naming the field', async (t) => {
  const cases: Array<[string, unknown, string, RegExp]> = [
    ['register', [1, 2], 'GL_ERR_USAGE', /object/],
    ['register', {}, 'GL_ERR_KERNEL_ID_INVALID', /kernel_id/],
    ['register', { kernel_id: '../etc' }, 'GL_ERR_KERNEL_ID_INVALID', /kernel_id/],
    ['register', { kernel_id: 7 }, 'GL_ERR_KERNEL_ID_INVALID', /kernel_id/],
    ['register', { kernel_id: 'k-x', timeout_ms: 'soon' }, 'GL_ERR_USAGE', /timeout_ms/],
    ['register', { kernel_id: 'k-x', timeout_ms: 2 ** 31 }, 'GL_ERR_USAGE', /timeout_ms/],
    ['register', { kernel_id: 'k-x', port_range: '9..1' }, 'GL_ERR_PORT_RANGE_BOUNDS', /range/],
    ['register', { kernel_id: 'k-x', port_range: 'wide' }, 'GL_ERR_PORT_RANGE_SYNTAX', /range/],
    ['register', { kernel_id: 'k-x', protocol: 3 }, 'GL_ERR_USAGE', /protocol/],
    ['register', { kernel_id: 'k-x', protocol: 1 }, 'GL_ERR_V1_NOT_ENABLED', /legacy/],
    ['register', { kernel_id: 'k-x', transport: 'udp' }, 'GL_ERR_USAGE', /transport/],
    ['register', { kernel_id: 'k-x', token: 'mine' }, 'GL_ERR_USAGE', /token/],
    ['control', { kernel_id: 'k-steady', action: 'explode' }, 'GL_ERR_CONTROL_REQUEST_INVALID', /action/],
    ['control', { kernel_id: 'k-steady', action: 'signal' }, 'GL_ERR_CONTROL_REQUEST_INVALID', /signal/],
    ['control', { kernel_id: 'k-steady', action: 'signal', signal: 'SIGSEGV' }, 'GL_ERR_CONTROL_REQUEST_INVALID', /signal/],
    ['control', { kernel_id: 'k-steady', action: 'interrupt', signal: 'SIGINT' }, 'GL_ERR_CONTROL_REQUEST_INVALID', /signal/],
    ['adopt', {}, 'GL_ERR_USAGE', /control_target/],
    [
      'adopt',
      { control_target: { kernel_id: 'k-a', protocol: 2, host: '127.0.0.1', comm_port: 70000, launcher_public_key: 'AA==' } },
      'GL_ERR_USAGE',
      /comm_port/,
    ],
    [
      'adopt',
      { control_target: { kernel_id: 'k-a', protocol: 2, host: '127.0.0.1', comm_port: 4000 } },
      'GL_ERR_USAGE',
      /launcher_public_key/,
    ],
    [
      'adopt',
      { control_target: { kernel_id: 'k-a', protocol: 2, host: '127.0.0.1', comm_port: 4000, launcher_public_key: 'not-a-key' } },
      'GL_ERR_USAGE',
      /launcherPublicKey|key/,
    ],
    [
      'adopt',
      { control_target: { kernel_id: 'k-a', protocol: 2, host: 'a b', comm_port: 4000, launcher_public_key: 'x' } },
      'GL_ERR_USAGE',
      /host/,
    ],
    ['forget', { kernel_id: null }, 'GL_ERR_KERNEL_ID_INVALID', /kernel_id/],
    ['controlTarget', 'k-steady', 'GL_ERR_USAGE', /object/],
    ['cancel', { kernel_id: 'k-steady', force: true }, 'GL_ERR_USAGE', /force/],
    ['stats', { verbose: true }, 'GL_ERR_USAGE', /empty/],
    ['close', { now: true }, 'GL_ERR_USAGE', /empty/],
  ];
  for (const [i, [method, params, code, message]] of cases.entries()) {
    const id = 2000 + i;
    const e = await errorFor(JSON.stringify({ jsonrpc: '2.0', id, method, params }), id);
    t.equal(e.error?.code, -32602, `${method} ${JSON.stringify(params)}: -32602`);
    t.equal(e.error?.data?.code, code, `${method} ${JSON.stringify(params)}: ${code}`);
    t.match(e.error?.message, message, `${method}: the message names what is wrong`);
  }
  await unchanged(t);
});

t.test('a 10 MB line gets one -32600 and is discarded; the next line is served', async (t) => {
  const before = serve.messages.length;
  // Written in pieces, as a pipe delivers it; no newline until the end.
  const piece = Buffer.alloc(1024 * 1024, 'a'.charCodeAt(0));
  serve.write('{"jsonrpc":"2.0","id":77,"method":"stats","params":{"pad":"');
  for (let i = 0; i < 10; i++) serve.write(piece);
  serve.write('"}}\n');
  const id = serve.send('stats');
  const answer = await serve.answer(id);
  t.same(answer.result, baseline, 'the request after the long line is answered');
  const errors = serve.messages.slice(before).filter((m) => m.error !== undefined);
  t.equal(errors.length, 1, 'exactly one error for the long line');
  t.equal(errors[0]?.error?.code, -32600);
  t.equal(errors[0]?.id, null);
  t.notOk(
    serve.messages.some((m) => m.id === 77),
    'the long request itself never ran',
  );
  await unchanged(t);
});

t.test('deeply nested JSON is refused like any other malformed request', async (t) => {
  const deep = `${'['.repeat(400_000)}${']'.repeat(400_000)}`;
  t.equal((await errorFor(deep)).error?.code, -32600);
  const deepParams = `{"jsonrpc":"2.0","id":3000,"method":"stats","params":{"a":${'['.repeat(200_000)}${']'.repeat(200_000)}}}`;
  t.equal((await errorFor(deepParams, 3000)).error?.code, -32602);
  await unchanged(t);
});

t.test('a notification (no id) gets no answer, even when it is wrong', async (t) => {
  const before = serve.messages.length;
  serve.write('{"jsonrpc":"2.0","method":"nope"}\n{"jsonrpc":"2.0","method":"register","params":{}}\n');
  const id = serve.send('stats');
  await serve.answer(id);
  t.equal(serve.messages.length, before + 1, 'only the stats request was answered');
  await unchanged(t);
});

t.test('blank lines and CRLF line ends are accepted', async (t) => {
  serve.expectAnswer(4000, 'stats');
  serve.write('\n\r\n   \n{"jsonrpc":"2.0","id":4000,"method":"stats"}\r\n');
  t.same((await serve.answer(4000)).result, baseline);
  await unchanged(t);
});

t.test('500 control requests in one write are all answered (more than can be in flight at once)', async (t) => {
  const ids: number[] = [];
  let text = '';
  for (let i = 0; i < 500; i++) {
    const id = 5000 + i;
    ids.push(id);
    serve.expectAnswer(id, 'control');
    text += `${JSON.stringify({ jsonrpc: '2.0', id, method: 'control', params: { kernel_id: 'k-nobody', action: 'interrupt' } })}\n`;
  }
  serve.write(text);
  const answers = await Promise.all(ids.map((id) => serve.answer(id)));
  t.equal(
    answers.filter((a) => (a.result as { code?: string } | undefined)?.code === 'GL_ERR_CONTROL_UNAVAILABLE').length,
    500,
    'each one answered: no launcher known',
  );
  await unchanged(t);
});
