/**
 * The key file of `gateway-listener serve --key-file PATH`: the listener's
 * X25519 secret key (and, for `--legacy`, its RSA private key) persisted so
 * that a restarted host keeps control of the launchers it started.
 *
 * Format (JSON, mode 0600, owned by the user running `serve`):
 * `{"v":1,"x25519_secret_key":"<base64 of 32 bytes>","rsa_private_key_pem":"<PKCS#8 PEM>"}`
 * (`rsa_private_key_pem` only once a `--legacy` run has added it).
 *
 * A missing file is created (its directory must exist) without ever being
 * visible half-written or with a wider mode: a private temporary file is
 * written, then hard-linked into place, which fails rather than overwrite a
 * file another process created meanwhile. A file that is not private, not
 * ours, not a regular file, larger than {@link MAX_KEY_FILE_BYTES} or malformed
 * is refused with `GL_ERR_USAGE`; its content is never quoted in the message.
 *
 * @module
 */
import { createPrivateKey, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { type FileHandle, link, open, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import {
  type BoxKeyPair,
  type V1KeyPair,
  GatewayError,
  fromBase64,
  generateKeyPair,
  generateV1KeyPair,
  keyPairFromSecretKey,
  parseJsonObject,
  toBase64,
  v1KeyPairFromPrivateKey,
} from '@gateway-launchers/common';

/** Largest key file read, in bytes (a 4096-bit RSA PEM is about 3.3 KiB). */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

/** Format version written in `v`. */
export const KEY_FILE_VERSION = 1;

/** What a key file holds once loaded. */
export interface StoredKeys {
  readonly keyPair: BoxKeyPair;
  /** Present when the file holds an RSA key and it was asked for (`legacy`). */
  readonly v1KeyPair: V1KeyPair | undefined;
  /** `created`: the file did not exist; `extended`: an RSA key was added; `loaded`: used as found. */
  readonly origin: 'created' | 'extended' | 'loaded';
}

/** Options of {@link loadOrCreateKeyFile}. */
export interface KeyFileOptions {
  /** Also load (or add) the RSA key for protocol v1. */
  readonly legacy: boolean;
  /** Modulus of a generated RSA key. */
  readonly v1KeyBits: number;
}

interface FileContent {
  v: number;
  x25519_secret_key: string;
  rsa_private_key_pem?: string;
}

function refuse(path: string, why: string, cause?: unknown): GatewayError {
  return new GatewayError('GL_ERR_USAGE', `--key-file ${path}: ${why}`, { cause, details: { variable: 'key-file' } });
}

async function readPrivateFile(path: string): Promise<Buffer | undefined> {
  let handle: FileHandle;
  try {
    // O_NOFOLLOW: the checks below are about the file itself, not a link to it.
    handle = await open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw refuse(path, 'is a symbolic link; name the file itself');
    throw refuse(path, `cannot be opened (${code ?? 'error'})`, error);
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw refuse(path, 'is not a regular file');
    if ((st.mode & 0o077) !== 0)
      throw refuse(
        path,
        `has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}; it holds secret keys and must be 0600 (chmod 600 it)`,
      );
    if (typeof process.getuid === 'function' && st.uid !== process.getuid()) throw refuse(path, 'is owned by another user');
    if (st.size > MAX_KEY_FILE_BYTES) throw refuse(path, `is larger than ${MAX_KEY_FILE_BYTES} bytes; not a key file`);
    const bytes = await handle.readFile();
    if (bytes.length > MAX_KEY_FILE_BYTES) throw refuse(path, `is larger than ${MAX_KEY_FILE_BYTES} bytes; not a key file`);
    return bytes;
  } finally {
    await handle.close();
  }
}

function parseContent(path: string, bytes: Buffer): FileContent {
  const parsed = parseJsonObject(bytes, MAX_KEY_FILE_BYTES);
  if (!parsed.ok && parsed.reason === 'too-large') throw refuse(path, `is larger than ${MAX_KEY_FILE_BYTES} bytes; not a key file`);
  if (!parsed.ok && parsed.reason === 'not-json') throw refuse(path, 'is not JSON; not a key file of gateway-listener serve');
  if (!parsed.ok || parsed.value.v !== KEY_FILE_VERSION)
    throw refuse(path, `is not a version ${KEY_FILE_VERSION} key file of gateway-listener serve`);
  const value = parsed.value;
  for (const key of Object.keys(value)) {
    if (key !== 'v' && key !== 'x25519_secret_key' && key !== 'rsa_private_key_pem')
      throw refuse(path, `has an unknown field '${key.slice(0, 40)}'`);
  }
  if (typeof value.x25519_secret_key !== 'string') throw refuse(path, 'lacks x25519_secret_key');
  if (value.rsa_private_key_pem !== undefined && typeof value.rsa_private_key_pem !== 'string')
    throw refuse(path, 'rsa_private_key_pem is not a string');
  return value as unknown as FileContent;
}

function boxKeyPairOf(path: string, content: FileContent): BoxKeyPair {
  const secret = fromBase64(content.x25519_secret_key, 32);
  if (secret === undefined) throw refuse(path, 'x25519_secret_key is not the base64 of 32 bytes');
  return keyPairFromSecretKey(secret);
}

function v1KeyPairOf(path: string, pem: string): V1KeyPair {
  let key;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw refuse(path, 'rsa_private_key_pem is not a PEM private key', error);
  }
  if (key.asymmetricKeyType !== 'rsa') throw refuse(path, 'rsa_private_key_pem is not an RSA key');
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 1024) throw refuse(path, `rsa_private_key_pem has a ${bits}-bit modulus; at least 1024 is needed`);
  return v1KeyPairFromPrivateKey(key);
}

function serialize(keyPair: BoxKeyPair, v1KeyPair: V1KeyPair | undefined): string {
  const content: FileContent = { v: KEY_FILE_VERSION, x25519_secret_key: toBase64(keyPair.secretKey) };
  if (v1KeyPair !== undefined) content.rsa_private_key_pem = v1KeyPair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  return `${JSON.stringify(content)}\n`;
}

function tempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Writes a private temporary file and links it into place; false when `path` appeared meanwhile. */
async function createExclusive(path: string, text: string): Promise<boolean> {
  const tmp = tempPath(path);
  try {
    await writeFile(tmp, text, { mode: 0o600, flag: 'wx' });
    await link(tmp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw refuse(
      path,
      `cannot be created (${(error as NodeJS.ErrnoException).code ?? 'error'}); its directory must exist and be writable`,
      error,
    );
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Replaces `path` atomically with `text` (mode 0600). */
async function replace(path: string, text: string): Promise<void> {
  const tmp = tempPath(path);
  try {
    await writeFile(tmp, text, { mode: 0o600, flag: 'wx' });
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw refuse(path, `cannot be rewritten (${(error as NodeJS.ErrnoException).code ?? 'error'})`, error);
  }
}

/**
 * Loads the key file at `path`, creating it with fresh keys when missing, and
 * adding an RSA key when `legacy` asks for one the file lacks. Throws
 * `GL_ERR_USAGE` for a file it refuses (see the module comment).
 */
export async function loadOrCreateKeyFile(path: string, options: KeyFileOptions): Promise<StoredKeys> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const bytes = await readPrivateFile(path);
    if (bytes === undefined) {
      const keyPair = generateKeyPair();
      const v1KeyPair = options.legacy ? await generateV1KeyPair(options.v1KeyBits) : undefined;
      if (await createExclusive(path, serialize(keyPair, v1KeyPair))) return { keyPair, v1KeyPair, origin: 'created' };
      continue; // another process created it first: use theirs
    }
    const content = parseContent(path, bytes);
    const keyPair = boxKeyPairOf(path, content);
    if (!options.legacy) return { keyPair, v1KeyPair: undefined, origin: 'loaded' };
    if (content.rsa_private_key_pem !== undefined)
      return { keyPair, v1KeyPair: v1KeyPairOf(path, content.rsa_private_key_pem), origin: 'loaded' };
    const v1KeyPair = await generateV1KeyPair(options.v1KeyBits);
    await replace(path, serialize(keyPair, v1KeyPair));
    return { keyPair, v1KeyPair, origin: 'extended' };
  }
  throw refuse(path, 'appeared and vanished while being created; try again');
}
