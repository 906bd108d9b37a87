/**
 * The JSON-RPC side of `gateway-listener serve`: each method is a thin call
 * into a {@link ResponseListener}, each listener outcome a notification. It
 * holds no state of its own beyond an abort handle per pending registration
 * (for `cancel`) and the count of requests still being answered.
 *
 * Ordering guarantees the host can rely on: a `register` result is written
 * before any notification about that registration, and every registration
 * ends with exactly one of `connection-info`, `launch-failed`,
 * `launch-timeout`, `registration-ended`.
 *
 * @module
 */
import { type ConnectionInfo, type Logger, GatewayError } from '@gateway-launchers/common';
import type { ControlResult } from './control-client.js';
import { type RpcError, RPC_ERRORS, decodeRequest, errorLine, notificationLine, resultLine, rpcError } from './json-rpc.js';
import type { ControlTarget, LaunchResponse } from './registration.js';
import type { ResponseListener } from './response-listener.js';
import { ParamsError, adoptParams, controlParams, emptyParams, kernelIdParams, registerParams } from './serve-params.js';

/** A control target as it travels over JSON-RPC (snake_case). */
export interface WireControlTarget {
  readonly kernel_id: string;
  readonly protocol: 1 | 2;
  readonly host: string;
  readonly comm_port: number;
  readonly launcher_public_key?: string;
}

/** What the dispatcher needs from the process around it. */
export interface DispatcherHost {
  /** Writes one line (a JSON-RPC message, without newline) to the host. */
  readonly write: (line: string) => void;
  /** Called once when the host sent `close` (after its result was written). */
  readonly onClose: () => void;
  /** Called after each asynchronous answer is written (a slot for another request is free). */
  readonly onAnswered: () => void;
  readonly log: Logger;
}

type Handler = (params: unknown) => unknown;

/** True for a line of only spaces, tabs and CRs; stops at the first other byte. */
function isBlank(bytes: Buffer): boolean {
  for (const b of bytes) if (b !== 0x20 && b !== 0x09 && b !== 0x0d) return false;
  return true;
}

function wireTarget(t: ControlTarget): WireControlTarget {
  return {
    kernel_id: t.kernelId,
    protocol: t.protocol,
    host: t.host,
    comm_port: t.commPort,
    ...(t.launcherPublicKey === undefined ? {} : { launcher_public_key: t.launcherPublicKey }),
  };
}

function wireConnectionInfo(c: ConnectionInfo): ConnectionInfo {
  // Field by field: the notification carries what the schema names, nothing a launcher added.
  return {
    shell_port: c.shell_port,
    iopub_port: c.iopub_port,
    stdin_port: c.stdin_port,
    control_port: c.control_port,
    hb_port: c.hb_port,
    ip: c.ip,
    transport: c.transport,
    key: c.key,
    signature_scheme: c.signature_scheme,
    kernel_name: c.kernel_name,
  };
}

function wireControlResult(r: ControlResult): Record<string, unknown> {
  if (!r.ok) return { ok: false, code: r.error.code, message: r.error.message };
  const v = r.value;
  return {
    ok: true,
    route: v.route,
    ...(v.last_activity === undefined ? {} : { last_activity: v.last_activity }),
    ...(v.execution_state === undefined ? {} : { execution_state: v.execution_state }),
  };
}

/** Dispatches decoded lines to the listener and turns its events into notifications. */
export class ServeDispatcher {
  readonly #listener: ResponseListener;
  readonly #host: DispatcherHost;
  readonly #methods: ReadonlyMap<string, Handler>;
  /** Abort handles of registrations still pending, for `cancel`. */
  readonly #pending = new Map<string, AbortController>();
  /** Asynchronous answers and terminal notifications not yet written. */
  readonly #outstanding = new Set<Promise<void>>();
  #inFlight = 0;
  #closing = false;

  constructor(listener: ResponseListener, host: DispatcherHost) {
    this.#listener = listener;
    this.#host = host;
    this.#methods = new Map<string, Handler>([
      ['register', (p) => this.#register(p)],
      ['cancel', (p) => this.#cancel(p)],
      ['control', (p) => this.#control(p)],
      ['adopt', (p) => this.#adopt(p)],
      ['forget', (p) => ({ forgotten: this.#listener.forget(kernelIdParams(p)) })],
      ['controlTarget', (p) => this.#controlTarget(p)],
      ['stats', (p) => this.#stats(p)],
      ['close', (p) => this.#close(p)],
    ]);
    listener.on('kernel-exit', (e) => {
      this.#notify('kernel-exit', { kernel_id: e.kernelId, exit_code: e.exitCode, signal: e.signal });
    });
    listener.on('response-rejected', (e) => {
      this.#notify('response-rejected', {
        code: e.code,
        peer: e.peer,
        protocol: e.protocol,
        kernel_id: e.kernelId ?? null,
        message: e.message,
      });
    });
  }

  /** Requests whose answer is still being worked out (control requests). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** From now on every request is answered with the `CLOSING` error. */
  stopAccepting(): void {
    this.#closing = true;
  }

  /** Resolves once every pending answer and terminal notification is written. */
  async drained(): Promise<void> {
    while (this.#outstanding.size > 0) await Promise.allSettled([...this.#outstanding]);
  }

  /** Answers an over-long line (already discarded). */
  overlong(seen: number, limit: number): void {
    this.#host.log.warn({ bytes_seen: seen, limit }, 'over-long request line discarded');
    this.#send(errorLine(null, rpcError(RPC_ERRORS.INVALID_REQUEST, `invalid request: line longer than ${limit} bytes; discarded`)));
  }

  /** Handles one line from the host. Never throws. */
  line(bytes: Buffer): void {
    if (isBlank(bytes)) return;
    const request = decodeRequest(bytes);
    if (request.kind === 'invalid') {
      this.#host.log.warn({ rpc_code: request.error.code }, 'invalid request line');
      this.#send(errorLine(request.id, request.error));
      return;
    }
    const { id, notification, method } = request;
    const answer = (result: unknown): void => {
      if (!notification) this.#send(resultLine(id, result));
    };
    const refuse = (error: RpcError): void => {
      this.#host.log.warn({ method: method.slice(0, 64), rpc_code: error.code, code: error.data?.code, notification }, 'request refused');
      if (!notification) this.#send(errorLine(id, error));
    };
    if (this.#closing) return refuse(rpcError(RPC_ERRORS.CLOSING, 'serve is closing; no more requests', 'GL_ERR_LISTENER_CLOSED'));
    const handler = this.#methods.get(method);
    if (handler === undefined) return refuse(rpcError(RPC_ERRORS.METHOD_NOT_FOUND, `method not found: '${method.slice(0, 64)}'`));
    let outcome: unknown;
    try {
      outcome = handler(request.params);
    } catch (error) {
      return refuse(this.#toRpcError(error, method));
    }
    if (!(outcome instanceof Promise)) return answer(outcome);
    this.#inFlight++;
    this.#track(
      outcome
        .then(answer, (error: unknown) => refuse(this.#toRpcError(error, method)))
        .finally(() => {
          this.#inFlight--;
          this.#host.onAnswered();
        }),
    );
  }

  #toRpcError(error: unknown, method: string): RpcError {
    if (error instanceof ParamsError) return rpcError(RPC_ERRORS.INVALID_PARAMS, `invalid params: ${error.message}`, error.glCode);
    // The library throws GatewayError only for a faulty call: the params were wrong.
    if (error instanceof GatewayError) return rpcError(RPC_ERRORS.INVALID_PARAMS, `invalid params: ${error.message}`, error.code);
    this.#host.log.error({ err: error, method }, 'method failed unexpectedly');
    return rpcError(RPC_ERRORS.INTERNAL_ERROR, 'internal error');
  }

  #register(params: unknown): unknown {
    const p = registerParams(params);
    const abort = new AbortController();
    const launch = this.#listener.register(p.kernelId, {
      signal: abort.signal,
      ...(p.portRange === undefined ? {} : { portRange: p.portRange }),
      ...(p.timeoutMs === undefined ? {} : { timeoutMs: p.timeoutMs }),
      ...(p.protocol === undefined ? {} : { protocol: p.protocol }),
      ...(p.transport === undefined ? {} : { transport: p.transport }),
    });
    this.#pending.set(p.kernelId, abort);
    const timeoutMs = p.timeoutMs ?? this.#listener.defaultTimeoutMs;
    // The promise settles at the earliest in a later microtask, after the
    // result below is written: the host never hears of a registration's end
    // before its start.
    this.#track(
      launch.response
        .then(
          (response) => this.#accepted(response),
          (error: unknown) => this.#ended(p.kernelId, timeoutMs, error),
        )
        .finally(() => {
          if (this.#pending.get(p.kernelId) === abort) this.#pending.delete(p.kernelId);
        }),
    );
    return {
      kernel_id: launch.kernelId,
      protocol: launch.protocol,
      transport: launch.transport,
      response_address: launch.responseAddress,
      public_key: launch.publicKey,
      port_range: launch.portRange,
      timeout_ms: timeoutMs,
      env: { ...launch.env },
      argv: [...launch.argv],
    };
  }

  #accepted(r: LaunchResponse): void {
    this.#notify('connection-info', {
      kernel_id: r.kernelId,
      protocol: r.protocol,
      transport: r.transport,
      connection_info: wireConnectionInfo(r.connectionInfo),
      comm_port: r.commPort,
      pid: r.pid,
      pgid: r.pgid,
      mode: r.mode,
      control_target: wireTarget(r.control),
    });
  }

  #ended(kernelId: string, timeoutMs: number, error: unknown): void {
    const e = error instanceof GatewayError ? error : new GatewayError('GL_ERR_LISTENER_CLOSED', String(error));
    if (e.code === 'GL_ERR_KERNEL_FAILED') {
      const d = e.details;
      this.#notify('launch-failed', {
        kernel_id: kernelId,
        exit_code: typeof d.exit_code === 'number' ? d.exit_code : null,
        signal: typeof d.signal === 'string' ? d.signal : null,
        stderr_tail: typeof d.stderr_tail === 'string' ? d.stderr_tail : '',
        message: e.message,
      });
    } else if (e.code === 'GL_ERR_REGISTRATION_TIMEOUT') {
      this.#notify('launch-timeout', { kernel_id: kernelId, timeout_ms: timeoutMs });
    } else {
      this.#notify('registration-ended', { kernel_id: kernelId, code: e.code, message: e.message });
    }
  }

  #cancel(params: unknown): unknown {
    const id = kernelIdParams(params);
    const abort = this.#pending.get(id);
    if (abort === undefined || !this.#listener.isPending(id)) return { cancelled: false };
    this.#pending.delete(id);
    abort.abort(new Error('cancelled by the host'));
    return { cancelled: true };
  }

  async #control(params: unknown): Promise<unknown> {
    const p = controlParams(params);
    const control = this.#listener.control(p.kernelId);
    const a = p.action;
    const result =
      'interrupt' in a
        ? control.interrupt()
        : 'shutdown' in a
          ? control.shutdown()
          : 'restart' in a
            ? control.restart()
            : control.signal(a.signal);
    return wireControlResult(await result);
  }

  #adopt(params: unknown): unknown {
    this.#listener.adopt(adoptParams(params));
    return { ok: true };
  }

  #controlTarget(params: unknown): unknown {
    const target = this.#listener.controlTarget(kernelIdParams(params));
    return { control_target: target === undefined ? null : wireTarget(target) };
  }

  #stats(params: unknown): unknown {
    emptyParams(params);
    const s = this.#listener.stats();
    return {
      pending_registrations: s.pendingRegistrations,
      unauthenticated_connections: s.unauthenticatedConnections,
      sessions: s.sessions,
      web_sockets: s.webSockets,
    };
  }

  #close(params: unknown): unknown {
    emptyParams(params);
    this.#closing = true;
    // After the result is written: the host reads `null`, then the notifications of the close.
    queueMicrotask(() => this.#host.onClose());
    return null;
  }

  #notify(method: string, params: unknown): void {
    this.#send(notificationLine(method, params));
  }

  #send(line: string): void {
    this.#host.write(line);
  }

  #track(p: Promise<void>): void {
    const tracked = p.catch((error: unknown) => this.#host.log.error({ err: error }, 'writing an answer failed'));
    this.#outstanding.add(tracked);
    void tracked.finally(() => this.#outstanding.delete(tracked));
  }
}
