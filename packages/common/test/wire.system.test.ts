// Jupyter wire signatures, checked against jupyter_client's own Session
// (test/fixtures/jc_wire.py, run with the system Python).
import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  DELIMITER,
  MessageSigner,
  PROTOCOL_VERSION,
  createHeader,
  createMessage,
  parseMessage,
  serializeMessage,
  verifyFrames,
} from '../src/wire.js';
import type { Result } from '../src/errors.js';
import { runPythonJson } from './fixtures/python.js';
import { resultCode } from './fixtures/samples.js';

type PyOp =
  | { op: 'serialize'; key: string; scheme: string; msg_type: string; content: unknown; idents?: string[] }
  | { op: 'deserialize'; key: string; scheme: string; frames: string[] }
  | { op: 'hmac'; key: string; hash: string; parts: string[] };

interface Serialized {
  frames: string[];
  header: Record<string, unknown>;
}

type Deserialized =
  | {
      ok: true;
      idents: string[];
      header: Record<string, unknown>;
      parent_header: Record<string, unknown>;
      metadata: unknown;
      content: unknown;
    }
  | { ok: false; error: string };

function python<T>(ops: PyOp[]): Promise<T[]> {
  return runPythonJson<T[]>('jc_wire.py', [], ops);
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64');

const codeOf = (r: Result<unknown>): string => resultCode(r, 'ok');

function randomKey(): string {
  return randomUUID();
}

function sampleContent(): Record<string, unknown> {
  return {
    code: `print(${randomBytes(4).readUInt32BE()})`,
    silent: false,
    store_history: true,
    user_expressions: {},
    allow_stdin: true,
    stop_on_error: true,
  };
}

/** Frames of a message made by serializeMessage, with a fresh random key. */
function nodeFrames(key = randomKey(), identities: Buffer[] = []): { key: string; frames: Buffer[]; content: Record<string, unknown> } {
  const content = sampleContent();
  const msg = createMessage('execute_request', content, { session: randomUUID(), identities });
  return { key, frames: serializeMessage(msg, new MessageSigner(key)), content };
}

t.test('a message serialised by jupyter_client parses with parseMessage and keeps header, content and routing ids', async (t) => {
  const key = randomKey();
  const content = sampleContent();
  const ident = randomBytes(5);
  const [made] = await python<Serialized>([
    { op: 'serialize', key, scheme: 'hmac-sha256', msg_type: 'execute_request', content, idents: [b64(ident)] },
  ]);
  const parsed = parseMessage(made!.frames.map(unb64), new MessageSigner(key));
  t.equal(codeOf(parsed), 'ok');
  if (!parsed.ok) return;
  t.same(parsed.value.header, made!.header);
  t.same(parsed.value.content, content);
  t.same(parsed.value.identities, [ident]);
});

t.test('a message serialised by serializeMessage is accepted by jupyter_client', async (t) => {
  const ident = randomBytes(5);
  const { key, frames, content } = nodeFrames(randomKey(), [ident]);
  const [checked] = await python<Deserialized>([{ op: 'deserialize', key, scheme: 'hmac-sha256', frames: frames.map(b64) }]);
  if (checked === undefined || !checked.ok) {
    t.fail(`jupyter_client refused it: ${JSON.stringify(checked)}`);
    return;
  }
  t.same(checked.content, content);
  t.same(checked.idents, [b64(ident)]);
  const at = frames.findIndex((f) => f.toString() === DELIMITER);
  const header = JSON.parse(frames[at + 2]!.toString()) as Record<string, unknown>;
  for (const field of ['msg_id', 'msg_type', 'session', 'username', 'version']) t.equal(checked.header[field], header[field], field);
});

t.test('signatures agree with jupyter_client for hmac-sha512 in both directions', async (t) => {
  const key = randomKey();
  const signer = new MessageSigner(key, 'hmac-sha512');
  const msg = createMessage('kernel_info_request', {}, { session: randomUUID() });
  const ours = serializeMessage(msg, signer);
  t.equal(ours[1]!.length, 128, 'a SHA-512 hex digest');
  const [made, checked] = await python<Serialized | Deserialized>([
    { op: 'serialize', key, scheme: 'hmac-sha512', msg_type: 'kernel_info_request', content: {} },
    { op: 'deserialize', key, scheme: 'hmac-sha512', frames: ours.map(b64) },
  ]);
  t.equal(codeOf(parseMessage((made as Serialized).frames.map(unb64), signer)), 'ok', 'we accept theirs');
  t.ok((checked as Deserialized).ok, 'they accept ours');
});

t.test("sign equals an HMAC over the four frames computed by Python's hmac module", async (t) => {
  const key = randomKey();
  const parts = [randomBytes(40), randomBytes(3), Buffer.alloc(0), randomBytes(100)];
  const [sha256, sha1] = await python<{ hex: string }>([
    { op: 'hmac', key, hash: 'sha256', parts: parts.map(b64) },
    { op: 'hmac', key, hash: 'sha1', parts: parts.map(b64) },
  ]);
  t.equal(new MessageSigner(key).sign(parts), sha256!.hex);
  t.equal(new MessageSigner(key, 'hmac-sha1').sign(parts), sha1!.hex);
});

t.test('refuses a message with a flipped byte in the signature or in any signed frame', async (t) => {
  const key = randomKey();
  const [made] = await python<Serialized>([
    { op: 'serialize', key, scheme: 'hmac-sha256', msg_type: 'execute_request', content: sampleContent() },
  ]);
  const frames = made!.frames.map(unb64);
  const signer = new MessageSigner(key);
  const at = frames.findIndex((f) => f.toString() === DELIMITER);
  t.equal(codeOf(parseMessage(frames, signer)), 'ok', 'untouched');
  for (let i = at + 1; i < at + 6; i++) {
    for (const position of [0, Math.floor(frames[i]!.length / 2), frames[i]!.length - 1]) {
      const tampered = frames.map((f) => Buffer.from(f));
      tampered[i]![position] = tampered[i]![position]! ^ 0x01;
      t.equal(codeOf(parseMessage(tampered, signer)), 'GL_ERR_WIRE_SIGNATURE_INVALID', `frame ${i - at} byte ${position}`);
    }
  }
});

t.test('each side refuses a message the other signed with a different key', async (t) => {
  const ours = nodeFrames();
  const theirKey = randomKey();
  const [made, checked] = await python<Serialized | Deserialized>([
    { op: 'serialize', key: theirKey, scheme: 'hmac-sha256', msg_type: 'execute_request', content: {} },
    { op: 'deserialize', key: theirKey, scheme: 'hmac-sha256', frames: ours.frames.map(b64) },
  ]);
  t.equal(codeOf(parseMessage((made as Serialized).frames.map(unb64), new MessageSigner(ours.key))), 'GL_ERR_WIRE_SIGNATURE_INVALID');
  t.notOk((checked as Deserialized).ok, 'jupyter_client refuses ours');
  t.match((checked as { error: string }).error, /signature/i);
});

t.test('refuses a signature of another length without throwing', async (t) => {
  const { key, frames } = nodeFrames();
  const signer = new MessageSigner(key);
  const at = frames.findIndex((f) => f.toString() === DELIMITER);
  for (const signature of [Buffer.alloc(0), frames[at + 1]!.subarray(1), Buffer.concat([frames[at + 1]!, Buffer.from('0')])]) {
    const tampered = [...frames];
    tampered[at + 1] = signature;
    t.equal(codeOf(verifyFrames(tampered, signer)), 'GL_ERR_WIRE_SIGNATURE_INVALID', `${signature.length} bytes`);
  }
});

t.test('refuses frames without the delimiter', async (t) => {
  const { key, frames } = nodeFrames();
  const without = frames.filter((f) => f.toString() !== DELIMITER);
  t.equal(without.length, frames.length - 1);
  t.equal(codeOf(parseMessage(without, new MessageSigner(key))), 'GL_ERR_WIRE_MALFORMED');
  t.equal(codeOf(parseMessage([], new MessageSigner(key))), 'GL_ERR_WIRE_MALFORMED');
});

t.test('refuses a message that lacks one of its four JSON frames', async (t) => {
  const { key, frames } = nodeFrames();
  t.equal(codeOf(parseMessage(frames.slice(0, -1), new MessageSigner(key))), 'GL_ERR_WIRE_MALFORMED');
});

t.test('refuses correctly signed frames that are not JSON or whose header is not an object', async (t) => {
  const key = randomKey();
  const signer = new MessageSigner(key);
  const build = (parts: Buffer[]) => [Buffer.from(DELIMITER), Buffer.from(signer.sign(parts)), ...parts];
  t.equal(
    codeOf(parseMessage(build([Buffer.from('{'), Buffer.from('{}'), Buffer.from('{}'), Buffer.from('{}')]), signer)),
    'GL_ERR_WIRE_MALFORMED',
    'not JSON',
  );
  t.equal(
    codeOf(parseMessage(build([Buffer.from('null'), Buffer.from('{}'), Buffer.from('{}'), Buffer.from('{}')]), signer)),
    'GL_ERR_WIRE_MALFORMED',
    'null header',
  );
});

t.test('finds the delimiter after the routing ids and keeps the buffers after the content', async (t) => {
  const key = randomKey();
  const signer = new MessageSigner(key);
  const ids = [randomBytes(5), randomBytes(8)];
  const msg = createMessage('comm_msg', { data: {} }, { session: randomUUID(), identities: ids });
  const extra = [randomBytes(32), randomBytes(1)];
  msg.buffers = extra;
  const frames = serializeMessage(msg, signer);
  t.same(verifyFrames(frames, signer), { ok: true, value: ids.length });
  const parsed = parseMessage(frames, signer);
  t.ok(parsed.ok);
  if (parsed.ok) {
    t.same(parsed.value.identities, ids);
    t.same(parsed.value.buffers, extra);
  }
});

t.test('an empty key disables signing, as in jupyter_client', async (t) => {
  const signer = new MessageSigner('');
  const ours = serializeMessage(createMessage('kernel_info_request', {}, { session: randomUUID() }), signer);
  const at = ours.findIndex((f) => f.toString() === DELIMITER);
  t.equal(ours[at + 1]!.length, 0, 'empty signature frame');
  const [made, checked] = await python<Serialized | Deserialized>([
    { op: 'serialize', key: '', scheme: 'hmac-sha256', msg_type: 'kernel_info_request', content: {} },
    { op: 'deserialize', key: '', scheme: 'hmac-sha256', frames: ours.map(b64) },
  ]);
  const theirs = (made as Serialized).frames.map(unb64);
  t.equal(theirs[theirs.findIndex((f) => f.toString() === DELIMITER) + 1]!.length, 0, 'jupyter_client sends no signature either');
  t.equal(codeOf(parseMessage(theirs, signer)), 'ok', 'we accept theirs');
  t.ok((checked as Deserialized).ok, 'they accept ours');
  const forged = [...ours];
  forged[at + 1] = Buffer.from('0'.repeat(64));
  t.equal(codeOf(parseMessage(forged, signer)), 'ok', 'without a key, no signature is checked');
});

t.test('a signer with a key refuses an unsigned message', async (t) => {
  const unsigned = serializeMessage(createMessage('kernel_info_request', {}, { session: randomUUID() }), new MessageSigner(''));
  t.equal(codeOf(parseMessage(unsigned, new MessageSigner(randomKey()))), 'GL_ERR_WIRE_SIGNATURE_INVALID');
});

t.test('createHeader fills a fresh id, the session, the protocol version and an ISO date', async (t) => {
  const session = randomUUID();
  const a = createHeader('shutdown_request', session);
  const b = createHeader('shutdown_request', session);
  t.not(a.msg_id, b.msg_id);
  t.equal(a.session, session);
  t.equal(a.msg_type, 'shutdown_request');
  t.equal(a.version, PROTOCOL_VERSION);
  t.ok(Math.abs(Date.parse(a.date) - Date.now()) < 60_000);
});

t.test('refuses a signature scheme that is not hmac with a hash Node supports, when the signer is made', async (t) => {
  for (const scheme of ['sha256', 'hmac-nope', 'hmac-']) t.throws(() => new MessageSigner('k', scheme), TypeError, scheme);
});
