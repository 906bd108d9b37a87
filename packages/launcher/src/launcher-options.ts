/**
 * The one definition of `gateway-launcher`'s flags and environment variables
 * (design §2). The launcher builds its yargs parser from it, and
 * `tools/gen-launcher-options-doc.mjs` renders `docs/launcher-options.md`
 * from it, so code and docs cannot drift.
 *
 * @module
 */

/** One launcher option. */
export interface LauncherOptionSpec {
  /** Flag name without dashes (`kernel-id`). */
  readonly name: string;
  /** Value type. */
  readonly type: 'string' | 'number' | 'boolean';
  /** Environment variables read when the flag is absent, first set wins. */
  readonly env?: readonly string[];
  /** Other flag spellings accepted (Gateway Provisioners / Enterprise Gateway). */
  readonly aliases?: readonly string[];
  /** Default value. */
  readonly default?: string | number | boolean;
  /** Allowed values. */
  readonly choices?: readonly string[];
  /** Numbers: smallest and largest allowed value, and whether it must be whole. */
  readonly range?: { readonly min: number; readonly max: number; readonly integer?: boolean };
  /** Help group. */
  readonly group: 'Kernel' | 'Response' | 'Ports' | 'Process' | 'Spark' | 'Logging';
  /** One or two sentences for `--help` and the docs. */
  readonly describe: string;
}

/** Every launcher option, in help order. */
export const LAUNCHER_OPTIONS: readonly LauncherOptionSpec[] = [
  {
    name: 'kernel-id',
    type: 'string',
    env: ['KERNEL_ID'],
    aliases: ['RemoteProcessProxy.kernel-id'],
    group: 'Kernel',
    describe: 'Kernel id the host registered: 1-128 characters of A-Z a-z 0-9 . _ - (required).',
  },
  {
    name: 'kernel-language',
    type: 'string',
    env: ['KERNEL_LANGUAGE'],
    choices: ['python', 'r', 'scala'],
    group: 'Kernel',
    describe:
      'Preset kernel command line (python: ipykernel, r: IRkernel, scala: Apache Toree). Without it, the command after `--` is run.',
  },
  {
    name: 'kernel-name',
    type: 'string',
    env: ['KERNEL_NAME'],
    default: '',
    group: 'Kernel',
    describe: 'Kernelspec name reported in the connection info.',
  },
  {
    name: 'python',
    type: 'string',
    env: ['KERNEL_PYTHON'],
    default: 'python3',
    group: 'Kernel',
    describe: 'Python interpreter of the python preset.',
  },
  {
    name: 'kernel-class-name',
    type: 'string',
    env: ['KERNEL_CLASS_NAME'],
    aliases: ['RemoteProcessProxy.kernel-class-name'],
    group: 'Kernel',
    describe: 'python preset: ipykernel kernel class, passed as --IPKernelApp.kernel_class.',
  },
  {
    name: 'interrupt-mode',
    type: 'string',
    env: ['KERNEL_INTERRUPT_MODE'],
    choices: ['signal', 'message'],
    default: 'signal',
    group: 'Kernel',
    describe:
      "How an interrupt reaches the kernel: 'signal' (SIGINT to its process group) or 'message' (interrupt_request on the control channel), as the kernelspec's interrupt_mode says.",
  },
  {
    name: 'alternate-sigint',
    type: 'string',
    env: ['KERNEL_ALTERNATE_SIGINT'],
    group: 'Kernel',
    describe:
      "Signal an interrupt sends instead of SIGINT (USR2, SIGUSR2 or a number), as Apache Toree's option of that name; the scala preset passes it on to Toree. Gateway Provisioners' Toree launcher flag.",
  },
  {
    name: 'response-address',
    type: 'string',
    env: ['KERNEL_RESPONSE_ADDRESS'],
    aliases: ['RemoteProcessProxy.response-address'],
    group: 'Response',
    describe: 'Where the listener waits: host:port, tcp://host:port, ws://host:port/path or wss://host:port/path (required).',
  },
  {
    name: 'public-key',
    type: 'string',
    env: ['KERNEL_PUBLIC_KEY'],
    aliases: ['RemoteProcessProxy.public-key'],
    group: 'Response',
    describe:
      "Listener's public key: base64 32-byte X25519 key (protocol v2) or base64 DER RSA key as Gateway Provisioners publishes it (protocol v1) (required).",
  },
  {
    name: 'launch-token-file',
    type: 'string',
    env: ['KERNEL_LAUNCH_TOKEN_FILE'],
    group: 'Response',
    describe:
      'File holding the one-time launch token (protocol v2), for when KERNEL_LAUNCH_TOKEN cannot be set. The token is never taken from the command line.',
  },
  {
    name: 'launch-timeout',
    type: 'number',
    env: ['KERNEL_LAUNCH_TIMEOUT'],
    default: 30,
    range: { min: 1, max: 86_400 },
    group: 'Response',
    describe:
      "Seconds, counted from the launcher's start, for the whole launch: the kernel listening on its ports and the response acknowledged. Then the launcher gives up and stops the kernel. Raise it for kernels that start slowly (eager Spark).",
  },
  {
    name: 'port-range',
    type: 'string',
    env: ['KERNEL_PORT_RANGE'],
    aliases: ['RemoteProcessProxy.port-range'],
    default: '0..0',
    group: 'Ports',
    describe: 'lo..hi range for all six ports; 0..0 means any port. Size at least MIN_PORT_RANGE_SIZE (default 1000).',
  },
  {
    name: 'ip',
    type: 'string',
    env: ['KERNEL_IP'],
    group: 'Ports',
    describe:
      'IP address to bind and report (a local address of this host, IPv4 or IPv6; 0.0.0.0 or :: bind all). Default: bind all addresses, report the first non-loopback IPv4 address.',
  },
  {
    name: 'mode',
    type: 'string',
    env: ['KERNEL_PORT_MODE'],
    choices: ['direct', 'proxy', 'handoff'],
    group: 'Ports',
    describe:
      "'direct': the kernel binds the ports; 'proxy': the launcher binds them and relays to a kernel on loopback; 'handoff': the launcher binds them and hands the listening sockets to the kernel (python preset only; any other kernel runs in direct mode, with a log line). Default: handoff for --kernel-language python, direct otherwise.",
  },
  {
    name: 'handoff-ready',
    type: 'string',
    env: ['KERNEL_HANDOFF_READY'],
    choices: ['heartbeat', 'at-bind'],
    default: 'heartbeat',
    group: 'Ports',
    describe:
      "handoff mode: when the response goes out. 'heartbeat': once the kernel has echoed one heartbeat through its hb socket (clients that count a missed heartbeat as death, such as jupyter_client's wait_for_ready, find it alive); 'at-bind': as soon as the kernel is started with the sockets (requests wait in the listen backlog).",
  },
  {
    name: 'restart-on-crash',
    type: 'number',
    env: ['KERNEL_RESTART_ON_CRASH'],
    default: 0,
    range: { min: 0, max: 100, integer: true },
    group: 'Process',
    describe: 'proxy mode: restart a crashed kernel behind the same ports up to this many times.',
  },
  {
    name: 'shutdown-grace',
    type: 'number',
    env: ['KERNEL_SHUTDOWN_GRACE'],
    default: 3,
    range: { min: 0.1, max: 3_600 },
    group: 'Process',
    describe:
      'Seconds a kernel gets to answer shutdown_request and, once it has, again to exit; then SIGTERM, and the same again before SIGKILL.',
  },
  {
    name: 'connection-dir',
    type: 'string',
    env: ['KERNEL_CONNECTION_DIR'],
    group: 'Process',
    describe: 'Parent directory of the private (0700) directory that holds the connection file. Default: the system temp directory.',
  },
  {
    name: 'spark-context-initialization-mode',
    type: 'string',
    env: ['KERNEL_SPARK_CONTEXT_INIT_MODE'],
    aliases: ['RemoteProcessProxy.spark-context-initialization-mode'],
    choices: ['none', 'lazy', 'eager'],
    default: 'none',
    group: 'Spark',
    describe: 'python/r presets: create spark, sc and sql never, on first use, or before the kernel is reported ready.',
  },
  {
    name: 'cluster-type',
    type: 'string',
    env: ['KERNEL_CLUSTER_TYPE'],
    aliases: ['RemoteProcessProxy.cluster-type'],
    choices: ['spark', 'dask', 'none'],
    default: 'spark',
    group: 'Spark',
    describe: 'Cluster the kernel belongs to; spark kernels get SIGUSR2 after SIGINT so running jobs are cancelled.',
  },
  {
    name: 'spark-app-name',
    type: 'string',
    env: ['KERNEL_SPARK_APP_NAME'],
    aliases: ['customAppName', 'RemoteProcessProxy.customAppName'],
    group: 'Spark',
    describe:
      "python/r presets with a Spark context: the Spark application name (default: the kernel id). Gateway Provisioners' R launcher spells it --customAppName.",
  },
  {
    name: 'log-level',
    type: 'string',
    env: ['LOG_LEVEL'],
    default: 'info',
    group: 'Logging',
    describe:
      "pino level (trace, debug, info, warn, error, fatal, silent, also warning and critical, any case) or Python's numeric level (10, 20, 30, 40, 50). Anything else is refused.",
  },
];

/**
 * Environment variables the launcher reads that are not tied to one flag.
 * Listed in the docs with the options.
 */
export const LAUNCHER_ENV_ONLY: ReadonlyArray<{ readonly name: string; readonly describe: string }> = [
  {
    name: 'KERNEL_LAUNCH_TOKEN',
    describe:
      "The one-time launch token of protocol v2 (secret; read from the environment only, then removed from the kernel's environment).",
  },
  {
    name: 'MIN_PORT_RANGE_SIZE',
    describe: 'Smallest allowed port range size (hi - lo); default 1000. GP_MIN_PORT_RANGE_SIZE and EG_MIN_PORT_RANGE_SIZE are read too.',
  },
];
