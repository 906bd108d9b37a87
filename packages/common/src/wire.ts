/**
 * The Jupyter wire protocol's multipart messages: HMAC signing and verifying
 * (constant-time), serialising and parsing, and building a request such as
 * `shutdown_request` or `execute_request`.
 *
 * Frames: `[...routing ids, '<IDS|MSG>', signature, header, parent_header, metadata, content, ...buffers]`.
 *
 * @module
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { type Result, fail, ok } from './errors.js';
import { isSupportedSignatureScheme } from './connection-info.js';

/** The delimiter between routing ids and the signed frames. */
export const DELIMITER = '<IDS|MSG>';
const DELIMITER_BYTES = Buffer.from(DELIMITER);
/** Jupyter messaging protocol version we speak. */
export const PROTOCOL_VERSION = '5.3';

/** A Jupyter message header. */
export interface MessageHeader {
  msg_id: string;
  msg_type: string;
  session: string;
  username: string;
  date: string;
  version: string;
  [extra: string]: unknown;
}

/** A Jupyter message, decoded. */
export interface JupyterMessage<C = Record<string, unknown>> {
  /** Routing ids before the delimiter (ROUTER side). */
  identities: Buffer[];
  header: MessageHeader;
  parent_header: Partial<MessageHeader>;
  metadata: Record<string, unknown>;
  content: C;
  buffers: Buffer[];
}

/** Signs messages with one key and scheme. An empty key disables signing (Jupyter's rule). */
export class MessageSigner {
  readonly #key: Buffer;
  readonly #algorithm: string;

  /**
   * @param key the connection key (empty: no signing)
   * @param scheme `hmac-<hash>` with a hash Node supports, default `hmac-sha256`
   * @throws TypeError for any other scheme
   */
  constructor(key: string, scheme = 'hmac-sha256') {
    // Refuse an unknown hash here rather than on every sign/verify, where
    // createHmac would throw in the middle of a relay.
    if (!isSupportedSignatureScheme(scheme)) throw new TypeError(`unsupported signature scheme ${scheme}`);
    this.#key = Buffer.from(key, 'utf8');
    this.#algorithm = scheme.slice(5);
  }

  /** Hex HMAC over the four frames, or `''` with an empty key. */
  sign(frames: readonly Uint8Array[]): string {
    if (this.#key.length === 0) return '';
    const h = createHmac(this.#algorithm, this.#key);
    for (const f of frames) h.update(f);
    return h.digest('hex');
  }

  /** Constant-time check of `signature` against the four frames. */
  verify(signature: Uint8Array, frames: readonly Uint8Array[]): boolean {
    if (this.#key.length === 0) return true;
    const expected = Buffer.from(this.sign(frames), 'ascii');
    return signature.length === expected.length && timingSafeEqual(signature, expected);
  }
}

/** Builds a header for a new message. */
export function createHeader(msgType: string, session: string, username = 'gateway-launchers'): MessageHeader {
  return { msg_id: randomUUID(), msg_type: msgType, session, username, date: new Date().toISOString(), version: PROTOCOL_VERSION };
}

/** A new, unsigned message with the given type and content. */
export function createMessage<C extends Record<string, unknown>>(
  msgType: string,
  content: C,
  options: { session: string; parent?: Partial<MessageHeader>; metadata?: Record<string, unknown>; identities?: Buffer[] },
): JupyterMessage<C> {
  return {
    identities: options.identities ?? [],
    header: createHeader(msgType, options.session),
    parent_header: options.parent ?? {},
    metadata: options.metadata ?? {},
    content,
    buffers: [],
  };
}

/** Serialises and signs a message into its frames. */
export function serializeMessage(msg: JupyterMessage<unknown>, signer: MessageSigner): Buffer[] {
  const parts = [msg.header, msg.parent_header, msg.metadata, msg.content].map((p) => Buffer.from(JSON.stringify(p), 'utf8'));
  return [...msg.identities, DELIMITER_BYTES, Buffer.from(signer.sign(parts), 'ascii'), ...parts, ...msg.buffers];
}

/**
 * Finds the delimiter and checks the signature without parsing JSON: what a
 * relay or a listener needs. Returns the index of the delimiter.
 */
export function verifyFrames(frames: readonly Uint8Array[], signer: MessageSigner): Result<number> {
  const at = frames.findIndex((f) => f.length === DELIMITER_BYTES.length && DELIMITER_BYTES.equals(f));
  if (at < 0 || frames.length < at + 6) return fail('GL_ERR_WIRE_MALFORMED', 'message lacks the delimiter or one of its frames');
  if (!signer.verify(frames[at + 1] as Uint8Array, frames.slice(at + 2, at + 6)))
    return fail('GL_ERR_WIRE_SIGNATURE_INVALID', 'message signature does not match');
  return ok(at);
}

/** Verifies and parses frames into a message. */
export function parseMessage(frames: readonly Uint8Array[], signer: MessageSigner): Result<JupyterMessage> {
  const at = verifyFrames(frames, signer);
  if (!at.ok) return at;
  const i = at.value;
  try {
    const [header, parent, metadata, content] = frames
      .slice(i + 2, i + 6)
      .map((f) => JSON.parse(Buffer.from(f).toString('utf8')) as unknown);
    if (typeof header !== 'object' || header === null) return fail('GL_ERR_WIRE_MALFORMED', 'message header is not an object');
    return ok({
      identities: frames.slice(0, i).map((f) => Buffer.from(f)),
      header: header as MessageHeader,
      parent_header: (parent ?? {}) as Partial<MessageHeader>,
      metadata: (metadata ?? {}) as Record<string, unknown>,
      content: (content ?? {}) as Record<string, unknown>,
      buffers: frames.slice(i + 6).map((f) => Buffer.from(f)),
    });
  } catch {
    return fail('GL_ERR_WIRE_MALFORMED', 'message frames are not JSON');
  }
}
