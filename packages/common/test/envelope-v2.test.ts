import t from 'tap';
import fc from 'fast-check';
import nacl from 'tweetnacl';
import { isDeepStrictEqual } from 'node:util';
import {
  ClockSeq,
  SeqGuard,
  generateKeyPair,
  keyPairFromSecretKey,
  openControlRequest,
  openEvent,
  openResponse,
  parseResponseEnvelope,
  sealControlRequest,
  sealEvent,
  sealResponse,
} from '../src/envelope-v2.js';
import { toBase64 } from '../src/base64.js';
import { decodeBoxPublicKey, isCanonicalBoxPublicKey } from '../src/box-key.js';
import { MAX_CONTROL_BYTES, MAX_RESPONSE_BYTES } from '../src/limits.js';
import { parsePortRange } from '../src/port-range.js';
import type { Result } from '../src/errors.js';
import {
  arbControlRequest,
  arbEvent,
  arbFailure,
  arbSuccess,
  sampleControlRequest,
  sampleEvent,
  sampleFailure,
  sampleKernelId,
  sampleSuccess,
  resultCode,
  attemptCode,
} from './fixtures/samples.js';

const codeOf = (r: Result<unknown>): string => resultCode(r, 'opened');
const attempt = (open: () => Result<unknown>): string => attemptCode(open);

/** `value` with ordinary prototypes (fast-check builds records without one). */
function plainObject<T>(value: T): T {
  return structuredClone(value);
}

/**
 * `text` with byte `at` changed, for every position. The bit flipped rotates
 * with the position, so each bit value is exercised along the text; the
 * random-byte properties below cover the other changes.
 */
function* flipEveryByte(text: string): Generator<{ at: number; mask: number; bytes: Buffer }> {
  const original = Buffer.from(text, 'utf8');
  for (let at = 0; at < original.length; at++) {
    const mask = 1 << ((at * 3) % 8);
    const bytes = Buffer.from(original);
    bytes[at] = bytes[at]! ^ mask;
    yield { at, mask, bytes };
  }
}

/** Runs `open` on every flipped copy of `text`; returns the copies that were not refused with a GL_ERR_ code. */
function unrefusedFlips(text: string, open: (bytes: Buffer) => Result<unknown>): string[] {
  const bad: string[] = [];
  for (const { at, mask, bytes } of flipEveryByte(text)) {
    const code = attempt(() => open(bytes));
    if (!code.startsWith('GL_ERR_')) bad.push(`byte ${at} ^ ${mask}: ${code}`);
  }
  return bad;
}

/** `text` with the byte at `index % length` replaced by a different byte. */
function replaceByte(text: string, index: number, delta: number): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const at = index % bytes.length;
  bytes[at] = (bytes[at]! + delta) & 0xff; // delta in 1..255, so the byte always changes
  return bytes;
}

/** A JSON object text with one field changed. */
function withField(text: string, field: string, value: unknown): string {
  return JSON.stringify({ ...(JSON.parse(text) as Record<string, unknown>), [field]: value });
}

function withoutField(text: string, field: string): string {
  const o = JSON.parse(text) as Record<string, unknown>;
  delete o[field];
  return JSON.stringify(o);
}

t.test('a sealed success response opens to the same plaintext with the listener secret key', async (t) => {
  const listener = generateKeyPair();
  const plaintext = sampleSuccess();
  const sealed = sealResponse(plaintext, listener.publicKey);
  const opened = openResponse(sealed.text, listener.secretKey);
  t.ok(opened.ok, codeOf(opened));
  if (opened.ok) {
    t.same(opened.value.plaintext, plaintext);
    t.equal(opened.value.envelope.kernelId, plaintext.kernel_id);
  }
});

t.test('a sealed failure response opens to the same failure report', async (t) => {
  const listener = generateKeyPair();
  const plaintext = sampleFailure();
  const opened = openResponse(sealResponse(plaintext, listener.publicKey).text, listener.secretKey);
  t.ok(opened.ok, codeOf(opened));
  if (opened.ok) t.same(opened.value.plaintext, plaintext);
});

t.test('a response opens from bytes as well as from text', async (t) => {
  const listener = generateKeyPair();
  const plaintext = sampleSuccess();
  const opened = openResponse(Buffer.from(sealResponse(plaintext, listener.publicKey).text), listener.secretKey);
  t.ok(opened.ok, codeOf(opened));
  if (opened.ok) t.same(opened.value.plaintext, plaintext);
});

t.test('the response envelope carries the ephemeral public key the launcher keeps for control', async (t) => {
  const listener = generateKeyPair();
  const plaintext = sampleSuccess();
  const sealed = sealResponse(plaintext, listener.publicKey);
  const env = parseResponseEnvelope(sealed.text);
  t.ok(env.ok, codeOf(env));
  if (env.ok) {
    t.same(Buffer.from(env.value.epk), Buffer.from(sealed.ephemeral.publicKey));
    t.equal(env.value.kernelId, plaintext.kernel_id);
  }
  t.same(Buffer.from(keyPairFromSecretKey(sealed.ephemeral.secretKey).publicKey), Buffer.from(sealed.ephemeral.publicKey));
  t.notSame(
    Buffer.from(sealResponse(plaintext, listener.publicKey).ephemeral.publicKey),
    Buffer.from(sealed.ephemeral.publicKey),
    'each response has its own ephemeral key',
  );
});

t.test('a sealed control request opens on the launcher with the listener public key', async (t) => {
  const listener = generateKeyPair();
  const launcher = generateKeyPair();
  const request = sampleControlRequest(sampleKernelId(), { signal: 'SIGUSR2' });
  const opened = openControlRequest(
    sealControlRequest(request, launcher.publicKey, listener.secretKey),
    listener.publicKey,
    launcher.secretKey,
  );
  t.ok(opened.ok, codeOf(opened));
  if (opened.ok) t.same(opened.value, request);
});

t.test('a sealed event opens on the listener with the launcher public key', async (t) => {
  const listener = generateKeyPair();
  const launcher = generateKeyPair();
  const event = sampleEvent();
  const opened = openEvent(sealEvent(event, listener.publicKey, launcher.secretKey), launcher.publicKey, listener.secretKey);
  t.ok(opened.ok, codeOf(opened));
  if (opened.ok) t.same(opened.value, event);
});

t.test('refuses a response opened with another listener secret key', async (t) => {
  const listener = generateKeyPair();
  const other = generateKeyPair();
  const text = sealResponse(sampleSuccess(), listener.publicKey).text;
  t.equal(codeOf(openResponse(text, other.secretKey)), 'GL_ERR_ENVELOPE_OPEN_FAILED');
});

t.test('refuses a control request sealed by a key other than the listener key', async (t) => {
  const listener = generateKeyPair();
  const impostor = generateKeyPair();
  const launcher = generateKeyPair();
  const text = sealControlRequest(sampleControlRequest(), launcher.publicKey, impostor.secretKey);
  t.equal(codeOf(openControlRequest(text, listener.publicKey, launcher.secretKey)), 'GL_ERR_ENVELOPE_OPEN_FAILED');
});

t.test('refuses an event sealed by a key other than the launcher key', async (t) => {
  const listener = generateKeyPair();
  const launcher = generateKeyPair();
  const impostor = generateKeyPair();
  const text = sealEvent(sampleEvent(), listener.publicKey, impostor.secretKey);
  t.equal(codeOf(openEvent(text, launcher.publicKey, listener.secretKey)), 'GL_ERR_ENVELOPE_OPEN_FAILED');
});

t.test('accepts a response of exactly 64 KiB and refuses one byte more as too large', async (t) => {
  const listener = generateKeyPair();
  const text = sealResponse(sampleSuccess(), listener.publicKey).text;
  // JSON allows trailing white space, so padding keeps the message valid.
  const atLimit = text + ' '.repeat(MAX_RESPONSE_BYTES - Buffer.byteLength(text));
  t.equal(codeOf(openResponse(atLimit, listener.secretKey)), 'opened');
  t.equal(codeOf(openResponse(`${atLimit} `, listener.secretKey)), 'GL_ERR_ENVELOPE_TOO_LARGE');
  t.equal(codeOf(openResponse(Buffer.from(`${atLimit} `), listener.secretKey)), 'GL_ERR_ENVELOPE_TOO_LARGE');
  t.equal(codeOf(parseResponseEnvelope('x'.repeat(10 * MAX_RESPONSE_BYTES))), 'GL_ERR_ENVELOPE_TOO_LARGE', 'checked before parsing');
});

t.test('counts the response limit in UTF-8 bytes, not characters', async (t) => {
  const listener = generateKeyPair();
  const text = sealResponse(sampleSuccess(), listener.publicKey).text;
  const room = MAX_RESPONSE_BYTES - Buffer.byteLength(text);
  // U+00A0 is two bytes in UTF-8 but one UTF-16 unit; it is not JSON white space, so only the size matters here.
  const padded = text + '\u00a0'.repeat(Math.floor(room / 2) + 1);
  t.ok(padded.length <= MAX_RESPONSE_BYTES);
  t.equal(codeOf(openResponse(padded, listener.secretKey)), 'GL_ERR_ENVELOPE_TOO_LARGE');
});

t.test('accepts a control request of exactly 4 KiB and refuses one byte more as too large', async (t) => {
  const listener = generateKeyPair();
  const launcher = generateKeyPair();
  const text = sealControlRequest(sampleControlRequest(), launcher.publicKey, listener.secretKey);
  const atLimit = text + ' '.repeat(MAX_CONTROL_BYTES - Buffer.byteLength(text));
  t.equal(codeOf(openControlRequest(atLimit, listener.publicKey, launcher.secretKey)), 'opened');
  t.equal(codeOf(openControlRequest(`${atLimit} `, listener.publicKey, launcher.secretKey)), 'GL_ERR_ENVELOPE_TOO_LARGE');
});

t.test('refuses an event larger than 4 KiB', async (t) => {
  const listener = generateKeyPair();
  const launcher = generateKeyPair();
  const text = sealEvent(sampleEvent(), listener.publicKey, launcher.secretKey);
  const over = text + ' '.repeat(MAX_CONTROL_BYTES - Buffer.byteLength(text) + 1);
  t.equal(codeOf(openEvent(text, launcher.publicKey, listener.secretKey)), 'opened');
  t.equal(codeOf(openEvent(over, launcher.publicKey, listener.secretKey)), 'GL_ERR_ENVELOPE_TOO_LARGE');
});

t.test('refuses a box whose inner kernel id differs from the outer one', async (t) => {
  const listener = generateKeyPair();
  const ephemeral = nacl.box.keyPair();
  const inner = sampleSuccess();
  const outerId = sampleKernelId();
  const nonce = nacl.randomBytes(nacl.box.nonceLength);
  const box = nacl.box(Buffer.from(JSON.stringify(inner)), nonce, listener.publicKey, ephemeral.secretKey);
  const text = JSON.stringify({ v: 2, kernel_id: outerId, epk: toBase64(ephemeral.publicKey), nonce: toBase64(nonce), box: toBase64(box) });
  t.equal(codeOf(openResponse(text, listener.secretKey)), 'GL_ERR_KERNEL_ID_MISMATCH');
  // The same hand-made box with the matching outer id opens, so the refusal is the id check.
  t.equal(codeOf(openResponse(withField(text, 'kernel_id', inner.kernel_id), listener.secretKey)), 'opened');
});

t.test('refuses non-canonical base64 in epk, nonce and box', async (t) => {
  const listener = generateKeyPair();
  const text = sealResponse(sampleSuccess(), listener.publicKey).text;
  const env = JSON.parse(text) as { epk: string; nonce: string; box: string };
  t.match(env.epk, /=$/, 'a 32-byte key has one padding character, so its last symbol carries two unused bits');
  const lastSymbol = env.epk.at(-2)!;
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const sameBytes = alphabet[alphabet.indexOf(lastSymbol) ^ 1]!;
  const nonCanonicalEpk = `${env.epk.slice(0, -2)}${sameBytes}=`;
  t.same(Buffer.from(nonCanonicalEpk, 'base64'), Buffer.from(env.epk, 'base64'), 'a lenient decoder reads the same key');
  const variants: Array<[string, string, string]> = [
    ['epk with unused bits set', 'epk', nonCanonicalEpk],
    ['epk without padding', 'epk', env.epk.replace(/=+$/, '')],
    ['epk with a line break', 'epk', `${env.epk.slice(0, 20)}\n${env.epk.slice(20)}`],
    // Bytes 0xff encode as '/' in standard base64 and '_' in the URL-safe alphabet.
    ['nonce in the URL-safe alphabet', 'nonce', Buffer.alloc(nacl.box.nonceLength, 0xff).toString('base64url')],
    ['nonce with trailing padding', 'nonce', `${env.nonce}==`],
    ['box with a space', 'box', ` ${env.box}`],
    ['box in the URL-safe alphabet', 'box', Buffer.from(env.box, 'base64').toString('base64url')],
  ];
  for (const [name, field, value] of variants) {
    t.equal(codeOf(openResponse(withField(text, field, value), listener.secretKey)), 'GL_ERR_ENVELOPE_MALFORMED', name);
  }
});

t.test('refuses an epk with its top bit set, which X25519 would read as the same key', async (t) => {
  const listener = generateKeyPair();
  const text = sealResponse(sampleSuccess(), listener.publicKey).text;
  const epk = Buffer.from((JSON.parse(text) as { epk: string }).epk, 'base64');
  epk[31] = epk[31]! | 0x80;
  // Same shared key, so only the encoding check stands between this copy and a
  // second acceptance under a different replay mark.
  t.equal(codeOf(openResponse(withField(text, 'epk', epk.toString('base64')), listener.secretKey)), 'GL_ERR_ENVELOPE_MALFORMED');
});

t.test('accepts exactly the canonical X25519 public key encodings', async (t) => {
  const p = Buffer.alloc(32, 0xff); // 2^255 - 19, little-endian
  p[0] = 0xed;
  p[31] = 0x7f;
  const belowP = Buffer.from(p);
  belowP[0] = 0xec;
  const pPlusOne = Buffer.from(p);
  pPlusOne[0] = 0xee;
  t.ok(isCanonicalBoxPublicKey(belowP), 'p - 1');
  t.notOk(isCanonicalBoxPublicKey(p), 'p');
  t.notOk(isCanonicalBoxPublicKey(pPlusOne), 'p + 1');
  t.notOk(isCanonicalBoxPublicKey(Buffer.alloc(31)), 'short');
  for (let i = 0; i < 200; i++) {
    const pk = generateKeyPair().publicKey;
    if (!isCanonicalBoxPublicKey(pk)) t.fail(`generated key ${toBase64(pk)} is not canonical`);
  }
  t.equal(decodeBoxPublicKey(p.toString('base64')), undefined, 'decodeBoxPublicKey refuses p');
  const high = Buffer.from(generateKeyPair().publicKey);
  high[31] = high[31]! | 0x80;
  t.equal(decodeBoxPublicKey(high.toString('base64')), undefined, 'decodeBoxPublicKey refuses a set top bit');
});

t.test('refuses epk and nonce of the wrong length and a box shorter than its tag', async (t) => {
  const listener = generateKeyPair();
  const text = sealResponse(sampleSuccess(), listener.publicKey).text;
  t.equal(codeOf(openResponse(withField(text, 'epk', toBase64(nacl.randomBytes(31))), listener.secretKey)), 'GL_ERR_ENVELOPE_MALFORMED');
  t.equal(codeOf(openResponse(withField(text, 'nonce', toBase64(nacl.randomBytes(23))), listener.secretKey)), 'GL_ERR_ENVELOPE_MALFORMED');
  t.equal(codeOf(openResponse(withField(text, 'box', toBase64(nacl.randomBytes(15))), listener.secretKey)), 'GL_ERR_ENVELOPE_MALFORMED');
});

t.test('refuses an unknown protocol version in responses, control requests and events', async (t) => {
  const listener = generateKeyPair();
  const launcher = generateKeyPair();
  const response = sealResponse(sampleSuccess(), listener.publicKey).text;
  const control = sealControlRequest(sampleControlRequest(), launcher.publicKey, listener.secretKey);
  const event = sealEvent(sampleEvent(), listener.publicKey, launcher.secretKey);
  for (const v of [1, 3, '2', null, 2.5]) {
    t.equal(
      codeOf(openResponse(withField(response, 'v', v), listener.secretKey)),
      'GL_ERR_ENVELOPE_VERSION',
      `response v=${JSON.stringify(v)}`,
    );
    t.equal(
      codeOf(openControlRequest(withField(control, 'v', v), listener.publicKey, launcher.secretKey)),
      'GL_ERR_ENVELOPE_VERSION',
      `control v=${JSON.stringify(v)}`,
    );
    t.equal(
      codeOf(openEvent(withField(event, 'v', v), launcher.publicKey, listener.secretKey)),
      'GL_ERR_ENVELOPE_VERSION',
      `event v=${JSON.stringify(v)}`,
    );
  }
  t.equal(codeOf(openResponse(withoutField(response, 'v'), listener.secretKey)), 'GL_ERR_ENVELOPE_VERSION', 'missing v');
});

t.test('refuses envelopes with a missing or an extra field', async (t) => {
  const listener = generateKeyPair();
  const launcher = generateKeyPair();
  const response = sealResponse(sampleSuccess(), listener.publicKey).text;
  const control = sealControlRequest(sampleControlRequest(), launcher.publicKey, listener.secretKey);
  for (const field of ['epk', 'nonce', 'box']) {
    t.equal(
      codeOf(openResponse(withoutField(response, field), listener.secretKey)),
      'GL_ERR_ENVELOPE_MALFORMED',
      `response without ${field}`,
    );
  }
  t.equal(
    codeOf(openResponse(withoutField(response, 'kernel_id'), listener.secretKey)),
    'GL_ERR_ENVELOPE_MALFORMED',
    'response without kernel_id',
  );
  t.equal(
    codeOf(openResponse(withField(response, 'extra', 1), listener.secretKey)),
    'GL_ERR_ENVELOPE_MALFORMED',
    'response with an extra field',
  );
  t.equal(
    codeOf(openControlRequest(withoutField(control, 'nonce'), listener.publicKey, launcher.secretKey)),
    'GL_ERR_ENVELOPE_MALFORMED',
    'control without nonce',
  );
  t.equal(
    codeOf(openControlRequest(withField(control, 'kernel_id', 'k'), listener.publicKey, launcher.secretKey)),
    'GL_ERR_ENVELOPE_MALFORMED',
    'control with an extra field',
  );
});

t.test('refuses input that is not a JSON object', async (t) => {
  const listener = generateKeyPair();
  const launcher = generateKeyPair();
  for (const input of ['', 'not json', '[]', 'null', '"text"', '2', '{"v":2', '\u0000']) {
    t.equal(codeOf(openResponse(input, listener.secretKey)), 'GL_ERR_ENVELOPE_MALFORMED', `response ${JSON.stringify(input)}`);
    t.equal(
      codeOf(openControlRequest(input, listener.publicKey, launcher.secretKey)),
      'GL_ERR_ENVELOPE_MALFORMED',
      `control ${JSON.stringify(input)}`,
    );
    t.equal(
      codeOf(openEvent(input, launcher.publicKey, listener.secretKey)),
      'GL_ERR_ENVELOPE_MALFORMED',
      `event ${JSON.stringify(input)}`,
    );
  }
});

t.test('refuses an envelope whose outer kernel id is invalid', async (t) => {
  const listener = generateKeyPair();
  const text = sealResponse(sampleSuccess(), listener.publicKey).text;
  t.equal(codeOf(openResponse(withField(text, 'kernel_id', '../etc'), listener.secretKey)), 'GL_ERR_KERNEL_ID_INVALID');
});

t.test('refuses a response whose ports lie outside the registered range', async (t) => {
  const listener = generateKeyPair();
  const text = sealResponse(sampleSuccess(), listener.publicKey).text; // ports in 40000..41000
  t.equal(codeOf(openResponse(text, listener.secretKey, { portRange: parsePortRange('40000..41000', { minSize: 1000 }) })), 'opened');
  t.equal(
    codeOf(openResponse(text, listener.secretKey, { portRange: parsePortRange('50000..51000', { minSize: 1000 }) })),
    'GL_ERR_PORT_OUT_OF_RANGE',
  );
});

t.test('refuses a response whose box holds a control request', async (t) => {
  // A response and the control requests that follow share one X25519 key
  // (listener key x launcher ephemeral key); the plaintext shapes tell them apart.
  const listener = generateKeyPair();
  const sealed = sealResponse(sampleSuccess(), listener.publicKey);
  const kernelId = sampleKernelId();
  const control = JSON.parse(sealControlRequest(sampleControlRequest(kernelId), sealed.ephemeral.publicKey, listener.secretKey)) as {
    nonce: string;
    box: string;
  };
  const forged = JSON.stringify({
    v: 2,
    kernel_id: kernelId,
    epk: toBase64(sealed.ephemeral.publicKey),
    nonce: control.nonce,
    box: control.box,
  });
  const code = codeOf(openResponse(forged, listener.secretKey));
  t.equal(code, 'GL_ERR_ENVELOPE_MALFORMED', 'the box opens but is not a response');
});

t.test('refuses a sealed event fed to openControlRequest', async (t) => {
  const listener = generateKeyPair();
  const launcher = generateKeyPair();
  const event = sealEvent(sampleEvent(), listener.publicKey, launcher.secretKey);
  // Same shared key both ways: the box opens, so only the plaintext check can refuse it.
  t.equal(codeOf(openControlRequest(event, listener.publicKey, launcher.secretKey)), 'GL_ERR_ENVELOPE_MALFORMED');
});

t.test('refuses a sealed control request fed to openEvent', async (t) => {
  const listener = generateKeyPair();
  const launcher = generateKeyPair();
  const control = sealControlRequest(sampleControlRequest(), launcher.publicKey, listener.secretKey);
  t.equal(codeOf(openEvent(control, launcher.publicKey, listener.secretKey)), 'GL_ERR_ENVELOPE_MALFORMED');
});

t.test('refuses a response box reflected to the launcher as a control request', async (t) => {
  const listener = generateKeyPair();
  const sealed = sealResponse(sampleSuccess(), listener.publicKey);
  const { nonce, box } = JSON.parse(sealed.text) as { nonce: string; box: string };
  const reflected = JSON.stringify({ v: 2, nonce, box });
  t.equal(codeOf(openControlRequest(reflected, listener.publicKey, sealed.ephemeral.secretKey)), 'GL_ERR_ENVELOPE_MALFORMED');
  t.equal(codeOf(openEvent(reflected, sealed.ephemeral.publicKey, listener.secretKey)), 'GL_ERR_ENVELOPE_MALFORMED');
});

t.test('decodes a base64 X25519 public key and refuses other lengths', async (t) => {
  const pair = generateKeyPair();
  const decoded = decodeBoxPublicKey(` ${toBase64(pair.publicKey)}\n`);
  t.same(decoded === undefined ? undefined : Buffer.from(decoded), Buffer.from(pair.publicKey));
  t.equal(decodeBoxPublicKey(toBase64(nacl.randomBytes(33))), undefined);
  t.equal(decodeBoxPublicKey('not base64!'), undefined);
});

t.test('SeqGuard refuses a repeated seq', async (t) => {
  const guard = new SeqGuard();
  const seq = Date.now() * 1000;
  t.ok(guard.accept(seq));
  t.notOk(guard.accept(seq));
  t.equal(guard.last, seq);
});

t.test('SeqGuard refuses a lower seq and keeps the highest accepted', async (t) => {
  const guard = new SeqGuard();
  const seq = Date.now() * 1000;
  t.ok(guard.accept(seq));
  t.notOk(guard.accept(seq - 1));
  t.notOk(guard.accept(0));
  t.notOk(guard.accept(Number.NaN));
  t.equal(guard.last, seq);
  t.ok(guard.accept(seq + 1));
});

t.test('SeqGuard accepts exactly the seqs above every accepted one (property)', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.maxSafeNat(), { maxLength: 50 }), (seqs) => {
      const guard = new SeqGuard();
      let max = -1;
      for (const s of seqs) {
        if (guard.accept(s) !== s > max) return false;
        max = Math.max(max, s);
      }
      return guard.last === max;
    }),
    { numRuns: 500 },
  );
  t.pass('property held');
});

t.test('ClockSeq is strictly increasing even when called faster than the clock ticks', async (t) => {
  const clock = new ClockSeq();
  const before = Date.now() * 1000;
  let previous = clock.next();
  let decreasing = 0;
  for (let i = 0; i < 20_000; i++) {
    const next = clock.next();
    if (!(next > previous)) decreasing++;
    previous = next;
  }
  const after = Date.now() * 1000;
  t.equal(decreasing, 0);
  t.ok(Number.isSafeInteger(previous));
  // Microseconds of the wall clock, so a restarted host continues above old values.
  t.ok(previous >= before - 1_000_000 && previous <= after + 20_000 + 1_000_000, `${previous} near ${before}..${after}`);
});

t.test('random response plaintexts round-trip (property)', async (t) => {
  const listener = generateKeyPair();
  fc.assert(
    fc.property(fc.oneof(arbSuccess, arbFailure), (plaintext) => {
      const opened = openResponse(sealResponse(plaintext, listener.publicKey).text, listener.secretKey);
      return opened.ok && isDeepStrictEqual(opened.value.plaintext, plainObject(plaintext));
    }),
    { numRuns: 150 },
  );
  t.pass('property held');
});

t.test('random control requests and events round-trip (property)', async (t) => {
  const listener = generateKeyPair();
  const launcher = generateKeyPair();
  fc.assert(
    fc.property(arbControlRequest, arbEvent, (request, event) => {
      const c = openControlRequest(
        sealControlRequest(request, launcher.publicKey, listener.secretKey),
        listener.publicKey,
        launcher.secretKey,
      );
      const e = openEvent(sealEvent(event, listener.publicKey, launcher.secretKey), launcher.publicKey, listener.secretKey);
      return c.ok && isDeepStrictEqual(c.value, plainObject(request)) && e.ok && isDeepStrictEqual(e.value, plainObject(event));
    }),
    { numRuns: 150 },
  );
  t.pass('property held');
});

t.test('refuses a flipped byte at every position of a sealed response, without throwing', async (t) => {
  const listener = generateKeyPair();
  const text = sealResponse(sampleSuccess(), listener.publicKey).text;
  t.equal(codeOf(openResponse(Buffer.from(text), listener.secretKey)), 'opened', 'the untouched response opens');
  t.same(
    unrefusedFlips(text, (b) => openResponse(b, listener.secretKey)),
    [],
  );
});

t.test('refuses a flipped byte at every position of a sealed control request, without throwing', async (t) => {
  const listener = generateKeyPair();
  const launcher = generateKeyPair();
  const text = sealControlRequest(sampleControlRequest(), launcher.publicKey, listener.secretKey);
  t.equal(codeOf(openControlRequest(Buffer.from(text), listener.publicKey, launcher.secretKey)), 'opened', 'the untouched request opens');
  t.same(
    unrefusedFlips(text, (b) => openControlRequest(b, listener.publicKey, launcher.secretKey)),
    [],
  );
});

t.test('refuses a flipped byte at every position of a sealed event, without throwing', async (t) => {
  const listener = generateKeyPair();
  const launcher = generateKeyPair();
  const text = sealEvent(sampleEvent(), listener.publicKey, launcher.secretKey);
  t.equal(codeOf(openEvent(Buffer.from(text), launcher.publicKey, listener.secretKey)), 'opened', 'the untouched event opens');
  t.same(
    unrefusedFlips(text, (b) => openEvent(b, launcher.publicKey, listener.secretKey)),
    [],
  );
});

t.test('refuses a sealed response with any byte replaced at a random position (property)', async (t) => {
  const listener = generateKeyPair();
  fc.assert(
    fc.property(fc.oneof(arbSuccess, arbFailure), fc.nat(), fc.integer({ min: 1, max: 255 }), (plaintext, index, delta) => {
      const text = sealResponse(plaintext, listener.publicKey).text;
      return attempt(() => openResponse(replaceByte(text, index, delta), listener.secretKey)).startsWith('GL_ERR_');
    }),
    { numRuns: 300 },
  );
  t.pass('property held');
});

t.test('refuses a sealed control request or event with any byte replaced at a random position (property)', async (t) => {
  const listener = generateKeyPair();
  const launcher = generateKeyPair();
  fc.assert(
    fc.property(arbControlRequest, arbEvent, fc.nat(), fc.integer({ min: 1, max: 255 }), (request, event, index, delta) => {
      const control = sealControlRequest(request, launcher.publicKey, listener.secretKey);
      const sealedEvent = sealEvent(event, listener.publicKey, launcher.secretKey);
      return (
        attempt(() => openControlRequest(replaceByte(control, index, delta), listener.publicKey, launcher.secretKey)).startsWith(
          'GL_ERR_',
        ) && attempt(() => openEvent(replaceByte(sealedEvent, index, delta), launcher.publicKey, listener.secretKey)).startsWith('GL_ERR_')
      );
    }),
    { numRuns: 300 },
  );
  t.pass('property held');
});
