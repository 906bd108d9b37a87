/**
 * Kernel ids: 1–128 characters of `[A-Za-z0-9._-]`, so that an id is safe in a
 * file name, a log line and a YARN application name.
 *
 * @module
 */
import { MAX_KERNEL_ID_LENGTH } from './limits.js';
import { GatewayError } from './errors.js';

const KERNEL_ID_RE = /^[A-Za-z0-9._-]+$/;

/** True when `id` is a valid kernel id. */
export function isValidKernelId(id: unknown): id is string {
  return (
    typeof id === 'string' && id.length >= 1 && id.length <= MAX_KERNEL_ID_LENGTH && KERNEL_ID_RE.test(id) && id !== '.' && id !== '..'
  );
}

/** Returns `id` or throws `GL_ERR_KERNEL_ID_INVALID`. */
export function assertKernelId(id: unknown): string {
  if (!isValidKernelId(id)) {
    const shown = typeof id === 'string' ? `'${id.slice(0, 40)}${id.length > 40 ? '…' : ''}'` : typeof id;
    throw new GatewayError(
      'GL_ERR_KERNEL_ID_INVALID',
      `kernel id ${shown} is invalid: use 1-${MAX_KERNEL_ID_LENGTH} characters of A-Z a-z 0-9 . _ -`,
    );
  }
  return id;
}
