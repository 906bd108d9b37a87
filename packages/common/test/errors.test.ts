import t from 'tap';
import { ERROR_CODES, GatewayError, fail, isGatewayError, ok } from '../src/errors.js';

t.test('every code is GL_ERR_ upper snake case with an area and a one-line meaning', async (t) => {
  for (const [code, info] of Object.entries(ERROR_CODES)) {
    t.match(code, /^GL_ERR_[A-Z0-9_]+$/, code);
    t.ok(['common', 'launcher', 'listener', 'protocol'].includes(info.area), `${code} area`);
    t.match(info.meaning, /^[A-Z`].*\.$/, `${code} meaning is a sentence`);
    t.notMatch(info.meaning, /\n/, `${code} meaning is one line`);
  }
});

t.test('a GatewayError carries its code, details and cause', async (t) => {
  const cause = new Error('ECONNREFUSED');
  const e = new GatewayError('GL_ERR_CONTROL_FAILED', 'control failed', { cause, details: { peer: '10.0.0.1:40000' } });
  t.ok(e instanceof Error);
  t.equal(e.name, 'GatewayError');
  t.equal(e.code, 'GL_ERR_CONTROL_FAILED');
  t.equal(e.cause, cause);
  t.same(e.details, { peer: '10.0.0.1:40000' });
});

t.test('toJSON gives code, message and details, never a stack', async (t) => {
  const e = new GatewayError('GL_ERR_REPLAY', 'seq 4 is not above 5', { details: { seq: 4 } });
  t.same(e.toJSON(), { code: 'GL_ERR_REPLAY', message: 'seq 4 is not above 5', details: { seq: 4 } });
  t.notMatch(JSON.stringify(e), 'at ');
});

t.test('isGatewayError tells GatewayErrors apart, optionally by code', async (t) => {
  const e = new GatewayError('GL_ERR_USAGE', 'x');
  t.ok(isGatewayError(e));
  t.ok(isGatewayError(e, 'GL_ERR_USAGE'));
  t.notOk(isGatewayError(e, 'GL_ERR_REPLAY'));
  t.notOk(isGatewayError(Object.assign(new Error('x'), { code: 'GL_ERR_USAGE' })));
});

t.test('ok and fail build results', async (t) => {
  t.same(ok(5), { ok: true, value: 5 });
  const r = fail('GL_ERR_PORT_INVALID', 'bad port', { field: 'hb_port' });
  t.equal(r.ok, false);
  if (!r.ok) {
    t.equal(r.error.code, 'GL_ERR_PORT_INVALID');
    t.same(r.error.details, { field: 'hb_port' });
  }
});

t.test('isGatewayError recognises an error made by a second copy of the package', async (t) => {
  // A query string makes the ESM loader evaluate the module again: a second class, as two installed copies would give.
  const copy = (await import(`../src/errors.js?second-copy=${Date.now()}`)) as typeof import('../src/errors.js');
  const foreign = new copy.GatewayError('GL_ERR_USAGE', 'from the other copy');
  t.notOk(foreign instanceof GatewayError, 'the copy is a distinct class');
  t.ok(isGatewayError(foreign));
  t.ok(isGatewayError(foreign, 'GL_ERR_USAGE'));
  t.notOk(isGatewayError(foreign, 'GL_ERR_KERNEL_EXITED'));
  t.ok(copy.isGatewayError(new GatewayError('GL_ERR_USAGE', 'from this copy')));
});
