/**
 * `@gateway-launchers/listener`: the response listener a provisioner host
 * embeds to launch Jupyter kernels far away and get them back safely.
 *
 * ```ts
 * const listener = await ResponseListener.start({ host: '0.0.0.0', port: 8877 });
 * const launch = listener.register(kernelId, { portRange: '40000..41000', timeoutMs: 60_000 });
 * await startContainer({ env: launch.env });            // your resource manager
 * const { connectionInfo } = await launch.response;      // validated, or a typed rejection
 * await listener.control(kernelId).interrupt();          // { ok: true, value } | { ok: false, error }
 * ```
 *
 * @packageDocumentation
 */
export {
  ResponseListener,
  type RegisterOptions,
  type ResponseListenerEvents,
  type RegisteredEvent,
  type ConnectionInfoEvent,
  type ResponseRejectedEvent,
  type LaunchFailedEvent,
  type LaunchTimeoutEvent,
  type KernelExitEvent,
  type ListenerStats,
  type ListenerAddress,
} from './response-listener.js';
export {
  type ResponseListenerOptions,
  type ListenerLimits,
  DEFAULT_LIMITS,
  DEFAULT_RESPONSE_PORT,
  DEFAULT_PORT_RETRIES,
  DEFAULT_REGISTRATION_TIMEOUT_MS,
  DEFAULT_V1_KEY_BITS,
} from './listener-options.js';
export { type LaunchParameters, type PendingLaunch } from './launch-parameters.js';
export { type LaunchResponse, type ControlTarget, type ResponseTransport } from './registration.js';
export { type KernelControl, type ControlResult, type ControlOutcome } from './control-client.js';
export { type InboundProtocol } from './inbound-connection.js';
export { type EventListener, type TypedEmitter } from './typed-emitter.js';
export {
  type ConnectionInfo,
  type BoxKeyPair,
  type V1KeyPair,
  type ErrorCode,
  type Result,
  type PortRange,
  type PortMode,
  type ProtocolVersion,
  type ControlSignal,
  type ControlRoute,
  type ControlReply,
  type RedactedConnectionInfo,
  type Logger,
  CONTROL_SIGNALS,
  GatewayError,
  isGatewayError,
  toConnectionFile,
  redactConnectionInfo,
  generateKeyPair,
  keyPairFromSecretKey,
  generateV1KeyPair,
  v1KeyPairFromPrivateKey,
} from '@gateway-launchers/common';
