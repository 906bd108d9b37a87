/**
 * Protocol v1: the Gateway Provisioners / Enterprise Gateway response format
 * (design §5), so our launcher works with today's Python servers and our
 * listener accepts today's Python/R/Scala launchers.
 *
 * Payload = base64(JSON {"version": 1, "key": b64(RSA-PKCS#1-v1.5(aesKey)),
 * "conn_info": b64(AES-128-ECB-PKCS#7(connection JSON))}).
 *
 * Decryption: Node 20 refuses RSA PKCS#1 v1.5 decryption (CVE-2023-46809,
 * the Marvin timing attack) unless started with `--security-revert`. We do not
 * revert; we decrypt with `RSA_NO_PADDING` and remove the padding ourselves
 * with *implicit rejection*: when the padding is wrong, or the message is not a
 * 16-byte AES key, we carry on with a synthetic key derived from the ciphertext
 * and a per-key secret, so every failure takes the same path and ends in the
 * same error code after the AES step. The JavaScript selection below avoids
 * data-dependent branches, but a JIT gives no hard constant-time guarantee;
 * the residual risk is accepted because v1 is legacy, opt-in on the listener
 * (`legacy: true`), and v1's own design (anyone with the public key can forge a
 * response) is weaker than any oracle this could leave.
 *
 * @module
 */
import {
  type KeyObject,
  constants,
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPublicKey,
  generateKeyPair as generateKeyPairCb,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from 'node:crypto';
import { promisify } from 'node:util';
import { type Result, fail, ok } from './errors.js';
import { MAX_RESPONSE_BYTES } from './limits.js';
import { parseJsonObject } from './json-object.js';

const generateKeyPairAsync = promisify(generateKeyPairCb);

/** Protocol version number of GP's launchers. */
export const PROTOCOL_V1 = 1;
const AES_KEY_BYTES = 16;

/** An RSA key pair for v1, with the public key in GP's published form. */
export interface V1KeyPair {
  /** base64 of the DER SubjectPublicKeyInfo (a PEM body without header lines and newlines). */
  readonly publicKeyBase64: string;
  readonly privateKey: KeyObject;
  /** Secret used only to derive implicit-rejection keys. */
  readonly rejectionSecret: Buffer;
}

/** Generates a v1 key pair (default 2048 bits; GP uses 1024). */
export async function generateV1KeyPair(modulusLength = 2048): Promise<V1KeyPair> {
  const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength });
  return v1KeyPairFromPrivateKey(privateKey);
}

/** Wraps an existing RSA private key as a {@link V1KeyPair}. */
export function v1KeyPairFromPrivateKey(privateKey: KeyObject): V1KeyPair {
  const publicKey = createPublicKey(privateKey);
  const der = privateKey.export({ format: 'der', type: 'pkcs8' });
  return {
    publicKeyBase64: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
    privateKey,
    rejectionSecret: createHmac('sha256', der).update('gateway-launchers v1 implicit rejection').digest(),
  };
}

/** Decodes GP's published public key form (base64 DER SPKI, PEM body also accepted), or `undefined`. */
export function decodeRsaPublicKey(text: string): KeyObject | undefined {
  const body = text.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return undefined;
  try {
    const key = createPublicKey({ key: Buffer.from(body, 'base64'), format: 'der', type: 'spki' });
    return key.asymmetricKeyType === 'rsa' ? key : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Builds a v1 payload exactly as GP's Python launcher does. `connInfo` is the
 * JSON object GP sends: five ports, ip, key, transport, signature_scheme,
 * kernel_name, pid, pgid, comm_port and kernel_id.
 */
export function sealV1(connInfo: Record<string, unknown>, publicKey: KeyObject): string {
  const aesKey = randomBytes(AES_KEY_BYTES);
  const cipher = createCipheriv('aes-128-ecb', aesKey, null);
  const encrypted = Buffer.concat([cipher.update(JSON.stringify(connInfo), 'utf8'), cipher.final()]);
  const encryptedKey = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, aesKey);
  const payload = { version: PROTOCOL_V1, key: encryptedKey.toString('base64'), conn_info: encrypted.toString('base64') };
  return Buffer.from(JSON.stringify(payload), 'utf8').toString('base64');
}

/**
 * Constant-flow check of an RSA PKCS#1 v1.5 type 2 block that must carry a
 * 16-byte message: returns the message, or a synthetic key when it does not.
 */
function unpadWithImplicitRejection(em: Buffer, synthetic: Buffer): Buffer {
  const n = em.length;
  // good = em[0]==0 && em[1]==2 && first zero after index 1 at n-17 && index >= 10
  let bad = em[0]! | (em[1]! ^ 2);
  let zeroIndex = 0;
  let seenZero = 0;
  for (let i = 2; i < n; i++) {
    const isZero = ((em[i]! | -em[i]!) >>> 31) ^ 1; // 1 when em[i] == 0
    const first = isZero & (seenZero ^ 1);
    zeroIndex |= -first & i;
    seenZero |= isZero;
  }
  bad |= seenZero ^ 1;
  bad |= zeroIndex ^ (n - AES_KEY_BYTES - 1);
  bad |= ((zeroIndex - 10) >>> 31) & 1; // padding string shorter than 8 bytes
  const mask = ((bad | -bad) >>> 31) * 0xff; // 0xff when bad
  const out = Buffer.alloc(AES_KEY_BYTES);
  for (let i = 0; i < AES_KEY_BYTES; i++) {
    const real = em[n - AES_KEY_BYTES + i]!;
    out[i] = (real & ~mask) | (synthetic[i]! & mask);
  }
  return out;
}

/** What a v1 payload decodes to: GP's connection JSON, unvalidated. */
export type V1Plaintext = Record<string, unknown>;

/**
 * Decodes a GP v1 payload with the listener's key pair. Every failure is
 * `GL_ERR_V1_DECRYPT_FAILED` (or a size/shape code before any crypto), so the
 * answer reveals nothing about the RSA padding.
 */
export function openV1(input: string | Uint8Array, keyPair: V1KeyPair): Result<V1Plaintext> {
  const text = (typeof input === 'string' ? input : Buffer.from(input).toString('latin1')).trim();
  if (text.length > MAX_RESPONSE_BYTES) return fail('GL_ERR_ENVELOPE_TOO_LARGE', 'v1 payload exceeds the response size limit');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return fail('GL_ERR_ENVELOPE_MALFORMED', 'v1 payload is not base64');
  const outer = parseJsonObject(Buffer.from(text, 'base64'), MAX_RESPONSE_BYTES);
  if (!outer.ok)
    return fail(
      'GL_ERR_ENVELOPE_MALFORMED',
      outer.reason === 'not-object' ? 'v1 payload is not a JSON object' : 'v1 payload is not base64 of JSON',
    );
  const { version, key, conn_info: connInfo } = outer.value;
  if (version !== PROTOCOL_V1) return fail('GL_ERR_ENVELOPE_VERSION', `unsupported v1 payload version ${JSON.stringify(version ?? null)}`);
  if (typeof key !== 'string' || typeof connInfo !== 'string')
    return fail('GL_ERR_ENVELOPE_MALFORMED', 'v1 payload lacks key or conn_info');
  const encryptedKey = Buffer.from(key, 'base64');
  const encryptedInfo = Buffer.from(connInfo, 'base64');
  const modulusBytes = Math.ceil((keyPair.privateKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
  if (encryptedKey.length !== modulusBytes || encryptedInfo.length === 0 || encryptedInfo.length % 16 !== 0) {
    return fail('GL_ERR_V1_DECRYPT_FAILED', 'v1 payload could not be decrypted');
  }
  let em: Buffer;
  try {
    em = privateDecrypt({ key: keyPair.privateKey, padding: constants.RSA_NO_PADDING }, encryptedKey);
  } catch {
    return fail('GL_ERR_V1_DECRYPT_FAILED', 'v1 payload could not be decrypted');
  }
  const synthetic = createHmac('sha256', keyPair.rejectionSecret).update(encryptedKey).digest();
  const aesKey = unpadWithImplicitRejection(em, synthetic);
  let plain: string;
  try {
    const decipher = createDecipheriv('aes-128-ecb', aesKey, null);
    plain = Buffer.concat([decipher.update(encryptedInfo), decipher.final()]).toString('utf8');
  } catch {
    return fail('GL_ERR_V1_DECRYPT_FAILED', 'v1 payload could not be decrypted');
  }
  const value = parseJsonObject(plain, MAX_RESPONSE_BYTES);
  if (!value.ok) return fail('GL_ERR_V1_DECRYPT_FAILED', 'v1 payload could not be decrypted');
  return ok(value.value);
}
