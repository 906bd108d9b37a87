import t from 'tap';
import {
  CONTROL_SIGNALS,
  parseV1Request,
  validateControlAction,
  validateControlRequest,
  validateLauncherEvent,
} from '../src/control-message.js';
import { MAX_CONTROL_BYTES } from '../src/limits.js';
import type { Result } from '../src/errors.js';
import { sampleControlRequest, sampleEvent, resultCode } from './fixtures/samples.js';

const codeOf = (r: Result<unknown>): string => resultCode(r, 'valid');

t.test('accepts each control action: every listed signal, interrupt, shutdown and restart', async (t) => {
  for (const signal of CONTROL_SIGNALS) t.same(validateControlAction({ signal }), { ok: true, value: { signal } }, signal);
  for (const action of ['interrupt', 'shutdown', 'restart'])
    t.same(validateControlAction({ [action]: true }), { ok: true, value: { [action]: true } }, action);
});

t.test('refuses a control action that is not an object', async (t) => {
  for (const v of [null, undefined, 'interrupt', ['interrupt']])
    t.equal(codeOf(validateControlAction(v)), 'GL_ERR_CONTROL_REQUEST_INVALID', String(v));
});

t.test('refuses a control action naming no action or two', async (t) => {
  t.equal(codeOf(validateControlAction({})), 'GL_ERR_CONTROL_REQUEST_INVALID');
  t.equal(codeOf(validateControlAction({ interrupt: true, shutdown: true })), 'GL_ERR_CONTROL_REQUEST_INVALID');
});

t.test('refuses a signal that is not in the list', async (t) => {
  for (const signal of ['SIGSEGV', 'sigint', 'INT', 2, ''])
    t.equal(codeOf(validateControlAction({ signal })), 'GL_ERR_CONTROL_REQUEST_INVALID', String(signal));
});

t.test('refuses interrupt, shutdown or restart that is not true', async (t) => {
  for (const action of ['interrupt', 'shutdown', 'restart']) {
    for (const v of [false, 1, 'true', null])
      t.equal(codeOf(validateControlAction({ [action]: v })), 'GL_ERR_CONTROL_REQUEST_INVALID', `${action}=${String(v)}`);
  }
});

t.test('refuses an unknown action', async (t) => {
  const r = validateControlAction({ reboot: true });
  t.equal(codeOf(r), 'GL_ERR_CONTROL_REQUEST_INVALID');
  if (!r.ok) t.match(r.error.message, 'reboot');
});

t.test('accepts a control request and keeps only its three fields', async (t) => {
  const request = sampleControlRequest();
  t.same(validateControlRequest({ ...request, extra: 1 }), { ok: true, value: request });
});

t.test('refuses a control request that is not an object or is an event', async (t) => {
  for (const v of [null, [], 'x']) t.equal(codeOf(validateControlRequest(v)), 'GL_ERR_ENVELOPE_MALFORMED');
  t.equal(codeOf(validateControlRequest({ ...sampleControlRequest(), event: 'kernel_exit' })), 'GL_ERR_ENVELOPE_MALFORMED');
});

t.test('refuses a control request with an invalid kernel id', async (t) => {
  t.equal(codeOf(validateControlRequest({ ...sampleControlRequest(), kernel_id: '../x' })), 'GL_ERR_KERNEL_ID_INVALID');
});

t.test('refuses a seq that is not a non-negative safe integer', async (t) => {
  for (const seq of [-1, 1.5, 2 ** 53, '5', null, undefined])
    t.equal(codeOf(validateControlRequest({ ...sampleControlRequest(), seq })), 'GL_ERR_ENVELOPE_MALFORMED', String(seq));
  t.equal(codeOf(validateControlRequest({ ...sampleControlRequest(), seq: 0 })), 'valid');
});

t.test('refuses a control request whose action is invalid', async (t) => {
  t.equal(codeOf(validateControlRequest({ ...sampleControlRequest(), request: { signal: 'SIGSEGV' } })), 'GL_ERR_CONTROL_REQUEST_INVALID');
  t.equal(codeOf(validateControlRequest({ kernel_id: 'k', seq: 1 })), 'GL_ERR_CONTROL_REQUEST_INVALID');
});

t.test('accepts a kernel_exit event, reading a missing exit code or signal as null', async (t) => {
  const event = sampleEvent();
  t.same(validateLauncherEvent(event), { ok: true, value: event });
  t.same(validateLauncherEvent({ event: 'kernel_exit', kernel_id: event.kernel_id }), {
    ok: true,
    value: { event: 'kernel_exit', kernel_id: event.kernel_id, exit_code: null, signal: null },
  });
});

t.test('refuses an event that is not kernel_exit or carries a request', async (t) => {
  for (const v of [null, [], { ...sampleEvent(), event: 'kernel_start' }, { ...sampleEvent(), request: { interrupt: true } }]) {
    t.equal(codeOf(validateLauncherEvent(v)), 'GL_ERR_ENVELOPE_MALFORMED', JSON.stringify(v));
  }
});

t.test('refuses an event with an invalid kernel id, exit code or signal', async (t) => {
  t.equal(codeOf(validateLauncherEvent({ ...sampleEvent(), kernel_id: '' })), 'GL_ERR_KERNEL_ID_INVALID');
  t.equal(codeOf(validateLauncherEvent({ ...sampleEvent(), exit_code: 1.5 })), 'GL_ERR_ENVELOPE_MALFORMED');
  t.equal(codeOf(validateLauncherEvent({ ...sampleEvent(), signal: 'KILL' })), 'GL_ERR_ENVELOPE_MALFORMED');
});

t.test('parseV1Request reads a signum 0 liveness poll', async (t) => {
  t.same(parseV1Request('{"signum": 0}'), { ok: true, value: { signum: 0 } });
});

t.test('parseV1Request reads signum 2 as a number and as a decimal string', async (t) => {
  t.same(parseV1Request('{"signum": 2}'), { ok: true, value: { signum: 2 } });
  t.same(parseV1Request('{"signum": "2"}'), { ok: true, value: { signum: 2 } });
  t.same(parseV1Request('{"signum": " 12 "}'), { ok: true, value: { signum: 12 } });
});

t.test('parseV1Request reads shutdown 1', async (t) => {
  t.same(parseV1Request('{"shutdown": 1}'), { ok: true, value: { shutdown: true } });
});

t.test('parseV1Request refuses a signum outside 0..64 or not a decimal number', async (t) => {
  for (const signum of [65, -1, 2.5, '"abc"', '""', '"0x2"', '"2e0"', 'true', '[2]']) {
    t.equal(codeOf(parseV1Request(`{"signum": ${signum}}`)), 'GL_ERR_CONTROL_REQUEST_INVALID', String(signum));
  }
});

t.test('parseV1Request refuses a false shutdown and a request with neither field', async (t) => {
  t.equal(codeOf(parseV1Request('{"shutdown": 0}')), 'GL_ERR_CONTROL_REQUEST_INVALID');
  t.equal(codeOf(parseV1Request('{}')), 'GL_ERR_CONTROL_REQUEST_INVALID');
  t.equal(codeOf(parseV1Request('{"signum": null}')), 'GL_ERR_CONTROL_REQUEST_INVALID');
});

t.test('parseV1Request refuses garbage', async (t) => {
  for (const text of ['', 'signum 2', '{"signum": 2', '[]', 'null', '"x"'])
    t.equal(codeOf(parseV1Request(text)), 'GL_ERR_ENVELOPE_MALFORMED', JSON.stringify(text));
});

t.test('parseV1Request reads a request of exactly 4 KiB and refuses one byte more', async (t) => {
  const head = '{"signum": 2';
  const atLimit = `${head}${' '.repeat(MAX_CONTROL_BYTES - head.length - 1)}}`;
  t.equal(atLimit.length, MAX_CONTROL_BYTES);
  t.same(parseV1Request(atLimit), { ok: true, value: { signum: 2 } });
  t.equal(codeOf(parseV1Request(` ${atLimit}`)), 'GL_ERR_ENVELOPE_TOO_LARGE');
});
