/** The bounded line reader: chunk boundaries, the limit, over-long lines, UTF-8 split across chunks, end of input. */
import t from 'tap';
import { type LineItem, LineReader } from '../src/line-reader.js';

function texts(items: readonly LineItem[]): string[] {
  return items.map((i) => (i.kind === 'line' ? i.line.toString('utf8') : `<overlong ${i.seen}>`));
}

t.test('refuses a limit that is not a positive integer', async (t) => {
  for (const limit of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) t.throws(() => new LineReader(limit), RangeError, String(limit));
});

t.test('joins a line split across chunks, and several lines in one chunk', async (t) => {
  const r = new LineReader(100);
  t.same(texts(r.push(Buffer.from('ab'))), []);
  t.equal(r.buffered, 2);
  t.same(texts(r.push(Buffer.from('c\nde\nf'))), ['abc', 'de']);
  t.same(texts(r.push(Buffer.from('g\n\n'))), ['fg', ''], 'an empty line is a line');
  t.equal(r.buffered, 0);
  t.same(texts(r.end()), []);
});

t.test('every split point of a stream gives the same lines', async (t) => {
  const stream = Buffer.from('{"a":1}\n\nxyz\n{"b":[1,2]}\n');
  for (let cut = 0; cut <= stream.length; cut++) {
    const r = new LineReader(16);
    const items = [...r.push(stream.subarray(0, cut)), ...r.push(stream.subarray(cut)), ...r.end()];
    t.same(texts(items), ['{"a":1}', '', 'xyz', '{"b":[1,2]}'], `cut at ${cut}`);
  }
});

t.test('a UTF-8 character split across chunks arrives whole', async (t) => {
  const text = 'grüße 🎉 ok';
  const bytes = Buffer.from(`${text}\n`, 'utf8');
  for (let cut = 1; cut < bytes.length; cut++) {
    const r = new LineReader(64);
    const items = [...r.push(bytes.subarray(0, cut)), ...r.push(bytes.subarray(cut))];
    t.same(texts(items), [text], `cut at byte ${cut}`);
  }
  const oneByOne = new LineReader(64);
  const items: LineItem[] = [];
  for (const byte of bytes) items.push(...oneByOne.push(Buffer.from([byte])));
  t.same(texts(items), [text], 'one byte per chunk');
});

t.test('the limit counts bytes, not characters: a line of exactly the limit passes, one byte more does not', async (t) => {
  const r = new LineReader(4);
  t.same(texts(r.push(Buffer.from('abcd\nabcde\nxy\n'))), ['abcd', '<overlong 5>', 'xy']);
  // 'é' is two bytes: three of them are six bytes, over a limit of five.
  t.same(texts(new LineReader(5).push(Buffer.from('ééé\n'))), ['<overlong 6>']);
  t.same(texts(new LineReader(6).push(Buffer.from('ééé\n'))), ['ééé']);
});

t.test('an over-long line is reported once, as soon as it exceeds the limit, and the next line is read', async (t) => {
  const r = new LineReader(10);
  t.same(texts(r.push(Buffer.alloc(6, 0x61))), []);
  t.same(texts(r.push(Buffer.alloc(6, 0x61))), ['<overlong 12>'], 'reported before its newline arrives');
  t.equal(r.buffered, 0, 'its bytes are dropped');
  t.same(texts(r.push(Buffer.alloc(100, 0x61))), [], 'not reported again');
  t.equal(r.buffered, 0, 'nothing held while skipping');
  t.same(texts(r.push(Buffer.from('tail\nnext\n'))), ['next'], 'resumes after its newline');
});

t.test('never holds more than the limit, however long a line grows', async (t) => {
  const limit = 1024 * 1024;
  const r = new LineReader(limit);
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const items: LineItem[] = [];
  let most = 0;
  for (let i = 0; i < 160; i++) {
    items.push(...r.push(chunk)); // 10 MiB without a newline
    most = Math.max(most, r.buffered);
  }
  t.ok(most <= limit, 'never more than the limit held');
  items.push(...r.push(Buffer.from('tail\n{"ok":1}\n')));
  t.same(texts(items), [`<overlong ${limit + 64 * 1024}>`, '{"ok":1}']);
});

t.test('a held part does not keep the chunk it came from alive', async (t) => {
  const chunk = Buffer.from('abc');
  const r = new LineReader(10);
  r.push(chunk);
  chunk.fill(0x7a); // the caller reuses its buffer
  t.same(texts(r.push(Buffer.from('\n'))), ['abc']);
});

t.test('CR: kept by default, dropped before the newline with stripCr', async (t) => {
  t.same(texts(new LineReader(10).push(Buffer.from('ab\r\n'))), ['ab\r']);
  const r = new LineReader(10, { stripCr: true });
  t.same(texts(r.push(Buffer.from('ab\r'))), []);
  t.same(texts(r.push(Buffer.from('\ncd\r\ne\rf\n'))), ['ab', 'cd', 'e\rf'], 'only a CR right before the newline');
  t.same(texts(new LineReader(2, { stripCr: true }).push(Buffer.from('ab\r\n'))), ['<overlong 3>'], 'the CR counts toward the limit');
});

t.test('at end of input: an unterminated line is returned, an over-long one is not', async (t) => {
  const a = new LineReader(10);
  a.push(Buffer.from('{"x"'));
  a.push(Buffer.from(':2}'));
  t.same(texts(a.end()), ['{"x":2}']);
  const b = new LineReader(3);
  t.same(texts(b.push(Buffer.from('abcdef'))), ['<overlong 6>']);
  t.same(texts(b.end()), []);
  t.same(texts(new LineReader(3).end()), [], 'nothing at all: no line');
  const c = new LineReader(10);
  c.push(Buffer.from('done\n'));
  t.same(texts(c.end()), [], 'after a newline: no extra empty line');
});

t.test('first: the one message of a stream, then nothing more', async (t) => {
  const r = new LineReader(10);
  t.equal(r.first(Buffer.from('{"a"')), undefined);
  t.same(texts([r.first(Buffer.from(':1}\nrest\nmore\n')) as LineItem]), ['{"a":1}']);
  t.equal(r.first(Buffer.from('later\n')), undefined, 'later input is ignored');
  t.same(r.push(Buffer.from('later\n')), [], 'by push too');
  t.same(r.end(), [], 'and end returns nothing');
  t.equal(r.buffered, 0);
});

t.test('first: an over-long message is reported, and the reader is finished', async (t) => {
  const r = new LineReader(3);
  t.same(r.first(Buffer.from('abcd\nok\n')), { kind: 'overlong', seen: 4 });
  t.equal(r.first(Buffer.from('ok\n')), undefined);
  const big = new LineReader(10);
  t.equal(big.first(Buffer.alloc(6, 0x61)), undefined);
  t.same(big.first(Buffer.alloc(6, 0x61)), { kind: 'overlong', seen: 12 }, 'without waiting for a newline');
});

t.test('first: a message ended by the end of input comes from end', async (t) => {
  const r = new LineReader(10);
  t.equal(r.first(Buffer.from('{"x"')), undefined);
  t.equal(r.first(Buffer.from(':2}')), undefined);
  t.same(texts(r.end()), ['{"x":2}']);
});
