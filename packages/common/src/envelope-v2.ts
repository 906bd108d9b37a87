/**
 * Protocol v2 envelopes (design §4), built on tweetnacl's `box`
 * (X25519 + XSalsa20-Poly1305). Opening never throws: every failure is a
 * {@link Result} with a stable code.
 *
 * - Response: sealed with a fresh ephemeral key pair to the listener's key.
 * - Control request: sealed by the listener to the launcher's ephemeral key.
 * - Event: sealed by the launcher to the listener's key.
 *
 * @module
 */
import nacl from 'tweetnacl';
import { fromBase64, toBase64 } from './base64.js';
import { boxBefore, x25519KeyPair, x25519KeyPairFromSecretKey } from './x25519.js';
import { isCanonicalBoxPublicKey } from './box-key.js';
import { isRecord } from './json-object.js';

import { type Result, fail, ok } from './errors.js';
import { isValidKernelId } from './kernel-id.js';
import { MAX_CONTROL_BYTES, MAX_RESPONSE_BYTES } from './limits.js';
import {
  type ControlReplyMessage,
  type ControlRequest,
  type LauncherEvent,
  type ReattachEvent,
  validateControlReplyMessage,
  validateControlRequest,
  validateLauncherEvent,
  validateReattachEvent,
} from './control-message.js';
import { type ResponsePlaintext, validateResponsePlaintext } from './response-message.js';
import { type PortRange } from './port-range.js';

/** Protocol version of these envelopes. */
export const PROTOCOL_V2 = 2;

/** An X25519 key pair (32-byte keys). */
export interface BoxKeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

/** A fresh X25519 key pair. */
export function generateKeyPair(): BoxKeyPair {
  return x25519KeyPair();
}

/** The key pair whose secret key is `secretKey` (to restore a persisted pair). */
export function keyPairFromSecretKey(secretKey: Uint8Array): BoxKeyPair {
  return x25519KeyPairFromSecretKey(secretKey);
}

/** The wire form of a sealed response. */
export interface ResponseEnvelope {
  readonly v: 2;
  readonly kernel_id: string;
  readonly epk: string;
  readonly nonce: string;
  readonly box: string;
}

/** A parsed, not yet opened, response envelope. */
export interface ParsedResponseEnvelope {
  readonly kernelId: string;
  readonly epk: Uint8Array;
  readonly nonce: Uint8Array;
  readonly box: Uint8Array;
}

/** A response sealed by a launcher, with the ephemeral key pair it must keep to open control requests. */
export interface SealedResponse {
  /** The JSON text to send (without a trailing newline). */
  readonly text: string;
  readonly ephemeral: BoxKeyPair;
}

function parseJsonObject(input: string | Uint8Array, limit: number): Result<Record<string, unknown>> {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.byteLength;
  if (size > limit) return fail('GL_ERR_ENVELOPE_TOO_LARGE', `message of ${size} bytes exceeds ${limit}`, { size, limit });
  const text = typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return fail('GL_ERR_ENVELOPE_MALFORMED', 'message is not JSON');
  }
  if (!isRecord(value)) return fail('GL_ERR_ENVELOPE_MALFORMED', 'message is not a JSON object');
  return ok(value);
}

function openBox(
  box: Uint8Array,
  nonce: Uint8Array,
  peerPk: Uint8Array,
  ownSk: Uint8Array,
  limit: number,
): Result<Record<string, unknown>> {
  const plain = nacl.box.open.after(box, nonce, boxBefore(peerPk, ownSk));
  if (plain === null) return fail('GL_ERR_ENVELOPE_OPEN_FAILED', 'sealed box did not open (wrong key or altered message)');
  return parseJsonObject(plain, limit);
}

function sealBox(plaintext: unknown, peerPk: Uint8Array, ownSk: Uint8Array): { nonce: string; box: string } {
  const nonce = nacl.randomBytes(nacl.box.nonceLength);
  const box = nacl.box.after(Buffer.from(JSON.stringify(plaintext), 'utf8'), nonce, boxBefore(peerPk, ownSk));
  return { nonce: toBase64(nonce), box: toBase64(box) };
}

/** An ephemeral key pair and its shared key with the listener, computed ahead of sealing. */
export interface PreparedSeal {
  readonly ephemeral: BoxKeyPair;
  /** `nacl.box.before(listenerPublicKey, ephemeral.secretKey)`. */
  readonly shared: Uint8Array;
}

/**
 * Does the slow part of sealing a response (two X25519 scalar multiplications)
 * ahead of time, e.g. while the kernel starts.
 */
export function prepareSeal(listenerPublicKey: Uint8Array): PreparedSeal {
  const ephemeral = x25519KeyPair();
  return { ephemeral, shared: boxBefore(listenerPublicKey, ephemeral.secretKey) };
}

/**
 * Seals a response plaintext to the listener's public key with a fresh
 * ephemeral key pair (or the one `prepared` holds; use each only once).
 */
export function sealResponse(plaintext: ResponsePlaintext, listenerPublicKey: Uint8Array, prepared?: PreparedSeal): SealedResponse {
  if (prepared !== undefined) {
    const nonce = nacl.randomBytes(nacl.box.nonceLength);
    const box = nacl.box.after(Buffer.from(JSON.stringify(plaintext), 'utf8'), nonce, prepared.shared);
    const envelope: ResponseEnvelope = {
      v: 2,
      kernel_id: plaintext.kernel_id,
      epk: toBase64(prepared.ephemeral.publicKey),
      nonce: toBase64(nonce),
      box: toBase64(box),
    };
    return { text: JSON.stringify(envelope), ephemeral: prepared.ephemeral };
  }
  const ephemeral = x25519KeyPair();
  const sealed = sealBox(plaintext, listenerPublicKey, ephemeral.secretKey);
  const envelope: ResponseEnvelope = { v: 2, kernel_id: plaintext.kernel_id, epk: toBase64(ephemeral.publicKey), ...sealed };
  return { text: JSON.stringify(envelope), ephemeral };
}

/**
 * Parses the outer response envelope without any crypto, so a listener can
 * refuse unknown kernel ids cheaply before opening the box.
 */
export function parseResponseEnvelope(input: string | Uint8Array): Result<ParsedResponseEnvelope> {
  const parsed = parseJsonObject(input, MAX_RESPONSE_BYTES);
  if (!parsed.ok) return parsed;
  const v = parsed.value;
  if (v.v !== PROTOCOL_V2) return fail('GL_ERR_ENVELOPE_VERSION', `unsupported protocol version ${JSON.stringify(v.v ?? null)}`);
  if (Object.keys(v).length !== 5) return fail('GL_ERR_ENVELOPE_MALFORMED', 'response envelope has unexpected fields');
  if (!isValidKernelId(v.kernel_id)) return fail('GL_ERR_KERNEL_ID_INVALID', 'response envelope kernel_id is invalid');
  const epk = fromBase64(v.epk, nacl.box.publicKeyLength);
  const nonce = fromBase64(v.nonce, nacl.box.nonceLength);
  const box = fromBase64(v.box);
  if (epk === undefined || nonce === undefined || box === undefined || box.length < nacl.box.overheadLength) {
    return fail('GL_ERR_ENVELOPE_MALFORMED', 'response envelope epk/nonce/box are not canonical base64 of the right lengths');
  }
  if (!isCanonicalBoxPublicKey(epk)) return fail('GL_ERR_ENVELOPE_MALFORMED', 'response envelope epk is not a canonical X25519 public key');
  return ok({ kernelId: v.kernel_id, epk, nonce, box });
}

/**
 * Opens a parsed response with the listener's secret key and validates the
 * plaintext (inner kernel id equal to the outer one; ports within `portRange`).
 * The launch token is *not* checked here: the caller compares it in constant time.
 */
export function openResponseEnvelope(
  env: ParsedResponseEnvelope,
  listenerSecretKey: Uint8Array,
  options: { portRange?: PortRange } = {},
): Result<ResponsePlaintext> {
  const opened = openBox(env.box, env.nonce, env.epk, listenerSecretKey, MAX_RESPONSE_BYTES);
  if (!opened.ok) return opened;
  if (opened.value.kernel_id !== env.kernelId) return fail('GL_ERR_KERNEL_ID_MISMATCH', 'inner kernel_id differs from the envelope');
  return validateResponsePlaintext(opened.value, options);
}

/** {@link parseResponseEnvelope} then {@link openResponseEnvelope}. */
export function openResponse(
  input: string | Uint8Array,
  listenerSecretKey: Uint8Array,
  options: { portRange?: PortRange } = {},
): Result<{ envelope: ParsedResponseEnvelope; plaintext: ResponsePlaintext }> {
  const env = parseResponseEnvelope(input);
  if (!env.ok) return env;
  const opened = openResponseEnvelope(env.value, listenerSecretKey, options);
  if (!opened.ok) return opened;
  return ok({ envelope: env.value, plaintext: opened.value });
}

/** Wire form of a control request or event. */
export interface BoxedMessage {
  readonly v: 2;
  readonly nonce: string;
  readonly box: string;
}

function parseBoxed(input: string | Uint8Array, limit: number): Result<{ nonce: Uint8Array; box: Uint8Array }> {
  const parsed = parseJsonObject(input, limit);
  if (!parsed.ok) return parsed;
  const v = parsed.value;
  if (v.v !== PROTOCOL_V2) return fail('GL_ERR_ENVELOPE_VERSION', `unsupported protocol version ${JSON.stringify(v.v ?? null)}`);
  if (Object.keys(v).length !== 3) return fail('GL_ERR_ENVELOPE_MALFORMED', 'boxed message has unexpected fields');
  const nonce = fromBase64(v.nonce, nacl.box.nonceLength);
  const box = fromBase64(v.box);
  if (nonce === undefined || box === undefined || box.length < nacl.box.overheadLength) {
    return fail('GL_ERR_ENVELOPE_MALFORMED', 'boxed message nonce/box are not canonical base64 of the right lengths');
  }
  return ok({ nonce, box });
}

/** Seals a control request (listener side) to the launcher's ephemeral public key. */
export function sealControlRequest(request: ControlRequest, launcherPublicKey: Uint8Array, listenerSecretKey: Uint8Array): string {
  const msg: BoxedMessage = { v: 2, ...sealBox(request, launcherPublicKey, listenerSecretKey) };
  return JSON.stringify(msg);
}

/** Opens a control request (launcher side). Kernel id and `seq` order are the caller's to check. */
export function openControlRequest(
  input: string | Uint8Array,
  listenerPublicKey: Uint8Array,
  launcherSecretKey: Uint8Array,
): Result<ControlRequest> {
  const boxed = parseBoxed(input, MAX_CONTROL_BYTES);
  if (!boxed.ok) return boxed;
  const opened = openBox(boxed.value.box, boxed.value.nonce, listenerPublicKey, launcherSecretKey, MAX_CONTROL_BYTES);
  if (!opened.ok) return opened;
  return validateControlRequest(opened.value);
}

/**
 * The X25519 shared key of a key pair and a peer's public key
 * (`nacl.box.before`): compute it once where many messages are opened.
 */
export function sharedKey(peerPublicKey: Uint8Array, ownSecretKey: Uint8Array): Uint8Array {
  return boxBefore(peerPublicKey, ownSecretKey);
}

/**
 * {@link openControlRequest} with a precomputed {@link sharedKey}: a refused
 * request then costs a symmetric check (~30 µs), not a scalar multiplication
 * (~0.6 ms), so garbage on the comm port cannot load the launcher.
 */
export function openControlRequestShared(input: string | Uint8Array, shared: Uint8Array): Result<ControlRequest> {
  const boxed = parseBoxed(input, MAX_CONTROL_BYTES);
  if (!boxed.ok) return boxed;
  const plain = nacl.box.open.after(boxed.value.box, boxed.value.nonce, shared);
  if (plain === null) return fail('GL_ERR_ENVELOPE_OPEN_FAILED', 'sealed box did not open (wrong key or altered message)');
  const opened = parseJsonObject(plain, MAX_CONTROL_BYTES);
  if (!opened.ok) return opened;
  return validateControlRequest(opened.value);
}

/** Seals an event (launcher side) to the listener's public key. */
export function sealEvent(event: LauncherEvent, listenerPublicKey: Uint8Array, launcherSecretKey: Uint8Array): string {
  const msg: BoxedMessage = { v: 2, ...sealBox(event, listenerPublicKey, launcherSecretKey) };
  return JSON.stringify(msg);
}

/** Opens an event (listener side). */
export function openEvent(input: string | Uint8Array, launcherPublicKey: Uint8Array, listenerSecretKey: Uint8Array): Result<LauncherEvent> {
  const boxed = parseBoxed(input, MAX_CONTROL_BYTES);
  if (!boxed.ok) return boxed;
  const opened = openBox(boxed.value.box, boxed.value.nonce, launcherPublicKey, listenerSecretKey, MAX_CONTROL_BYTES);
  if (!opened.ok) return opened;
  return validateLauncherEvent(opened.value);
}

/**
 * Seals a control reply (launcher side) to the listener's public key with a
 * precomputed {@link sharedKey} of the listener's key and the launcher's
 * ephemeral secret key (the same key pair the request was opened with).
 */
export function sealControlReplyShared(message: ControlReplyMessage, shared: Uint8Array): string {
  const nonce = nacl.randomBytes(nacl.box.nonceLength);
  const box = nacl.box.after(Buffer.from(JSON.stringify(message), 'utf8'), nonce, shared);
  const msg: BoxedMessage = { v: 2, nonce: toBase64(nonce), box: toBase64(box) };
  return JSON.stringify(msg);
}

/** Seals a control reply (launcher side) to the listener's public key. */
export function sealControlReply(message: ControlReplyMessage, listenerPublicKey: Uint8Array, launcherSecretKey: Uint8Array): string {
  return sealControlReplyShared(message, sharedKey(listenerPublicKey, launcherSecretKey));
}

/** A boxed message from a launcher: a control reply or an event. */
export type LauncherMessage =
  { readonly kind: 'reply'; readonly message: ControlReplyMessage } | { readonly kind: 'event'; readonly event: LauncherEvent };

/**
 * Opens a boxed message from a launcher (listener side): a control reply
 * (`reply`) or an event (`event`). Kernel id and `seq` are the caller's to check.
 */
export function openLauncherMessage(
  input: string | Uint8Array,
  launcherPublicKey: Uint8Array,
  listenerSecretKey: Uint8Array,
): Result<LauncherMessage> {
  const boxed = parseBoxed(input, MAX_CONTROL_BYTES);
  if (!boxed.ok) return boxed;
  const opened = openBox(boxed.value.box, boxed.value.nonce, launcherPublicKey, listenerSecretKey, MAX_CONTROL_BYTES);
  if (!opened.ok) return opened;
  if ('reply' in opened.value) {
    const reply = validateControlReplyMessage(opened.value);
    return reply.ok ? ok({ kind: 'reply', message: reply.value }) : reply;
  }
  const event = validateLauncherEvent(opened.value);
  return event.ok ? ok({ kind: 'event', event: event.value }) : event;
}

/** Opens a control reply (listener side). Kernel id and `seq` are the caller's to check. */
export function openControlReply(
  input: string | Uint8Array,
  launcherPublicKey: Uint8Array,
  listenerSecretKey: Uint8Array,
): Result<ControlReplyMessage> {
  const opened = openLauncherMessage(input, launcherPublicKey, listenerSecretKey);
  if (!opened.ok) return opened;
  if (opened.value.kind !== 'reply') return fail('GL_ERR_ENVELOPE_MALFORMED', 'boxed message is an event, not a control reply');
  return ok(opened.value.message);
}

/**
 * Guards a launcher against replayed or reordered control requests: `seq` must
 * strictly increase. Accepting a request advances the guard.
 */
export class SeqGuard {
  #last = -1;
  /** The highest accepted seq, or -1. */
  get last(): number {
    return this.#last;
  }
  /** Returns true and records `seq` when it is above every accepted one. */
  accept(seq: number): boolean {
    if (!(seq > this.#last)) return false;
    this.#last = seq;
    return true;
  }
}

/**
 * A source of strictly increasing sequence numbers from the wall clock in µs,
 * so that a host restarted with its persisted key pair keeps control.
 */
export class ClockSeq {
  #last = 0;
  /** Next seq: now in µs, bumped past the previous one when equal or lower. */
  next(): number {
    const now = Math.floor((performance.timeOrigin + performance.now()) * 1000);
    this.#last = now > this.#last ? now : this.#last + 1;
    return this.#last;
  }
}

/**
 * Seals a reattach event in the response envelope's shape (`v`, `kernel_id`,
 * `epk`, `nonce`, `box`) with the launcher's *existing* ephemeral key pair.
 */
export function sealReattach(event: ReattachEvent, listenerPublicKey: Uint8Array, ephemeral: BoxKeyPair): string {
  const sealed = sealBox(event, listenerPublicKey, ephemeral.secretKey);
  const envelope: ResponseEnvelope = { v: 2, kernel_id: event.kernel_id, epk: toBase64(ephemeral.publicKey), ...sealed };
  return JSON.stringify(envelope);
}

/**
 * Opens a reattach frame (listener side). `knownEpk` is the ephemeral key of
 * the kernel's accepted response: a frame with another key is refused.
 */
export function openReattach(env: ParsedResponseEnvelope, knownEpk: Uint8Array, listenerSecretKey: Uint8Array): Result<ReattachEvent> {
  if (!nacl.verify(env.epk, knownEpk)) return fail('GL_ERR_ENVELOPE_OPEN_FAILED', 'reattach key differs from the accepted response');
  const opened = openBox(env.box, env.nonce, env.epk, listenerSecretKey, MAX_CONTROL_BYTES);
  if (!opened.ok) return opened;
  if (opened.value.kernel_id !== env.kernelId) return fail('GL_ERR_KERNEL_ID_MISMATCH', 'inner kernel_id differs from the envelope');
  return validateReattachEvent(opened.value);
}
