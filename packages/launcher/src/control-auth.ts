/**
 * Authenticates v2 control requests, wherever they arrive (comm port or
 * WebSocket): the box must open with the listener's key and our ephemeral
 * key, name our kernel, and carry a `seq` above every one accepted before.
 *
 * @module
 */
import type { ControlAction } from '@gateway-launchers/common/control-message';
import { SeqGuard, openControlRequestShared, sharedKey } from '@gateway-launchers/common/envelope-v2';
import { type Result, fail, ok } from '@gateway-launchers/common/errors';

/** Opens and checks control requests for one kernel. */
export class ControlAuthenticator {
  readonly #guard = new SeqGuard();
  /** The key agreement is done once, not per request: refusing garbage stays cheap. */
  readonly #shared: Uint8Array;

  constructor(
    private readonly kernelId: string,
    listenerPublicKey: Uint8Array,
    launcherSecretKey: Uint8Array,
  ) {
    this.#shared = sharedKey(listenerPublicKey, launcherSecretKey);
  }

  /** Returns the requested action, or why the request is refused. */
  open(text: string): Result<ControlAction> {
    const opened = openControlRequestShared(text, this.#shared);
    if (!opened.ok) return opened;
    const req = opened.value;
    if (req.kernel_id !== this.kernelId) return fail('GL_ERR_KERNEL_ID_MISMATCH', 'control request names another kernel');
    if (!this.#guard.accept(req.seq)) return fail('GL_ERR_REPLAY', 'control request seq does not increase');
    return ok(req.request);
  }
}
