/**
 * JSON-RPC 2.0 framing for `gateway-listener serve`: decoding one line into a
 * request (or the error that answers it) and building responses and
 * notifications. Nothing here throws on input.
 *
 * Deliberate narrowings of JSON-RPC 2.0 (documented in docs/listener-serve.md):
 * no batches (an array is an invalid request), `params` by name only, and an
 * `id` is a string of at most {@link MAX_ID_LENGTH} characters, a safe
 * integer, or null.
 *
 * @module
 */
import { parseJsonObject } from '@gateway-launchers/common';

/** JSON-RPC error codes used by `serve`. */
export const RPC_ERRORS = Object.freeze({
  /** The line is not UTF-8 JSON. */
  PARSE_ERROR: -32700,
  /** Not a request object (also: a batch array, an over-long line, a bad `id`). */
  INVALID_REQUEST: -32600,
  /** No such method. */
  METHOD_NOT_FOUND: -32601,
  /** The params do not fit the method. */
  INVALID_PARAMS: -32602,
  /** A bug: the method threw something unexpected. */
  INTERNAL_ERROR: -32603,
  /** `serve` is closing and takes no more requests. */
  CLOSING: -32000,
});

/** Longest string `id` accepted. */
export const MAX_ID_LENGTH = 256;
/** Longest request line, in bytes; longer lines are answered -32600 and discarded unread. */
export const MAX_REQUEST_LINE_BYTES = 1024 * 1024;

/** A request id as accepted here. */
export type RpcId = string | number | null;

/** The `error` member of an error response. */
export interface RpcError {
  readonly code: number;
  readonly message: string;
  /** `code`: a `GL_ERR_…` code, where one fits. */
  readonly data?: { readonly code: string };
}

/** A decoded request. `notification` is true when it had no `id` (it gets no response). */
export interface RpcRequest {
  readonly kind: 'request';
  readonly id: RpcId;
  readonly notification: boolean;
  readonly method: string;
  /** The params object; `{}` when absent. Not yet validated. */
  readonly params: unknown;
}

/** A line that cannot be a request: answer `error` with `id`. */
export interface RpcInvalid {
  readonly kind: 'invalid';
  readonly id: RpcId;
  readonly error: RpcError;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

function isRpcId(value: unknown): value is RpcId {
  return (
    value === null ||
    (typeof value === 'string' && value.length <= MAX_ID_LENGTH) ||
    (typeof value === 'number' && Number.isSafeInteger(value))
  );
}

/** Builds an error object. */
export function rpcError(code: number, message: string, glCode?: string): RpcError {
  return glCode === undefined ? { code, message } : { code, message, data: { code: glCode } };
}

function notUtf8Json(): RpcError {
  return rpcError(RPC_ERRORS.PARSE_ERROR, 'parse error: the line is not UTF-8 JSON');
}

function lineTooLong(): RpcError {
  return rpcError(RPC_ERRORS.INVALID_REQUEST, `invalid request: line longer than ${MAX_REQUEST_LINE_BYTES} bytes`);
}

/** Decodes one line (without its newline). */
export function decodeRequest(line: Buffer): RpcRequest | RpcInvalid {
  let text: string;
  try {
    text = utf8.decode(line);
  } catch {
    return { kind: 'invalid', id: null, error: notUtf8Json() };
  }
  const parsed = parseJsonObject(text, MAX_REQUEST_LINE_BYTES);
  if (!parsed.ok) {
    switch (parsed.reason) {
      case 'too-large':
        return { kind: 'invalid', id: null, error: lineTooLong() };
      case 'not-json':
        return { kind: 'invalid', id: null, error: notUtf8Json() };
      default:
        return {
          kind: 'invalid',
          id: null,
          error: Array.isArray(parsed.value)
            ? rpcError(RPC_ERRORS.INVALID_REQUEST, 'invalid request: batches are not supported; send one request object per line')
            : rpcError(RPC_ERRORS.INVALID_REQUEST, 'invalid request: not a JSON object'),
        };
    }
  }
  const value = parsed.value;
  const hasId = Object.hasOwn(value, 'id');
  if (hasId && !isRpcId(value.id)) {
    return {
      kind: 'invalid',
      id: null,
      error: rpcError(
        RPC_ERRORS.INVALID_REQUEST,
        `invalid request: id must be a string of at most ${MAX_ID_LENGTH} characters, a safe integer, or null`,
      ),
    };
  }
  const id = hasId ? (value.id as RpcId) : null;
  if (value.jsonrpc !== '2.0')
    return { kind: 'invalid', id, error: rpcError(RPC_ERRORS.INVALID_REQUEST, 'invalid request: jsonrpc must be "2.0"') };
  if (typeof value.method !== 'string')
    return { kind: 'invalid', id, error: rpcError(RPC_ERRORS.INVALID_REQUEST, 'invalid request: method must be a string') };
  for (const key of Object.keys(value)) {
    if (key !== 'jsonrpc' && key !== 'id' && key !== 'method' && key !== 'params') {
      return {
        kind: 'invalid',
        id,
        error: rpcError(RPC_ERRORS.INVALID_REQUEST, 'invalid request: unknown member (allowed: jsonrpc, id, method, params)'),
      };
    }
  }
  return { kind: 'request', id, notification: !hasId, method: value.method, params: Object.hasOwn(value, 'params') ? value.params : {} };
}

/** A success response line (without newline). */
export function resultLine(id: RpcId, result: unknown): string {
  return JSON.stringify({ jsonrpc: '2.0', id, result });
}

/** An error response line (without newline). */
export function errorLine(id: RpcId, error: RpcError): string {
  return JSON.stringify({ jsonrpc: '2.0', id, error });
}

/** A notification line (without newline). */
export function notificationLine(method: string, params: unknown): string {
  return JSON.stringify({ jsonrpc: '2.0', method, params });
}
