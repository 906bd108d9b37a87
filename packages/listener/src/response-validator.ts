/**
 * Validation of a response against the registrations (design §4 and §5),
 * cheapest checks first so a hostile peer costs little: envelope shape and
 * kernel id before any crypto; inside the box the launch token before any
 * field rule, so an unauthenticated sender learns nothing but "wrong token".
 * Validation never changes state: the caller commits an accepted verdict.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import nacl from 'tweetnacl';
import {
  sharedKey,
  type ConnectionInfo,
  type ErrorCode,
  type KernelFailure,
  type PortMode,
  type V1KeyPair,
  GatewayError,
  MAX_RESPONSE_BYTES,
  isValidKernelId,
  openV1,
  parseJsonObject,
  parseResponseEnvelope,
  validateConnectionInfo,
  validateResponsePlaintext,
} from '@gateway-launchers/common';
import { type ProtocolVersion, Registration } from './registration.js';

/** What the validator needs to know about the listener's state. */
export interface RegistryView {
  /** The pending registration of `kernelId`, if any. */
  pending(kernelId: string): Registration | undefined;
  /** The replay mark of the response last accepted for `kernelId`, if any. */
  acceptedMark(kernelId: string): Buffer | undefined;
}

/** What every accepted response carries. */
interface ValidBasis {
  readonly registration: Registration;
  /** Identifies this exact response, to refuse it if it comes again. */
  readonly mark: Buffer;
  readonly pid: number | null;
  readonly pgid: number | null;
  readonly mode: PortMode | null;
  readonly launcherVersion: string | null;
}

/** A v2 response reporting a started kernel; control requests are sealed to `launcherPublicKey`. */
export interface ValidStartV2 extends ValidBasis {
  readonly kind: 'started';
  readonly protocol: 2;
  /** The launcher's ephemeral public key (to seal control requests to). */
  readonly launcherPublicKey: Uint8Array;
  readonly commPort: number;
  readonly connectionInfo: ConnectionInfo;
}

/** A v1 response (Gateway Provisioners' launchers): a started kernel, controlled in the clear. */
export interface ValidStartV1 extends ValidBasis {
  readonly kind: 'started';
  readonly protocol: 1;
  readonly launcherPublicKey: undefined;
  readonly commPort: number;
  readonly connectionInfo: ConnectionInfo;
}

/** A v2 response reporting that the kernel failed to start (v1 has no such report). */
export interface ValidFailure extends ValidBasis {
  readonly kind: 'failed';
  readonly protocol: 2;
  readonly launcherPublicKey: Uint8Array;
  readonly failure: KernelFailure;
}

/** A response that passed every check, not yet applied; `kind` (then `protocol`) tells which. */
export type ValidResponse = ValidStartV2 | ValidStartV1 | ValidFailure;

/** A refused response: the error, and the kernel id when the envelope named a well-formed one. */
export type Refusal = { readonly error: GatewayError; readonly kernelId: string | undefined };

/** Validation outcome. */
export type Verdict = { readonly ok: true; readonly value: ValidResponse } | ({ readonly ok: false } & Refusal);

function refuse(r: { readonly ok: false; readonly error: GatewayError }, kernelId?: string): Verdict {
  return { ok: false, error: r.error, kernelId };
}

function refuseWith(code: ErrorCode, message: string, kernelId: string | undefined): Verdict {
  return {
    ok: false,
    error: new GatewayError(code, message, { details: kernelId === undefined ? {} : { kernel_id: kernelId } }),
    kernelId,
  };
}

function registrationFor(view: RegistryView, kernelId: string, mark: Buffer, protocol: ProtocolVersion): Registration | Verdict {
  const last = view.acceptedMark(kernelId);
  if (last !== undefined && last.equals(mark))
    return refuseWith('GL_ERR_RESPONSE_REPLAYED', 'this response was already accepted', kernelId);
  const reg = view.pending(kernelId);
  if (reg === undefined) return refuseWith('GL_ERR_UNKNOWN_KERNEL', 'no pending registration for this kernel id', kernelId);
  if (reg.protocol !== protocol) {
    return refuseWith('GL_ERR_PROTOCOL_MISMATCH', `kernel is registered for protocol v${reg.protocol}, response is v${protocol}`, kernelId);
  }
  return reg;
}

/** Validates a v2 response envelope (the JSON text, without the newline). */
export function checkV2Response(input: Buffer, listenerSecretKey: Uint8Array, view: RegistryView): Verdict {
  const env = parseResponseEnvelope(input);
  if (!env.ok) return refuse(env);
  const { kernelId, epk, nonce, box } = env.value;
  const mark = Buffer.from(epk);
  const registration = registrationFor(view, kernelId, mark, 2);
  if (!(registration instanceof Registration)) return registration;

  const plain = nacl.box.open.after(box, nonce, sharedKey(epk, listenerSecretKey));
  if (plain === null) return refuseWith('GL_ERR_ENVELOPE_OPEN_FAILED', 'sealed box did not open (wrong key or altered message)', kernelId);
  const parsed = parseJsonObject(plain, MAX_RESPONSE_BYTES);
  if (!parsed.ok) {
    if (parsed.reason === 'too-large') return refuseWith('GL_ERR_ENVELOPE_TOO_LARGE', 'response plaintext is too large', kernelId);
    return refuseWith('GL_ERR_ENVELOPE_MALFORMED', 'response plaintext is not a JSON object', kernelId);
  }
  const inner = parsed.value;
  if (inner.kernel_id !== kernelId) return refuseWith('GL_ERR_KERNEL_ID_MISMATCH', 'inner kernel_id differs from the envelope', kernelId);
  if (!registration.tokenMatches(inner.token))
    return refuseWith('GL_ERR_TOKEN_MISMATCH', 'launch token does not match the registration', kernelId);

  const r = validateResponsePlaintext(inner, { portRange: registration.portRange });
  if (!r.ok) return refuse(r, kernelId);
  const p = r.value;
  const common = {
    registration,
    protocol: 2 as const,
    mark,
    launcherPublicKey: epk,
    pid: p.pid,
    pgid: p.pgid,
    mode: p.mode,
    launcherVersion: p.launcher_version,
  };
  if ('failure' in p) return { ok: true, value: { ...common, kind: 'failed', failure: p.failure } };
  return { ok: true, value: { ...common, kind: 'started', commPort: p.comm_port, connectionInfo: p.conn_info } };
}

/** JSON with object keys sorted at every level: one spelling per value. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function optionalPid(v: unknown): number | null {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0x7fffffff ? v : null;
}

/**
 * Validates a v1 payload (base64 text, whitespace removed). v1 has no token:
 * it is only accepted for a registration made with `protocol: 1`.
 */
export function checkV1Response(input: Buffer, keyPair: V1KeyPair, view: RegistryView): Verdict {
  const text = input.toString('latin1').replace(/\s+/g, '');
  const opened = openV1(text, keyPair);
  if (!opened.ok) return refuse(opened);
  const info = opened.value;
  const kernelId = info.kernel_id;
  if (!isValidKernelId(kernelId)) return refuseWith('GL_ERR_KERNEL_ID_INVALID', 'v1 connection info has no valid kernel_id', undefined);
  // The mark is taken from what the payload decrypts to, not from its text:
  // the outer JSON, its base64 and the RSA block can be re-spelled without
  // changing the connection info, and a re-spelled copy is still a replay.
  const mark = createHash('sha256').update(canonicalJson(info)).digest();
  const registration = registrationFor(view, kernelId, mark, 1);
  if (!(registration instanceof Registration)) return registration;
  const r = validateConnectionInfo(info, { portRange: registration.portRange, extraPorts: { comm_port: info.comm_port } });
  if (!r.ok) return refuse(r, kernelId);
  return {
    ok: true,
    value: {
      kind: 'started',
      registration,
      protocol: 1,
      mark,
      launcherPublicKey: undefined,
      commPort: info.comm_port as number,
      pid: optionalPid(info.pid),
      pgid: optionalPid(info.pgid),
      mode: null,
      launcherVersion: null,
      connectionInfo: r.value,
    },
  };
}
