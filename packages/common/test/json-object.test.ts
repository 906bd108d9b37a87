/** The bounded parse of one JSON object: objects accepted, everything else refused with its reason, the size checked first. */
import t from 'tap';
import { isRecord, parseJsonObject } from '../src/json-object.js';

t.test('isRecord: plain objects only', async (t) => {
  t.ok(isRecord({}));
  t.ok(isRecord({ a: 1 }));
  for (const v of [null, undefined, [], [1], 'x', 1, true]) t.notOk(isRecord(v), JSON.stringify(v) ?? 'undefined');
});

t.test('parses an object from text and from bytes', async (t) => {
  t.same(parseJsonObject('{"a":1,"b":[true]}', 100), { ok: true, value: { a: 1, b: [true] } });
  t.same(parseJsonObject(Buffer.from(' {"k":"grüße"}\n'), 100), { ok: true, value: { k: 'grüße' } }, 'white space around');
  const bytes = new TextEncoder().encode('xx{"u":8}yy');
  t.same(parseJsonObject(bytes.subarray(2, 9), 7), { ok: true, value: { u: 8 } }, 'a view into a larger buffer: only its bytes');
});

t.test('refuses text that is not JSON', async (t) => {
  for (const text of ['', ' ', '{', '{"a":}', "{'a':1}", '{"a":1} x', '\ufeff{}', 'undefined', 'NaN']) {
    t.same(parseJsonObject(text, 100), { ok: false, reason: 'not-json' }, JSON.stringify(text));
  }
  t.same(parseJsonObject(Buffer.from([0x7b, 0xff, 0x7d]), 100), { ok: false, reason: 'not-json' }, 'invalid UTF-8 inside the braces');
});

t.test('refuses JSON that is not an object, and says what it is', async (t) => {
  for (const [text, value] of [
    ['[]', []],
    ['[{"a":1}]', [{ a: 1 }]],
    ['null', null],
    ['"{}"', '{}'],
    ['42', 42],
    ['false', false],
  ] as const) {
    t.same(parseJsonObject(text, 100), { ok: false, reason: 'not-object', value }, text);
  }
});

t.test('the limit is in UTF-8 bytes: exactly the limit is parsed, one byte more is not', async (t) => {
  const atLimit = `{"a":"${'x'.repeat(10)}"}`; // 18 bytes
  t.equal(Buffer.byteLength(atLimit), 18);
  t.same(parseJsonObject(atLimit, 18), { ok: true, value: { a: 'x'.repeat(10) } });
  t.same(parseJsonObject(` ${atLimit}`, 18), { ok: false, reason: 'too-large', size: 19, limit: 18 });
  t.same(parseJsonObject(Buffer.from(` ${atLimit}`), 18), { ok: false, reason: 'too-large', size: 19, limit: 18 }, 'bytes too');
  // 'é' is one UTF-16 unit but two UTF-8 bytes.
  const wide = '{"a":"éé"}'; // 10 characters, 12 bytes
  t.same(parseJsonObject(wide, 11), { ok: false, reason: 'too-large', size: 12, limit: 11 });
  t.same(parseJsonObject(wide, 12), { ok: true, value: { a: 'éé' } });
});

t.test('an oversize input is refused before parsing: its content does not matter', async (t) => {
  t.same(
    parseJsonObject('x'.repeat(1000), 999),
    { ok: false, reason: 'too-large', size: 1000, limit: 999 },
    'not JSON, but too large first',
  );
  const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
  t.same(parseJsonObject(deep, 1024), { ok: false, reason: 'too-large', size: 200_000, limit: 1024 }, 'nothing that costs to parse');
});
