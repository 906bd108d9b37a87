/**
 * Every bound of the system in one place: sizes, waits, retries. Components take
 * these as defaults and let callers lower or raise them through options.
 *
 * @module
 */

/** Largest response (v2 line, v1 payload, first WebSocket frame) a listener reads, in bytes. */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/** Largest control request a launcher reads on its comm port, in bytes. */
export const MAX_CONTROL_BYTES = 4 * 1024;
/** Largest control answer or event a peer reads, in bytes. */
export const MAX_CONTROL_REPLY_BYTES = 4 * 1024;
/** A connection that has not delivered a complete message within this many ms is closed. */
export const IDLE_TIMEOUT_MS = 5_000;
/** Longest connection `key` accepted, in characters. */
export const MAX_CONNECTION_KEY_LENGTH = 256;
/** Longest kernel id, in characters. */
export const MAX_KERNEL_ID_LENGTH = 128;
/** Bytes of kernel stderr a launcher keeps for failure reports. */
export const STDERR_TAIL_BYTES = 8 * 1024;
/** Default smallest port range size (`hi - lo`), overridable with `MIN_PORT_RANGE_SIZE`. */
export const DEFAULT_MIN_PORT_RANGE_SIZE = 1000;
/** Default seconds a launcher keeps trying to deliver its response. */
export const DEFAULT_LAUNCH_TIMEOUT_S = 30;
/** Concurrent unauthenticated connections a listener serves before refusing new ones. */
export const MAX_PENDING_CONNECTIONS = 4096;
/** Concurrent unauthenticated connections a listener serves per peer address (IPv6: per /64). */
export const MAX_CONNECTIONS_PER_ADDRESS = 256;
/** Listen backlog a listener asks the kernel for. */
export const LISTEN_BACKLOG = 4096;
/** Default ms a launcher gives a kernel to answer `shutdown_request` and again to exit, then after SIGTERM before SIGKILL. */
export const SHUTDOWN_GRACE_MS = 3_000;
/** Direct mode: kernel starts tried on fresh ports when a port was taken under it. */
export const MAX_PORT_CLASH_RETRIES = 3;
