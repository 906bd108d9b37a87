/**
 * Authenticates v2 control requests, wherever they arrive (comm port or
 * WebSocket): the box must open with the listener's key and our ephemeral
 * key, name our kernel, and carry a `seq` above every one accepted before.
 * Replies go back sealed the same way and bound to the request's `seq`, so the
 * host believes no answer that is not ours (issue 11.5).
 *
 * @module
 */
import type { ControlAction, ControlReply } from '@gateway-launchers/common/control-message';
import { SeqGuard, openControlRequestShared, sealControlReplyShared, sharedKey } from '@gateway-launchers/common/envelope-v2';
import { type Result, fail, ok } from '@gateway-launchers/common/errors';

/** An authenticated control request: what to do, and how to seal the answer to it. */
export interface AuthenticatedControl {
  readonly action: ControlAction;
  /** The reply, sealed to the listener and bound to this request's `seq`. */
  sealReply(reply: ControlReply): string;
}

/** Opens and checks control requests for one kernel, and seals their replies. */
export class ControlAuthenticator {
  readonly #guard = new SeqGuard();
  /** The key agreement is done once, not per request: refusing garbage stays cheap. */
  readonly #shared: Uint8Array;

  readonly #kernelId: string;
  constructor(kernelId: string, listenerPublicKey: Uint8Array, launcherSecretKey: Uint8Array) {
    this.#kernelId = kernelId;
    this.#shared = sharedKey(listenerPublicKey, launcherSecretKey);
  }

  /** Returns the requested action with its reply sealer, or why the request is refused. */
  open(text: string): Result<AuthenticatedControl> {
    const opened = openControlRequestShared(text, this.#shared);
    if (!opened.ok) return opened;
    const req = opened.value;
    if (req.kernel_id !== this.#kernelId) return fail('GL_ERR_KERNEL_ID_MISMATCH', 'control request names another kernel');
    if (!this.#guard.accept(req.seq)) return fail('GL_ERR_REPLAY', 'control request seq does not increase');
    const shared = this.#shared;
    const kernelId = this.#kernelId;
    return ok({ action: req.request, sealReply: (reply) => sealControlReplyShared({ kernel_id: kernelId, seq: req.seq, reply }, shared) });
  }
}
