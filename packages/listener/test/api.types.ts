// Compile-time test of the public API of @gateway-launchers/listener. It has no
// run-time part: `npm run typecheck` (part of `npm test`) compiles it with
// tsconfig.test.json, and every assertion below is a type that only compiles
// while the API is what docs/listener.md says. A drift (a type no longer
// exported, a parameter widened, a member renamed) is a compile error here.
import type * as api from '../src/index.js';

/** True when A and B are the same type (not merely assignable either way). */
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Compiles only with `true`. */
type Assert<T extends true> = T;

/** Every run-time export, exactly (docs/listener.md, "Exports"). */
export type RuntimeExports = Assert<
  Equals<
    keyof typeof import('../src/index.js'),
    | 'ResponseListener'
    | 'DEFAULT_LIMITS'
    | 'DEFAULT_RESPONSE_PORT'
    | 'DEFAULT_PORT_RETRIES'
    | 'DEFAULT_REGISTRATION_TIMEOUT_MS'
    | 'DEFAULT_V1_KEY_BITS'
    | 'CONTROL_SIGNALS'
    | 'GatewayError'
    | 'isGatewayError'
    | 'toConnectionFile'
    | 'redactConnectionInfo'
    | 'generateKeyPair'
    | 'keyPairFromSecretKey'
    | 'generateV1KeyPair'
    | 'v1KeyPairFromPrivateKey'
  >
>;

type L = api.ResponseListener;

/** The small unions the docs spell out. */
export type Unions = [
  Assert<Equals<api.ProtocolVersion, 1 | 2>>,
  Assert<Equals<api.ResponseTransport, 'tcp' | 'ws'>>,
  Assert<Equals<api.PortMode, 'direct' | 'proxy' | 'handoff'>>,
  Assert<Equals<api.ControlRoute, 'comm-port' | 'websocket'>>,
  Assert<Equals<api.ControlSignal, (typeof api.CONTROL_SIGNALS)[number]>>,
];

/** start and register. */
export type Registering = [
  Assert<Equals<Parameters<typeof api.ResponseListener.start>, [options?: api.ResponseListenerOptions]>>,
  Assert<Equals<ReturnType<typeof api.ResponseListener.start>, Promise<L>>>,
  Assert<Equals<Parameters<L['register']>, [kernelId: string, options?: api.RegisterOptions]>>,
  Assert<Equals<ReturnType<L['register']>, api.PendingLaunch>>,
  Assert<Equals<api.PendingLaunch['response'], Promise<api.LaunchResponse>>>,
  Assert<Equals<api.RegisterOptions['portRange'], string | api.PortRange | undefined>>,
  Assert<Equals<api.RegisterOptions['protocol'], api.ProtocolVersion | undefined>>,
  Assert<Equals<api.RegisterOptions['transport'], api.ResponseTransport | undefined>>,
  Assert<Equals<api.ResponseListenerOptions['logger'], api.Logger | undefined>>,
  Assert<Equals<api.ResponseListenerOptions['limits'], Partial<api.ListenerLimits> | undefined>>,
  Assert<Equals<api.ResponseListenerOptions['keyPair'], api.BoxKeyPair | undefined>>,
  Assert<Equals<api.ResponseListenerOptions['v1KeyPair'], api.V1KeyPair | undefined>>,
  Assert<Equals<api.LaunchResponse['connectionInfo'], api.ConnectionInfo>>,
  Assert<Equals<api.LaunchResponse['mode'], api.PortMode | null>>,
  Assert<Equals<api.LaunchResponse['control'], api.ControlTarget>>,
  Assert<Equals<api.ControlTarget['protocol'], api.ProtocolVersion>>,
];

/** Control: typed signal names, results that never reject. */
export type Controlling = [
  Assert<Equals<ReturnType<L['control']>, api.KernelControl>>,
  Assert<Equals<Parameters<L['adopt']>, [target: api.ControlTarget]>>,
  Assert<Equals<ReturnType<L['controlTarget']>, api.ControlTarget | undefined>>,
  Assert<Equals<Parameters<api.KernelControl['signal']>, [name: api.ControlSignal]>>,
  Assert<Equals<ReturnType<api.KernelControl['interrupt']>, Promise<api.ControlResult>>>,
  Assert<Equals<ReturnType<api.KernelControl['restart']>, Promise<api.ControlResult>>>,
  Assert<Equals<api.ControlResult, api.Result<api.ControlOutcome>>>,
  Assert<Equals<api.ControlOutcome['route'], api.ControlRoute>>,
  Assert<api.ControlOutcome extends api.ControlReply ? true : false>,
];

/** The other members and the events. */
export type Members = [
  Assert<Equals<L['closed'], boolean>>,
  Assert<Equals<L['publicKey'], string>>,
  Assert<Equals<L['v1PublicKey'], string | undefined>>,
  Assert<Equals<L['address'], api.ListenerAddress>>,
  Assert<Equals<L['limits'], api.ListenerLimits>>,
  Assert<Equals<ReturnType<L['isPending']>, boolean>>,
  Assert<Equals<ReturnType<L['forget']>, boolean>>,
  Assert<Equals<ReturnType<L['stats']>, api.ListenerStats>>,
  Assert<Equals<ReturnType<L['close']>, Promise<void>>>,
  Assert<Equals<Parameters<L['listenerCount']>, [event: keyof api.ResponseListenerEvents]>>,
  Assert<Equals<ReturnType<L['listenerCount']>, number>>,
  Assert<L extends api.TypedEmitter<api.ResponseListenerEvents> ? true : false>,
  Assert<Equals<'registrationState' extends keyof L ? true : false, false>>,
  Assert<Equals<'emit' extends keyof L ? true : false, false>>,
  Assert<
    Equals<
      api.ResponseListenerEvents,
      {
        registered: api.RegisteredEvent;
        'connection-info': api.ConnectionInfoEvent;
        'response-rejected': api.ResponseRejectedEvent;
        'launch-failed': api.LaunchFailedEvent;
        'launch-timeout': api.LaunchTimeoutEvent;
        'kernel-exit': api.KernelExitEvent;
      }
    >
  >,
  Assert<Equals<api.ConnectionInfoEvent['connectionInfo'], api.RedactedConnectionInfo>>,
  Assert<Equals<api.ResponseRejectedEvent['protocol'], api.InboundProtocol>>,
  Assert<Equals<api.ResponseRejectedEvent['code'], api.ErrorCode>>,
];

declare const control: api.KernelControl;
/** A name outside CONTROL_SIGNALS does not compile (it still fails at run time for JavaScript callers). */
export function badSignalDoesNotCompile(): void {
  // @ts-expect-error 'SIGNOPE' is not a ControlSignal
  void control.signal('SIGNOPE');
}
