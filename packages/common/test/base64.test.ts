import t from 'tap';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { fromBase64, toBase64 } from '../src/base64.js';

t.test('encodes only the viewed bytes of a subarray', async (t) => {
  const whole = randomBytes(40);
  const view = whole.subarray(7, 19);
  t.equal(toBase64(view), Buffer.from(view).toString('base64'));
  t.equal(toBase64(new Uint8Array(whole.buffer, whole.byteOffset + 3, 5)), whole.subarray(3, 8).toString('base64'));
});

t.test('decodes canonical base64 and checks the length when asked', async (t) => {
  const bytes = randomBytes(32);
  const text = bytes.toString('base64');
  t.same(Buffer.from(fromBase64(text)!), bytes);
  t.same(Buffer.from(fromBase64(text, 32)!), bytes);
  t.equal(fromBase64(text, 31), undefined);
  t.same(fromBase64(''), new Uint8Array(0));
});

t.test('refuses non-canonical and non-standard encodings', async (t) => {
  const text = randomBytes(32).toString('base64'); // 44 chars, one '='
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const unusedBitSet = `${text.slice(0, -2)}${alphabet[alphabet.indexOf(text.at(-2)!) ^ 1]!}=`;
  for (const bad of [
    unusedBitSet,
    text.slice(0, -1),
    `${text}=`,
    ` ${text}`,
    `${text.slice(0, 20)}\n${text.slice(20)}`,
    Buffer.alloc(6, 0xff).toString('base64url'),
    'A===',
    'A',
  ]) {
    t.equal(fromBase64(bad), undefined, JSON.stringify(bad));
  }
  for (const notText of [undefined, null, 5, new Uint8Array(4)]) t.equal(fromBase64(notText), undefined);
});

t.test('round-trips any bytes (property)', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
      const back = fromBase64(toBase64(bytes), bytes.length);
      return back !== undefined && Buffer.from(back).equals(Buffer.from(bytes));
    }),
    { numRuns: 1000 },
  );
  t.pass('property held');
});

t.test('accepts only texts that are the encoding of what they decode to (property)', async (t) => {
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom(...'AQgw/+=9z \n-_'.split('')), maxLength: 12 }), (text) => {
      const bytes = fromBase64(text);
      return bytes === undefined || toBase64(bytes) === text;
    }),
    { numRuns: 3000 },
  );
  t.pass('property held');
});
