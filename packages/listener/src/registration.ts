/**
 * One expected kernel launch, as an explicit state machine:
 *
 * ```
 * pending ──► accepted   (valid response: promise resolves)
 *         ├─► failed     (valid failure response: rejects GL_ERR_KERNEL_FAILED)
 *         ├─► timed-out  (rejects GL_ERR_REGISTRATION_TIMEOUT)
 *         ├─► aborted    (rejects GL_ERR_REGISTRATION_ABORTED)
 *         └─► closed     (rejects GL_ERR_LISTENER_CLOSED)
 * ```
 *
 * Only `pending` has transitions; every final state releases the timer and
 * the abort listener, so nothing of a settled registration stays alive.
 *
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import {
  type ConnectionInfo,
  type KernelFailure,
  type PortMode,
  type PortRange,
  type ProtocolVersion,
  GatewayError,
} from '@gateway-launchers/common';

/** States of a {@link Registration}. */
export type RegistrationState = 'pending' | 'accepted' | 'failed' | 'timed-out' | 'aborted' | 'closed';

/** Allowed transitions: only `pending` may change. */
const TRANSITIONS: Readonly<Record<RegistrationState, readonly RegistrationState[]>> = {
  pending: ['accepted', 'failed', 'timed-out', 'aborted', 'closed'],
  accepted: [],
  failed: [],
  'timed-out': [],
  aborted: [],
  closed: [],
};

/** Protocol a registration expects its response in (defined once, in common). */
export type { ProtocolVersion };

/** How the launcher delivers its response: a TCP line or a WebSocket it keeps open for control. */
export type ResponseTransport = 'tcp' | 'ws';

/**
 * Where and how to reach a launcher for control. Plain JSON: a host may
 * persist it with its key pair and hand it to `ResponseListener.adopt` after a
 * restart.
 */
export interface ControlTarget {
  /** Kernel id the launcher serves. */
  readonly kernelId: string;
  /** 2: boxed requests with `seq`; 1: Gateway Provisioners' plain JSON. */
  readonly protocol: ProtocolVersion;
  /** Host of the launcher's comm port. */
  readonly host: string;
  /** The launcher's comm port. */
  readonly commPort: number;
  /** v2: the launcher's ephemeral public key (base64) from its response. */
  readonly launcherPublicKey?: string;
}

/** What a registration's promise resolves with: validated connection info and how to control the launcher. */
export interface LaunchResponse {
  readonly kernelId: string;
  readonly protocol: ProtocolVersion;
  /** Transport the response arrived on. */
  readonly transport: ResponseTransport;
  /**
   * Validated connection info, ready for a Jupyter client or `toConnectionFile`.
   * When the launcher reported a wildcard `ip` (`0.0.0.0`, `::`, as Gateway
   * Provisioners' launchers do), it is replaced by the address the response came from.
   */
  readonly connectionInfo: ConnectionInfo;
  /** The launcher's comm (control) port. */
  readonly commPort: number;
  /**
   * The kernel's process id on its host, when reported (both protocols: v2
   * launchers report the kernel they spawned, which leads its own process
   * group, so `pgid` equals it; 0 before a proxy-mode kernel has started).
   */
  readonly pid: number | null;
  /** The kernel's process group id, when reported. */
  readonly pgid: number | null;
  /** v2: `direct` or `proxy`; v1: null. */
  readonly mode: PortMode | null;
  /** v2: the launcher's version; v1: null. */
  readonly launcherVersion: string | null;
  /** Address the response came from. */
  readonly peer: string;
  /** How to reach the launcher for control (persistable). */
  readonly control: ControlTarget;
}

/** Constructor input of {@link Registration}. */
export interface RegistrationInit {
  readonly kernelId: string;
  readonly protocol: ProtocolVersion;
  readonly transport: ResponseTransport;
  readonly portRange: PortRange;
  readonly timeoutMs: number;
  /** v2 launch token; v1 has none. */
  readonly token?: string;
  readonly signal?: AbortSignal;
  /** Called once when the registration leaves `pending`, before its promise settles. */
  readonly onSettled: (registration: Registration) => void;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** One pending kernel launch: its expectations, its promise, its timer. */
export class Registration {
  readonly kernelId: string;
  readonly protocol: ProtocolVersion;
  readonly transport: ResponseTransport;
  readonly portRange: PortRange;
  readonly timeoutMs: number;
  /** Settles when the registration leaves `pending`; already marked handled. */
  readonly response: Promise<LaunchResponse>;
  #error: GatewayError | undefined;
  #state: RegistrationState = 'pending';
  /** SHA-256 of the token: compared in constant time whatever the candidate's length. */
  readonly #tokenDigest: Buffer | undefined;
  #resolve!: (value: LaunchResponse) => void;
  #reject!: (error: GatewayError) => void;
  #timer: NodeJS.Timeout | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => {
    this.#finish(
      'aborted',
      new GatewayError('GL_ERR_REGISTRATION_ABORTED', `registration of kernel ${this.kernelId} was aborted`, {
        cause: this.#signal?.reason,
        details: { kernel_id: this.kernelId },
      }),
    );
  };
  readonly #onSettled: (registration: Registration) => void;

  constructor(init: RegistrationInit) {
    this.kernelId = init.kernelId;
    this.protocol = init.protocol;
    this.transport = init.transport;
    this.portRange = init.portRange;
    this.timeoutMs = init.timeoutMs;
    this.#tokenDigest = init.token === undefined ? undefined : digest(init.token);
    this.#onSettled = init.onSettled;
    this.response = new Promise<LaunchResponse>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // The host sees the rejection when it awaits; an un-awaited registration
    // must not become an unhandled rejection that kills the host process.
    this.response.catch(() => {});
    this.#signal = init.signal;
    this.#timer = setTimeout(() => {
      this.#finish(
        'timed-out',
        new GatewayError('GL_ERR_REGISTRATION_TIMEOUT', `no valid response for kernel ${this.kernelId} within ${this.timeoutMs} ms`, {
          details: { kernel_id: this.kernelId, timeout_ms: this.timeoutMs },
        }),
      );
    }, init.timeoutMs);
    if (init.signal !== undefined) {
      if (init.signal.aborted) queueMicrotask(this.#onAbort);
      else init.signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** Current state. */
  get state(): RegistrationState {
    return this.#state;
  }

  /** Why the registration left `pending` with an error, if it did. */
  get error(): GatewayError | undefined {
    return this.#error;
  }

  /** True while a response can still be accepted. */
  get pending(): boolean {
    return this.#state === 'pending';
  }

  /** Constant-time comparison of a candidate token with the issued one (v2). */
  tokenMatches(candidate: unknown): boolean {
    if (this.#tokenDigest === undefined || typeof candidate !== 'string') return false;
    return timingSafeEqual(this.#tokenDigest, digest(candidate));
  }

  /** pending → accepted: resolves the promise. False when no longer pending. */
  accept(launch: LaunchResponse): boolean {
    if (!this.#transition('accepted')) return false;
    this.#resolve(launch);
    return true;
  }

  /** pending → failed: the launcher reported that the kernel died before it was ready. */
  fail(failure: KernelFailure): boolean {
    const what = failure.signal !== null ? `signal ${failure.signal}` : `exit code ${String(failure.exit_code)}`;
    return this.#finish(
      'failed',
      new GatewayError('GL_ERR_KERNEL_FAILED', `kernel ${this.kernelId} failed to start (${what})`, {
        details: { kernel_id: this.kernelId, exit_code: failure.exit_code, signal: failure.signal, stderr_tail: failure.stderr_tail },
      }),
    );
  }

  /** pending → closed: the listener is closing. */
  close(): boolean {
    return this.#finish(
      'closed',
      new GatewayError('GL_ERR_LISTENER_CLOSED', `listener closed while kernel ${this.kernelId} was pending`, {
        details: { kernel_id: this.kernelId },
      }),
    );
  }

  #finish(state: RegistrationState, error: GatewayError): boolean {
    if (!this.#transition(state)) return false;
    this.#error = error;
    this.#reject(error);
    return true;
  }

  #transition(to: RegistrationState): boolean {
    if (!TRANSITIONS[this.#state].includes(to)) return false;
    this.#state = to;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#onSettled(this);
    return true;
  }
}
