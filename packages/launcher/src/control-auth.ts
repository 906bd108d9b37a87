/**
 * Authenticates v2 control requests, wherever they arrive (comm port or
 * WebSocket): the box must open with the listener's key and our ephemeral
 * key, name our kernel, and carry a `seq` above every one accepted before.
 *
 * @module
 */
import type { ControlAction } from '@gateway-launchers/common/control-message';
import { SeqGuard, openControlRequest } from '@gateway-launchers/common/envelope-v2';
import { type Result, fail, ok } from '@gateway-launchers/common/errors';

/** Opens and checks control requests for one kernel. */
export class ControlAuthenticator {
  readonly #guard = new SeqGuard();

  constructor(
    private readonly kernelId: string,
    private readonly listenerPublicKey: Uint8Array,
    private readonly launcherSecretKey: Uint8Array,
  ) {}

  /** Returns the requested action, or why the request is refused. */
  open(text: string): Result<ControlAction> {
    const opened = openControlRequest(text, this.listenerPublicKey, this.launcherSecretKey);
    if (!opened.ok) return opened;
    const req = opened.value;
    if (req.kernel_id !== this.kernelId) return fail('GL_ERR_KERNEL_ID_MISMATCH', 'control request names another kernel');
    if (!this.#guard.accept(req.seq)) return fail('GL_ERR_REPLAY', 'control request seq does not increase');
    return ok(req.request);
  }
}
