import t from 'tap';
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { assertKernelId, isValidKernelId } from '../src/kernel-id.js';
import { MAX_KERNEL_ID_LENGTH } from '../src/limits.js';

t.test('accepts 1 to 128 characters of A-Z a-z 0-9 . _ -', async (t) => {
  for (const id of [randomUUID(), 'a', 'K.e_r-n3l', 'x'.repeat(MAX_KERNEL_ID_LENGTH), '...', '.hidden']) {
    t.ok(isValidKernelId(id), id);
    t.equal(assertKernelId(id), id);
  }
});

t.test('refuses empty, too long, path-like and non-ASCII ids', async (t) => {
  for (const id of ['', 'x'.repeat(MAX_KERNEL_ID_LENGTH + 1), '.', '..', 'a/b', '../x', 'a b', 'ключ', 'a\n', 'a:b']) {
    t.notOk(isValidKernelId(id), JSON.stringify(id));
  }
});

t.test('refuses ids that are not strings', async (t) => {
  for (const id of [undefined, null, 5, {}, ['a']]) t.notOk(isValidKernelId(id), String(id));
});

t.test('assertKernelId throws GL_ERR_KERNEL_ID_INVALID and shows at most 40 characters of the id', async (t) => {
  const long = `${'a'.repeat(40)}SECRET-TAIL/`;
  t.throws(() => assertKernelId(long), { name: 'GatewayError', code: 'GL_ERR_KERNEL_ID_INVALID' });
  try {
    assertKernelId(long);
  } catch (e) {
    t.notMatch((e as Error).message, 'SECRET-TAIL');
  }
  t.throws(() => assertKernelId(42), { code: 'GL_ERR_KERNEL_ID_INVALID', message: /number/ });
});

t.test('accepts exactly the ids the rule describes (property)', async (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 140 }), fc.stringMatching(/^[A-Za-z0-9._-]{0,130}$/)), (id) => {
      const expected = /^[A-Za-z0-9._-]{1,128}$/.test(id) && id !== '.' && id !== '..';
      return isValidKernelId(id) === expected;
    }),
    { numRuns: 1000 },
  );
  t.pass('property held');
});
