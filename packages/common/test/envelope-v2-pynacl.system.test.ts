// Protocol v2 against an independent implementation: PyNaCl (libsodium) in
// test/fixtures/nacl_v2.py, run with the system Python.
import t from 'tap';
import {
  generateKeyPair,
  openControlRequest,
  openEvent,
  openResponse,
  sealControlRequest,
  sealEvent,
  sealResponse,
} from '../src/envelope-v2.js';
import { toBase64 } from '../src/base64.js';
import type { Result } from '../src/errors.js';
import { runPython, runPythonJson } from './fixtures/python.js';
import { sampleControlRequest, sampleEvent, sampleFailure, sampleSuccess, resultCode } from './fixtures/samples.js';

const codeOf = (r: Result<unknown>): string => resultCode(r, 'opened');

t.test('a response sealed by PyNaCl opens with openResponse', async (t) => {
  const listener = generateKeyPair();
  const plaintext = sampleSuccess();
  const text = await runPython(
    'nacl_v2.py',
    ['seal-response'],
    JSON.stringify({ listener_public_key: toBase64(listener.publicKey), plaintext }),
  );
  const opened = openResponse(text, listener.secretKey);
  t.equal(codeOf(opened), 'opened');
  if (opened.ok) t.same(opened.value.plaintext, plaintext);
});

t.test('a failure response sealed by PyNaCl opens with openResponse', async (t) => {
  const listener = generateKeyPair();
  const plaintext = sampleFailure();
  const text = await runPython(
    'nacl_v2.py',
    ['seal-response'],
    JSON.stringify({ listener_public_key: toBase64(listener.publicKey), plaintext }),
  );
  const opened = openResponse(text, listener.secretKey);
  t.equal(codeOf(opened), 'opened');
  if (opened.ok) t.same(opened.value.plaintext, plaintext);
});

t.test('a response sealed by sealResponse opens with PyNaCl', async (t) => {
  const listener = generateKeyPair();
  const plaintext = sampleSuccess();
  const opened = await runPythonJson<unknown>('nacl_v2.py', ['open-response'], {
    listener_secret_key: toBase64(listener.secretKey),
    text: sealResponse(plaintext, listener.publicKey).text,
  });
  t.same(opened, plaintext);
});

t.test('a response PyNaCl sealed to another listener key is refused', async (t) => {
  const listener = generateKeyPair();
  const other = generateKeyPair();
  const text = await runPython(
    'nacl_v2.py',
    ['seal-response'],
    JSON.stringify({ listener_public_key: toBase64(other.publicKey), plaintext: sampleSuccess() }),
  );
  t.equal(codeOf(openResponse(text, listener.secretKey)), 'GL_ERR_ENVELOPE_OPEN_FAILED');
});

t.test('a control request sealed by PyNaCl opens with openControlRequest', async (t) => {
  const listener = generateKeyPair();
  const launcher = generateKeyPair();
  const request = sampleControlRequest(undefined, { signal: 'SIGTERM' });
  const text = await runPython(
    'nacl_v2.py',
    ['seal-boxed'],
    JSON.stringify({ secret_key: toBase64(listener.secretKey), public_key: toBase64(launcher.publicKey), plaintext: request }),
  );
  const opened = openControlRequest(text, listener.publicKey, launcher.secretKey);
  t.equal(codeOf(opened), 'opened');
  if (opened.ok) t.same(opened.value, request);
});

t.test('a control request sealed by sealControlRequest opens with PyNaCl', async (t) => {
  const listener = generateKeyPair();
  const launcher = generateKeyPair();
  const request = sampleControlRequest(undefined, { shutdown: true });
  const opened = await runPythonJson<unknown>('nacl_v2.py', ['open-boxed'], {
    secret_key: toBase64(launcher.secretKey),
    public_key: toBase64(listener.publicKey),
    text: sealControlRequest(request, launcher.publicKey, listener.secretKey),
  });
  t.same(opened, request);
});

t.test('an event sealed by PyNaCl opens with openEvent, and one sealed by sealEvent opens with PyNaCl', async (t) => {
  const listener = generateKeyPair();
  const launcher = generateKeyPair();
  const fromPython = sampleEvent();
  const text = await runPython(
    'nacl_v2.py',
    ['seal-boxed'],
    JSON.stringify({ secret_key: toBase64(launcher.secretKey), public_key: toBase64(listener.publicKey), plaintext: fromPython }),
  );
  const opened = openEvent(text, launcher.publicKey, listener.secretKey);
  t.equal(codeOf(opened), 'opened');
  if (opened.ok) t.same(opened.value, fromPython);
  const fromNode = sampleEvent();
  const decoded = await runPythonJson<unknown>('nacl_v2.py', ['open-boxed'], {
    secret_key: toBase64(listener.secretKey),
    public_key: toBase64(launcher.publicKey),
    text: sealEvent(fromNode, listener.publicKey, launcher.secretKey),
  });
  t.same(decoded, fromNode);
});
