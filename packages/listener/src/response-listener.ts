/**
 * The response listener a provisioner host embeds (design §1, §4–§6): one
 * port, a key pair, the registry of expected kernels, and control of the
 * launched ones.
 *
 * Embedding contract: nothing arriving from the network throws into host code
 * or emits `'error'`; a registration's failure reaches the host only through
 * that registration's promise; control calls resolve with typed results; the
 * idle listener runs no timer (per-connection deadlines exist only while a
 * connection is open, and each registration has its own timeout).
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { type AddressInfo, type Server, type Socket, createServer } from 'node:net';
import { pino } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  type BoxKeyPair,
  type ConnectionInfo,
  type ControlAction,
  type ErrorCode,
  type LauncherEvent,
  type Logger,
  type PortMode,
  type PortRange,
  type RedactedConnectionInfo,
  type V1KeyPair,
  GatewayError,
  assertKernelId,
  createLogger,
  decodeBoxPublicKey,
  fail,
  formatPortRange,
  generateKeyPair,
  generateV1KeyPair,
  isValidHost,
  parsePortRange,
  redactConnectionInfo,
  sealControlRequest,
  toBase64,
  openReattach,
  parseResponseEnvelope,
} from '@gateway-launchers/common';
import { type ControlResult, type KernelControl, createKernelControl, sendCommPortRequest, v1Message } from './control-client.js';
import { type InboundProtocol, type InboundRefusal, type InboundSink, InboundConnection, normalizeAddress } from './inbound-connection.js';
import { type PendingLaunch, buildLaunchParameters } from './launch-parameters.js';
import {
  type ListenerLimits,
  type ResolvedListenerOptions,
  type ResponseListenerOptions,
  candidatePorts,
  hostForAddress,
  isWildcardHost,
  resolveListenerOptions,
} from './listener-options.js';
import { ConnectionSlots, addressKey } from '@gateway-launchers/common/connection-slots';
import { KernelSession } from './kernel-session.js';
import { KernelInfoChecker } from './kernel-address-policy.js';
import { type ControlTarget, type LaunchResponse, type ProtocolVersion, type ResponseTransport, Registration } from './registration.js';
import { type ValidResponse, checkV1Response, checkV2Response } from './response-validator.js';
import { TypedEmitter } from './typed-emitter.js';
import { SlicedWorkQueue } from './work-queue.js';

/** Options of {@link ResponseListener.register}. */
export interface RegisterOptions {
  /** Port range the kernel's ports must lie in: `lo..hi` or a parsed range. Default `0..0` (any). */
  readonly portRange?: string | PortRange;
  /** Time to wait for a valid response, in ms. Default: the listener's `defaultTimeoutMs`. */
  readonly timeoutMs?: number;
  /** Aborting it removes the registration and rejects with `GL_ERR_REGISTRATION_ABORTED`. */
  readonly signal?: AbortSignal;
  /**
   * 2 (default): tweetnacl envelopes and a one-time launch token. 1: Gateway
   * Provisioners' RSA/AES payload, for its Python/R/Scala launchers; only on a
   * listener started with `legacy: true`.
   */
  readonly protocol?: ProtocolVersion;
  /**
   * `tcp` (default): `host:port`, one line each way. `ws`: `ws://host:port/`;
   * the launcher keeps the WebSocket open for control and exit events (v2 only).
   */
  readonly transport?: ResponseTransport;
}

/** Payload of the `registered` event. */
export interface RegisteredEvent {
  readonly kernelId: string;
  readonly protocol: ProtocolVersion;
  readonly transport: ResponseTransport;
  readonly portRange: string;
  readonly timeoutMs: number;
}

/** Payload of the `connection-info` event: an accepted response, key redacted. */
export interface ConnectionInfoEvent {
  readonly kernelId: string;
  readonly protocol: ProtocolVersion;
  readonly transport: ResponseTransport;
  readonly peer: string;
  /** The validated connection info with `key` replaced by `[Redacted]` (the promise carries the key). */
  readonly connectionInfo: RedactedConnectionInfo;
  readonly commPort: number;
  readonly pid: number | null;
  readonly pgid: number | null;
  readonly mode: PortMode | null;
}

/** Payload of the `response-rejected` event. Holds no secret. */
export interface ResponseRejectedEvent {
  /** Why: a `GL_ERR_…` code, the same the peer was answered with. */
  readonly code: ErrorCode;
  /** `address:port` of the peer. */
  readonly peer: string;
  /** What the peer spoke, as sniffed. */
  readonly protocol: InboundProtocol;
  /** The kernel id the response named, when it named a well-formed one. */
  readonly kernelId: string | undefined;
  /** Human-readable reason. */
  readonly message: string;
}

/** Payload of the `launch-failed` event (the launcher sent a failure response). */
export interface LaunchFailedEvent {
  readonly kernelId: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
}

/** Payload of the `launch-timeout` event. */
export interface LaunchTimeoutEvent {
  readonly kernelId: string;
  readonly timeoutMs: number;
}

/** Payload of the `kernel-exit` event (reported by the launcher over its WebSocket). */
export interface KernelExitEvent {
  readonly kernelId: string;
  readonly exitCode: number | null;
  readonly signal: string | null;
}

/** Every event of {@link ResponseListener}. There is no `'error'` event. */
export interface ResponseListenerEvents {
  registered: RegisteredEvent;
  'connection-info': ConnectionInfoEvent;
  'response-rejected': ResponseRejectedEvent;
  'launch-failed': LaunchFailedEvent;
  'launch-timeout': LaunchTimeoutEvent;
  'kernel-exit': KernelExitEvent;
}

/** Counters for monitoring and leak checks. */
export interface ListenerStats {
  /** Registrations waiting for a response. */
  readonly pendingRegistrations: number;
  /** Open connections that have not delivered an accepted response. */
  readonly unauthenticatedConnections: number;
  /** Accepted kernels the listener can control. */
  readonly sessions: number;
  /** Of those, how many have their launcher's WebSocket open. */
  readonly webSockets: number;
}

/** The bound address of a listener. */
export interface ListenerAddress {
  readonly host: string;
  readonly port: number;
  readonly family: string;
}

function defaultLogger(): Logger {
  // Asynchronous writes: a full stderr pipe must not block the host's event loop.
  return createLogger({ name: 'gateway-listener', destination: pino.destination({ fd: 2, sync: false }) });
}

function listenOnce(host: string, port: number, backlog: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer({ allowHalfOpen: true, noDelay: true });
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen({ host, port, backlog }, () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}

async function bind(resolved: ResolvedListenerOptions, log: Logger): Promise<Server> {
  const ports = candidatePorts(resolved.port, resolved.portRetries);
  let last: unknown;
  for (const port of ports) {
    try {
      return await listenOnce(resolved.host, port, resolved.limits.backlog);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      last = error;
      if (code !== 'EADDRINUSE' && code !== 'EACCES') {
        throw new GatewayError('GL_ERR_BIND_FAILED', `could not bind ${hostForAddress(resolved.host)}:${port} (${code ?? 'error'})`, {
          cause: error,
          details: { host: resolved.host, port },
        });
      }
      log.info({ port, errno: code }, 'response port unavailable, trying another');
    }
  }
  throw new GatewayError(
    'GL_ERR_BIND_FAILED',
    `no response port could be bound after ${ports.length} attempts starting at ${resolved.port}`,
    {
      cause: last,
      details: { host: resolved.host, port: resolved.port, attempts: ports.length },
    },
  );
}

/**
 * Listens for kernel launchers' responses, validates them against the
 * registrations, and controls the launched kernels. Create with {@link ResponseListener.start}.
 */
export class ResponseListener extends TypedEmitter<ResponseListenerEvents> {
  /** The listener's X25519 public key, base64 (what v2 launchers get as `KERNEL_PUBLIC_KEY`). */
  readonly publicKey: string;
  /** With `legacy`: the RSA public key in Gateway Provisioners' form (base64 DER SPKI). */
  readonly v1PublicKey: string | undefined;
  /** True when v1 payloads are accepted (for `protocol: 1` registrations). */
  readonly legacy: boolean;
  /** Limits in force. */
  readonly limits: ListenerLimits;
  /** Timeout of registrations that do not give their own, in ms. */
  readonly defaultTimeoutMs: number;

  readonly #keyPair: BoxKeyPair;
  readonly #v1KeyPair: V1KeyPair | undefined;
  readonly #options: ResolvedListenerOptions;
  readonly #server: Server;
  readonly #wss: WebSocketServer;
  readonly #log: Logger;
  readonly #registrations = new Map<string, Registration>();
  readonly #sessions = new Map<string, KernelSession>();
  readonly #inbound: ConnectionSlots<InboundConnection>;
  readonly #address: ListenerAddress;
  readonly #sink: InboundSink;
  readonly #work: SlicedWorkQueue;
  #closing: Promise<void> | undefined;

  /**
   * Binds the response port and returns a running listener. Rejects with
   * `GL_ERR_BIND_FAILED` when no allowed port can be bound, or `GL_ERR_USAGE`
   * for a malformed option or `GP_*` environment variable.
   */
  static async start(options: ResponseListenerOptions = {}): Promise<ResponseListener> {
    const resolved = resolveListenerOptions(options);
    const log = options.logger ?? defaultLogger();
    const keyPair = options.keyPair ?? generateKeyPair();
    if (keyPair.publicKey.length !== 32 || keyPair.secretKey.length !== 32) {
      throw new GatewayError('GL_ERR_USAGE', 'keyPair must hold a 32-byte X25519 public and secret key', {
        details: { variable: 'keyPair' },
      });
    }
    const v1KeyPair = resolved.legacy ? (options.v1KeyPair ?? (await generateV1KeyPair(resolved.v1KeyBits))) : undefined;
    const server = await bind(resolved, log);
    return new ResponseListener(resolved, keyPair, v1KeyPair, server, log);
  }

  private constructor(
    resolved: ResolvedListenerOptions,
    keyPair: BoxKeyPair,
    v1KeyPair: V1KeyPair | undefined,
    server: Server,
    log: Logger,
  ) {
    super((event, error) => log.error({ err: error, event }, 'a host event listener threw; ignored'));
    this.#options = resolved;
    this.#keyPair = keyPair;
    this.#v1KeyPair = v1KeyPair;
    this.#server = server;
    this.#log = log;
    this.publicKey = toBase64(keyPair.publicKey);
    this.v1PublicKey = v1KeyPair?.publicKeyBase64;
    this.legacy = resolved.legacy;
    this.limits = resolved.limits;
    this.defaultTimeoutMs = resolved.defaultTimeoutMs;
    const a = server.address() as AddressInfo;
    this.#address = Object.freeze({ host: a.address, port: a.port, family: a.family });
    this.#inbound = new ConnectionSlots(resolved.limits.maxPendingConnections, resolved.limits.maxConnectionsPerAddress);
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: resolved.limits.maxResponseBytes,
      perMessageDeflate: false,
      clientTracking: false,
      // ws ≥ 8.19: bound the closing handshake a peer may never finish.
      ...({ closeTimeout: 2_000 } as object),
    });
    this.#wss.on('wsClientError', (error: Error, socket: unknown) => {
      InboundConnection.of(socket)?.refuseUpgrade(error.message);
    });
    this.#wss.on('error', (error: Error) => log.error({ err: error }, 'WebSocket server error'));
    const v1 = v1KeyPair;
    const infoChecker = new KernelInfoChecker(resolved.kernelInfoPolicy);
    this.#work = new SlicedWorkQueue(resolved.limits.workSliceMs, (error) =>
      log.error({ err: error }, 'response verification failed unexpectedly'),
    );
    this.#sink = {
      legacy: v1 !== undefined,
      limits: resolved.limits,
      wss: this.#wss,
      schedule: (job, peer) => this.#work.push(job, peer),
      checkV2: (body) => checkV2Response(body, keyPair.secretKey, this.#view),
      checkV1: (body) =>
        v1 === undefined
          ? { ok: false, error: new GatewayError('GL_ERR_V1_NOT_ENABLED', 'v1 payloads are not accepted'), kernelId: undefined }
          : checkV1Response(body, v1, this.#view),
      policy: (valid, peerAddress) => {
        if (valid.kind === 'failed') return undefined; // a failure response reports no kernel
        const info = valid.connectionInfo;
        return infoChecker.check(isWildcardHost(info.ip) ? { ...info, ip: peerAddress } : info, peerAddress);
      },
      commit: (valid, ctx) => this.#commit(valid, ctx),
      reattach: (body, ws) => this.#reattach(body, ws),
      refused: (refusal) => this.#refused(refusal),
      released: (conn) => {
        this.#inbound.release(conn);
      },
    };
    server.on('connection', this.#onConnection);
    server.on('error', (error: Error) => log.error({ err: error }, 'response server error'));
    log.info(
      { host: this.#address.host, port: this.#address.port, response_address: this.responseAddress, legacy: this.legacy },
      'response listener started',
    );
  }

  /** The bound address (`host` may be a wildcard). */
  get address(): ListenerAddress {
    return this.#address;
  }

  /** `host:port` launchers connect to (TCP form; IPv6 bracketed). */
  get responseAddress(): string {
    return `${hostForAddress(this.#options.advertisedHost)}:${this.#address.port}`;
  }

  /** `ws://host:port/` launchers connect to with `transport: 'ws'`. */
  get webSocketUrl(): string {
    return `ws://${this.responseAddress}/`;
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * Registers a kernel that is about to be launched and returns its launch
   * parameters with the promise of its validated response.
   *
   * Throws `GatewayError` only for a faulty call (`GL_ERR_KERNEL_ID_INVALID`,
   * `GL_ERR_PORT_RANGE_*`, `GL_ERR_ALREADY_REGISTERED` while the id is pending,
   * `GL_ERR_V1_NOT_ENABLED` for `protocol: 1` without `legacy`, `GL_ERR_USAGE`).
   * Everything that happens later (timeout, abort, close, a failure response)
   * rejects the returned `response` promise instead. On a closed listener the
   * promise is already rejected with `GL_ERR_LISTENER_CLOSED`.
   */
  register(kernelId: string, options: RegisterOptions = {}): PendingLaunch {
    assertKernelId(kernelId);
    const protocol = options.protocol ?? 2;
    if (protocol !== 1 && protocol !== 2)
      throw new GatewayError('GL_ERR_USAGE', `protocol must be 1 or 2, got ${String(protocol)}`, { details: { variable: 'protocol' } });
    if (protocol === 1 && this.#v1KeyPair === undefined) {
      throw new GatewayError('GL_ERR_V1_NOT_ENABLED', 'protocol 1 registrations need a listener started with legacy: true', {
        details: { kernel_id: kernelId },
      });
    }
    const transport = options.transport ?? 'tcp';
    if (transport !== 'tcp' && transport !== 'ws')
      throw new GatewayError('GL_ERR_USAGE', `transport must be 'tcp' or 'ws'`, { details: { variable: 'transport' } });
    if (protocol === 1 && transport === 'ws')
      throw new GatewayError('GL_ERR_USAGE', 'v1 launchers speak TCP only', { details: { variable: 'transport' } });
    const range =
      options.portRange === undefined ? '' : typeof options.portRange === 'string' ? options.portRange : formatPortRange(options.portRange);
    const portRange = parsePortRange(range, { minSize: this.#options.minPortRangeSize });
    const timeoutMs = options.timeoutMs ?? this.#options.defaultTimeoutMs;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > 2 ** 31 - 1) {
      throw new GatewayError('GL_ERR_USAGE', `timeoutMs must be a positive number of milliseconds, got ${String(timeoutMs)}`, {
        details: { variable: 'timeoutMs' },
      });
    }
    if (this.#registrations.has(kernelId)) {
      throw new GatewayError('GL_ERR_ALREADY_REGISTERED', `kernel ${kernelId} already has a pending registration`, {
        details: { kernel_id: kernelId },
      });
    }
    const launchToken = protocol === 2 ? randomBytes(32).toString('base64url') : undefined;
    const params = buildLaunchParameters({
      kernelId,
      protocol,
      transport,
      responseAddress: transport === 'ws' ? this.webSocketUrl : this.responseAddress,
      publicKey: protocol === 2 ? this.publicKey : (this.v1PublicKey as string),
      portRange: formatPortRange(portRange),
      launchToken,
    });
    const registration = new Registration({
      kernelId,
      protocol,
      transport,
      portRange,
      timeoutMs,
      ...(launchToken === undefined ? {} : { token: launchToken }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      onSettled: (r) => this.#onSettled(r),
    });
    if (this.closed) {
      registration.close();
      return { ...params, response: registration.response };
    }
    this.#registrations.set(kernelId, registration);
    this.#log.debug({ kernel_id: kernelId, protocol, transport, port_range: params.portRange, timeout_ms: timeoutMs }, 'kernel registered');
    this.emit('registered', { kernelId, protocol, transport, portRange: params.portRange, timeoutMs });
    return { ...params, response: registration.response };
  }

  /** True while `kernelId` waits for its response. */
  isPending(kernelId: string): boolean {
    return this.#registrations.get(kernelId)?.pending === true;
  }

  /**
   * Control of `kernelId`. The route is chosen at each call: the launcher's
   * open WebSocket, else its comm port. Methods resolve with typed results and
   * never reject.
   */
  control(kernelId: string): KernelControl {
    return createKernelControl(kernelId, (action) => this.#sendControl(kernelId, action));
  }

  /** The persistable control target of an accepted kernel, if known. */
  controlTarget(kernelId: string): ControlTarget | undefined {
    return this.#sessions.get(kernelId)?.target;
  }

  /**
   * Takes control of a launcher accepted by an earlier run of the host (with
   * the same, persisted key pair): control requests go to its comm port.
   * Throws `GL_ERR_USAGE` for a malformed target.
   */
  adopt(target: ControlTarget): KernelControl {
    assertKernelId(target.kernelId);
    const bad = (what: string): GatewayError =>
      new GatewayError('GL_ERR_USAGE', `control target: ${what}`, { details: { kernel_id: target.kernelId } });
    if (target.protocol !== 1 && target.protocol !== 2) throw bad('protocol must be 1 or 2');
    if (!isValidHost(target.host)) throw bad('host is not an address');
    if (!Number.isInteger(target.commPort) || target.commPort < 1 || target.commPort > 65535) throw bad('commPort is not a port');
    let epk: Uint8Array | undefined;
    if (target.protocol === 2) {
      epk = target.launcherPublicKey === undefined ? undefined : decodeBoxPublicKey(target.launcherPublicKey);
      if (epk === undefined) throw bad('launcherPublicKey is not a base64 32-byte key');
    }
    this.#sessions.get(target.kernelId)?.close('replaced by an adopted target');
    this.#sessions.set(
      target.kernelId,
      new KernelSession({ target, launcherPublicKey: epk, mark: undefined, logger: this.#log.child({ kernel_id: target.kernelId }) }),
    );
    return this.control(target.kernelId);
  }

  /** Drops what the listener keeps about an accepted kernel (closing its WebSocket). */
  forget(kernelId: string): boolean {
    const session = this.#sessions.get(kernelId);
    if (session === undefined) return false;
    this.#sessions.delete(kernelId);
    session.close('forgotten');
    return true;
  }

  /** Counters for monitoring and leak checks. */
  stats(): ListenerStats {
    let webSockets = 0;
    for (const s of this.#sessions.values()) if (s.hasWebSocket) webSockets++;
    return {
      pendingRegistrations: this.#registrations.size,
      unauthenticatedConnections: this.#inbound.size,
      sessions: this.#sessions.size,
      webSockets,
    };
  }

  /**
   * Stops accepting, rejects pending registrations with `GL_ERR_LISTENER_CLOSED`,
   * closes every connection and WebSocket. Idempotent; resolves when the port is released.
   */
  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closing = new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
    });
    this.#work.clear();
    for (const r of [...this.#registrations.values()]) r.close();
    for (const c of [...this.#inbound.all()]) c.destroy();
    for (const s of this.#sessions.values()) s.close('listener closed');
    this.#sessions.clear();
    this.#log.info('response listener closed');
    return this.#closing;
  }

  readonly #onConnection = (socket: Socket): void => {
    socket.on('error', () => {});
    if (this.closed) {
      socket.destroy();
      return;
    }
    const address = normalizeAddress(socket.remoteAddress);
    // At a cap, the peer holding the most slots gives one up (at the per-address
    // cap: the newcomer's own address), so a flood from elsewhere cannot keep a
    // launcher out; see ConnectionSlots.
    if (!this.#inbound.makeRoom(addressKey(address))) {
      // Nothing may be closed (every slot is in its first turn or being verified): refused at once, before reading a byte.
      const peer = `${address.includes(':') ? `[${address}]` : address}:${socket.remotePort ?? 0}`;
      socket.resume(); // discard, so that closing does not reset the answer away
      socket.end(`{"ok":false,"error":"GL_ERR_TOO_MANY_CONNECTIONS"}\n`, () => socket.destroy());
      this.#refused({
        code: 'GL_ERR_TOO_MANY_CONNECTIONS',
        message: `no room among ${this.limits.maxPendingConnections} unauthenticated connections (${this.limits.maxConnectionsPerAddress} per address)`,
        peer,
        protocol: 'unknown',
        kernelId: undefined,
      });
      return;
    }
    this.#inbound.add(new InboundConnection(socket, this.#sink));
  };

  readonly #view = {
    pending: (kernelId: string): Registration | undefined => {
      const r = this.#registrations.get(kernelId);
      return r?.pending === true ? r : undefined;
    },
    acceptedMark: (kernelId: string): Buffer | undefined => this.#sessions.get(kernelId)?.mark,
  };

  #refused(refusal: InboundRefusal): void {
    const fields = { kernel_id: refusal.kernelId, code: refusal.code, peer: refusal.peer, protocol: refusal.protocol };
    // A refusal naming a registered kernel is likely a misconfigured launcher:
    // worth a warning. Noise from scanners and floods stays at debug.
    if (refusal.kernelId !== undefined && this.#registrations.has(refusal.kernelId)) this.#log.warn(fields, 'response refused');
    else this.#log.debug(fields, 'connection refused');
    this.emit('response-rejected', {
      code: refusal.code,
      peer: refusal.peer,
      protocol: refusal.protocol,
      kernelId: refusal.kernelId,
      message: refusal.message,
    });
  }

  #reattach(body: Buffer, ws: WebSocket): boolean {
    const env = parseResponseEnvelope(body);
    if (!env.ok) return false;
    const session = this.#sessions.get(env.value.kernelId);
    if (session === undefined || session.launcherPublicKey === undefined) return false;
    const opened = openReattach(env.value, session.launcherPublicKey, this.#keyPair.secretKey);
    if (!opened.ok || !session.acceptReattachSeq(opened.value.seq)) return false;
    // Only the launcher holds the key this opened with: its new socket replaces
    // an old one that may still look open (half-open after a network drop).
    session.dropWebSocket("replaced by the launcher's re-attach");
    session.attachWebSocket(ws, this.#keyPair.secretKey, this.limits.maxControlReplyBytes, {
      onEvent: (s, event) => this.#onLauncherEvent(s, event),
      onWebSocketClosed: (s) => this.#onWebSocketClosed(s),
    });
    this.#log.info({ kernel_id: session.kernelId }, 'launcher WebSocket re-attached');
    return true;
  }

  #commit(valid: ValidResponse, ctx: { peer: string; peerAddress: string; transport: ResponseTransport; ws: WebSocket | undefined }): void {
    const reg = valid.registration;
    const kernelId = reg.kernelId;
    if (valid.kind === 'failed') {
      const f = valid.failure;
      reg.fail(f);
      ctx.ws?.close(1000, 'failure received');
      this.#log.warn(
        { kernel_id: kernelId, exit_code: f.exit_code, signal: f.signal, stderr_bytes: f.stderr_tail.length, peer: ctx.peer },
        'launcher reported kernel failure',
      );
      this.emit('launch-failed', { kernelId, exitCode: f.exit_code, signal: f.signal });
      return;
    }
    const reported = valid.connectionInfo;
    // GP's launchers report 0.0.0.0; the kernel is where the response came from.
    const connectionInfo: ConnectionInfo = isWildcardHost(reported.ip) ? { ...reported, ip: ctx.peerAddress } : reported;
    const commPort = valid.commPort;
    const target: ControlTarget = {
      kernelId,
      protocol: valid.protocol,
      host: connectionInfo.ip,
      commPort,
      ...(valid.launcherPublicKey === undefined ? {} : { launcherPublicKey: toBase64(valid.launcherPublicKey) }),
    };
    this.#sessions.get(kernelId)?.close('replaced by a new launch');
    const session = new KernelSession({
      target,
      launcherPublicKey: valid.launcherPublicKey,
      mark: valid.mark,
      logger: this.#log.child({ kernel_id: kernelId }),
    });
    this.#sessions.set(kernelId, session);
    if (ctx.ws !== undefined) {
      session.attachWebSocket(ctx.ws, this.#keyPair.secretKey, this.limits.maxControlReplyBytes, {
        onEvent: (s, event) => this.#onLauncherEvent(s, event),
        onWebSocketClosed: (s) => this.#onWebSocketClosed(s),
      });
    }
    const launch: LaunchResponse = {
      kernelId,
      protocol: valid.protocol,
      transport: ctx.transport,
      connectionInfo,
      commPort,
      pid: valid.pid,
      pgid: valid.pgid,
      mode: valid.mode,
      launcherVersion: valid.launcherVersion,
      peer: ctx.peer,
      control: target,
    };
    reg.accept(launch);
    // Redacted here, not left to the logger: a host's own logger may have no redaction.
    this.#log.info(
      {
        kernel_id: kernelId,
        protocol: valid.protocol,
        transport: ctx.transport,
        peer: ctx.peer,
        conn_info: redactConnectionInfo(connectionInfo),
        comm_port: commPort,
      },
      'connection info accepted',
    );
    this.emit('connection-info', {
      kernelId,
      protocol: valid.protocol,
      transport: ctx.transport,
      peer: ctx.peer,
      connectionInfo: redactConnectionInfo(connectionInfo),
      commPort,
      pid: valid.pid,
      pgid: valid.pgid,
      mode: valid.mode,
    });
  }

  #onSettled(r: Registration): void {
    if (this.#registrations.get(r.kernelId) === r) this.#registrations.delete(r.kernelId);
    if (r.state === 'timed-out') {
      this.#log.warn({ kernel_id: r.kernelId, timeout_ms: r.timeoutMs }, 'no valid response before the registration timeout');
      this.emit('launch-timeout', { kernelId: r.kernelId, timeoutMs: r.timeoutMs });
    } else if (r.state === 'aborted') {
      this.#log.info({ kernel_id: r.kernelId }, 'registration aborted');
    }
  }

  #onLauncherEvent(session: KernelSession, event: LauncherEvent): void {
    if (event.event !== 'kernel_exit') return;
    session.state = 'exited';
    this.#log.info({ kernel_id: session.kernelId, exit_code: event.exit_code, signal: event.signal }, 'kernel exited');
    this.emit('kernel-exit', { kernelId: session.kernelId, exitCode: event.exit_code, signal: event.signal });
  }

  #onWebSocketClosed(session: KernelSession): void {
    this.#log.debug({ kernel_id: session.kernelId, state: session.state }, 'launcher WebSocket closed');
    if (session.state !== 'running' && this.#sessions.get(session.kernelId) === session) this.#sessions.delete(session.kernelId);
  }

  #sendControl(kernelId: string, action: ControlAction): Promise<ControlResult> {
    if (this.closed) return Promise.resolve(fail('GL_ERR_LISTENER_CLOSED', 'the listener is closed', { kernel_id: kernelId }));
    const session = this.#sessions.get(kernelId);
    if (session === undefined)
      return Promise.resolve(fail('GL_ERR_CONTROL_UNAVAILABLE', `no launcher known for kernel ${kernelId}`, { kernel_id: kernelId }));
    // One request at a time per launcher, each sealed when it goes out: the
    // launcher refuses a seq lower than one it has seen, so two requests on
    // two comm-port connections must not overtake each other.
    return session.serialize(() => this.#sendControlNow(session, kernelId, action));
  }

  async #sendControlNow(session: KernelSession, kernelId: string, action: ControlAction): Promise<ControlResult> {
    const limits = this.limits;
    let result: ControlResult;
    if (session.protocol === 1) {
      const message = v1Message(action);
      if (!message.ok) return message;
      result = await sendCommPortRequest(session.host, session.commPort, message.value, {
        protocol: 1,
        timeoutMs: limits.controlTimeoutMs,
        maxReplyBytes: limits.maxControlReplyBytes,
      });
    } else {
      const epk = session.launcherPublicKey as Uint8Array;
      const seq = session.seq.next();
      const text = sealControlRequest({ kernel_id: kernelId, seq, request: action }, epk, this.#keyPair.secretKey);
      const binding = { kernelId, seq, launcherPublicKey: epk, listenerSecretKey: this.#keyPair.secretKey };
      result = session.hasWebSocket
        ? await session.requestOverWebSocket(text, seq, limits.controlTimeoutMs)
        : await sendCommPortRequest(session.host, session.commPort, text, {
            protocol: 2,
            timeoutMs: limits.controlTimeoutMs,
            maxReplyBytes: limits.maxControlReplyBytes,
            binding,
          });
    }
    const name = Object.keys(action)[0];
    if (result.ok) {
      this.#log.info({ kernel_id: kernelId, action: name, route: result.value.route }, 'control request done');
      if ('shutdown' in action && session.state === 'running') {
        session.state = 'shutting-down';
        if (!session.hasWebSocket && this.#sessions.get(kernelId) === session) this.#sessions.delete(kernelId);
      }
    } else {
      this.#log.warn(
        { kernel_id: kernelId, action: name, code: result.error.code, details: result.error.details },
        'control request failed',
      );
    }
    return result;
  }
}
