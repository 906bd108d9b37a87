import t from 'tap';
import fc from 'fast-check';
import { parsePortRange, portRangeContains, ANY_PORT_RANGE, formatPortRange, minPortRangeSizeFromEnv } from '../src/port-range.js';
import { GatewayError } from '../src/errors.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof GatewayError ? e.code : `not a GatewayError: ${String(e)}`;
  }
  return undefined;
}

t.test('empty, missing and 0..0 mean any port', async (t) => {
  for (const input of ['', '  ', undefined, null, '0..0']) t.same(parsePortRange(input, { minSize: 1000 }), ANY_PORT_RANGE);
  t.ok(portRangeContains(ANY_PORT_RANGE, 1));
  t.ok(portRangeContains(ANY_PORT_RANGE, 65535));
  t.notOk(portRangeContains(ANY_PORT_RANGE, 0));
  t.notOk(portRangeContains(ANY_PORT_RANGE, 65536));
});

t.test('accepts a valid range and contains exactly its ports', async (t) => {
  const r = parsePortRange('40000..41000', { minSize: 1000 });
  t.same(r, { lo: 40000, hi: 41000, any: false });
  t.equal(formatPortRange(r), '40000..41000');
  t.ok(portRangeContains(r, 40000));
  t.ok(portRangeContains(r, 41000));
  t.notOk(portRangeContains(r, 39999));
  t.notOk(portRangeContains(r, 41001));
  t.notOk(portRangeContains(r, 40000.5));
});

t.test('each rule has its own code and the message names the input', async (t) => {
  const cases: Array<[string, string]> = [
    ['40000-41000', 'GL_ERR_PORT_RANGE_SYNTAX'],
    ['abc', 'GL_ERR_PORT_RANGE_SYNTAX'],
    ['40000..', 'GL_ERR_PORT_RANGE_SYNTAX'],
    ['-1..5000', 'GL_ERR_PORT_RANGE_SYNTAX'],
    ['100..5000', 'GL_ERR_PORT_RANGE_BOUNDS'],
    ['60000..70000', 'GL_ERR_PORT_RANGE_BOUNDS'],
    ['0..5000', 'GL_ERR_PORT_RANGE_BOUNDS'],
    ['41000..40000', 'GL_ERR_PORT_RANGE_ORDER'],
    ['40000..40500', 'GL_ERR_PORT_RANGE_TOO_SMALL'],
  ];
  for (const [input, code] of cases) {
    t.equal(
      codeOf(() => parsePortRange(input, { minSize: 1000 })),
      code,
      input,
    );
    try {
      parsePortRange(input, { minSize: 1000 });
    } catch (e) {
      t.match((e as Error).message, input, 'message names the input');
    }
  }
});

t.test('minimum size comes from MIN_PORT_RANGE_SIZE and its GP/EG spellings', async (t) => {
  t.equal(minPortRangeSizeFromEnv({}), 1000);
  t.equal(minPortRangeSizeFromEnv({ MIN_PORT_RANGE_SIZE: '10' }), 10);
  t.equal(minPortRangeSizeFromEnv({ GP_MIN_PORT_RANGE_SIZE: '20' }), 20);
  t.equal(minPortRangeSizeFromEnv({ EG_MIN_PORT_RANGE_SIZE: '30' }), 30);
  t.equal(
    codeOf(() => minPortRangeSizeFromEnv({ MIN_PORT_RANGE_SIZE: 'lots' })),
    'GL_ERR_USAGE',
  );
  t.same(parsePortRange('40000..40010', { minSize: 10 }), { lo: 40000, hi: 40010, any: false });
});

t.test('property: parse accepts exactly the ranges the rules allow', async (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 70000 }),
      fc.integer({ min: 0, max: 70000 }),
      fc.integer({ min: 0, max: 2000 }),
      (lo, hi, minSize) => {
        const input = `${lo}..${hi}`;
        const valid = (lo === 0 && hi === 0) || (lo >= 1024 && hi <= 65535 && lo <= hi && hi - lo >= minSize);
        const code = codeOf(() => parsePortRange(input, { minSize }));
        if (valid !== (code === undefined)) return false;
        if (valid && !(lo === 0 && hi === 0)) {
          const r = parsePortRange(input, { minSize });
          return portRangeContains(r, lo) && portRangeContains(r, hi) && !portRangeContains(r, lo - 1) && !portRangeContains(r, hi + 1);
        }
        return true;
      },
    ),
    { numRuns: 2000 },
  );
  t.pass('property held');
});

t.test('property: arbitrary strings never throw anything but GatewayError', async (t) => {
  fc.assert(
    fc.property(fc.string(), (s) => {
      const code = codeOf(() => parsePortRange(s, { minSize: 0 }));
      return code === undefined || code.startsWith('GL_ERR_');
    }),
    { numRuns: 2000 },
  );
  t.pass('property held');
});
