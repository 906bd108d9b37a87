import t from 'tap';
import { isFailureResponse, validateResponsePlaintext } from '../src/response-message.js';
import { parsePortRange } from '../src/port-range.js';
import { STDERR_TAIL_BYTES } from '../src/limits.js';
import type { Result } from '../src/errors.js';
import { sampleFailure, sampleSuccess, resultCode } from './fixtures/samples.js';

const codeOf = (r: Result<unknown>): string => resultCode(r, 'valid');

function set(value: object, path: string, v: unknown): Record<string, unknown> {
  const copy = structuredClone(value) as Record<string, unknown>;
  const [head, tail] = path.split('.') as [string, string | undefined];
  if (tail === undefined) copy[head] = v;
  else (copy[head] as Record<string, unknown>)[tail] = v;
  return copy;
}

function unset(value: object, path: string): Record<string, unknown> {
  const copy = structuredClone(value) as Record<string, unknown>;
  const [head, tail] = path.split('.') as [string, string | undefined];
  if (tail === undefined) delete copy[head];
  else delete (copy[head] as Record<string, unknown>)[tail];
  return copy;
}

t.test('accepts a success response and tells it from a failure', async (t) => {
  const plaintext = sampleSuccess();
  const r = validateResponsePlaintext(plaintext);
  t.equal(codeOf(r), 'valid');
  if (r.ok) {
    t.same(r.value, plaintext);
    t.notOk(isFailureResponse(r.value));
  }
});

t.test('accepts a failure response and tells it from a success', async (t) => {
  const plaintext = sampleFailure();
  const r = validateResponsePlaintext(plaintext);
  t.equal(codeOf(r), 'valid');
  if (r.ok) {
    t.same(r.value, plaintext);
    t.ok(isFailureResponse(r.value));
  }
});

t.test('drops unknown fields of the plaintext', async (t) => {
  const plaintext = sampleSuccess();
  const r = validateResponsePlaintext({ ...plaintext, surprise: 1 });
  t.ok(r.ok && !('surprise' in r.value));
});

t.test('refuses a plaintext that is not an object', async (t) => {
  for (const v of [null, [], 'x', 1]) t.equal(codeOf(validateResponsePlaintext(v)), 'GL_ERR_ENVELOPE_MALFORMED', JSON.stringify(v));
});

t.test('refuses an invalid kernel id', async (t) => {
  for (const id of ['', '..', 'a/b', 5])
    t.equal(codeOf(validateResponsePlaintext(set(sampleSuccess(), 'kernel_id', id))), 'GL_ERR_KERNEL_ID_INVALID', String(id));
});

t.test('refuses a token that is not a string of at most 256 characters', async (t) => {
  t.equal(codeOf(validateResponsePlaintext(set(sampleSuccess(), 'token', 't'.repeat(256)))), 'valid');
  for (const token of [undefined, 5, null, 't'.repeat(257)]) {
    const r = validateResponsePlaintext(set(sampleSuccess(), 'token', token));
    t.equal(codeOf(r), 'GL_ERR_ENVELOPE_MALFORMED', String(token).slice(0, 10));
    t.equal(r.ok ? undefined : r.error.details.field, 'token');
  }
});

t.test('refuses a pid or pgid that is not a non-negative 32-bit integer', async (t) => {
  for (const field of ['pid', 'pgid']) {
    for (const v of [-1, 1.5, 2 ** 31, '12', null]) {
      t.equal(codeOf(validateResponsePlaintext(set(sampleSuccess(), field, v))), 'GL_ERR_ENVELOPE_MALFORMED', `${field}=${String(v)}`);
    }
  }
});

t.test('refuses a mode other than direct, proxy or handoff', async (t) => {
  for (const mode of ['Direct', 'relay', '', null])
    t.equal(codeOf(validateResponsePlaintext(set(sampleSuccess(), 'mode', mode))), 'GL_ERR_ENVELOPE_MALFORMED', String(mode));
});

t.test('refuses a launcher_version that is not a string of at most 64 characters', async (t) => {
  for (const v of [undefined, 1, 'v'.repeat(65)])
    t.equal(
      codeOf(validateResponsePlaintext(set(sampleSuccess(), 'launcher_version', v))),
      'GL_ERR_ENVELOPE_MALFORMED',
      String(v).slice(0, 10),
    );
});

t.test('refuses a response that has both failure and conn_info', async (t) => {
  const both = { ...sampleSuccess(), failure: sampleFailure().failure };
  t.equal(codeOf(validateResponsePlaintext(both)), 'GL_ERR_ENVELOPE_MALFORMED');
});

t.test('refuses a failure that is not an object', async (t) => {
  for (const f of [null, 'died', [1]])
    t.equal(codeOf(validateResponsePlaintext(set(sampleFailure(), 'failure', f))), 'GL_ERR_ENVELOPE_MALFORMED', JSON.stringify(f));
});

t.test('refuses a failure exit code that is not an integer', async (t) => {
  for (const v of [1.5, '1', true])
    t.equal(codeOf(validateResponsePlaintext(set(sampleFailure(), 'failure.exit_code', v))), 'GL_ERR_ENVELOPE_MALFORMED', String(v));
});

t.test('refuses a failure signal that is not a signal name', async (t) => {
  for (const v of ['KILL', 'sigkill', 9, 'SIGTOOLONGNAMEXY', 'SIG'])
    t.equal(codeOf(validateResponsePlaintext(set(sampleFailure(), 'failure.signal', v))), 'GL_ERR_ENVELOPE_MALFORMED', String(v));
});

t.test('refuses a failure without a stderr tail string', async (t) => {
  t.equal(codeOf(validateResponsePlaintext(unset(sampleFailure(), 'failure.stderr_tail'))), 'GL_ERR_ENVELOPE_MALFORMED');
  t.equal(codeOf(validateResponsePlaintext(set(sampleFailure(), 'failure.stderr_tail', 5))), 'GL_ERR_ENVELOPE_MALFORMED');
});

t.test('reads a missing exit code or signal as null', async (t) => {
  const r = validateResponsePlaintext(unset(unset(sampleFailure(), 'failure.exit_code'), 'failure.signal'));
  t.ok(r.ok && isFailureResponse(r.value) && r.value.failure.exit_code === null && r.value.failure.signal === null);
  const killed = validateResponsePlaintext(set(set(sampleFailure(), 'failure.exit_code', null), 'failure.signal', 'SIGKILL'));
  t.ok(killed.ok && isFailureResponse(killed.value) && killed.value.failure.signal === 'SIGKILL');
});

t.test('keeps only the end of an oversized stderr tail', async (t) => {
  const limit = 2 * STDERR_TAIL_BYTES;
  const tail = `${'head '.repeat(limit / 5)}the real error`;
  const r = validateResponsePlaintext(set(sampleFailure(), 'failure.stderr_tail', tail));
  t.ok(r.ok && isFailureResponse(r.value));
  if (r.ok && isFailureResponse(r.value)) {
    t.equal(r.value.failure.stderr_tail.length, limit);
    t.ok(r.value.failure.stderr_tail.endsWith('the real error'));
  }
});

t.test("refuses a success whose connection info breaks a field rule, with that rule's code", async (t) => {
  t.equal(codeOf(validateResponsePlaintext(unset(sampleSuccess(), 'conn_info'))), 'GL_ERR_CONN_INFO_SHAPE');
  t.equal(codeOf(validateResponsePlaintext(set(sampleSuccess(), 'conn_info.ip', 'not an ip'))), 'GL_ERR_IP_INVALID');
  t.equal(codeOf(validateResponsePlaintext(set(sampleSuccess(), 'conn_info.key', ''))), 'GL_ERR_KEY_INVALID');
});

t.test('refuses a comm port that is missing, equal to a kernel port, or out of range', async (t) => {
  const s = sampleSuccess();
  t.equal(codeOf(validateResponsePlaintext(unset(s, 'comm_port'))), 'GL_ERR_PORT_INVALID');
  t.equal(codeOf(validateResponsePlaintext(set(s, 'comm_port', s.conn_info.stdin_port))), 'GL_ERR_PORT_DUPLICATE');
  const range = parsePortRange('40000..41000', { minSize: 1000 });
  t.equal(codeOf(validateResponsePlaintext(s, { portRange: range })), 'valid');
  t.equal(codeOf(validateResponsePlaintext(set(s, 'comm_port', 41001), { portRange: range })), 'GL_ERR_PORT_OUT_OF_RANGE');
});
