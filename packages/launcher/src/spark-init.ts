/**
 * Cluster start-up hooks for the python and r presets
 * (`--spark-context-initialization-mode`, `--cluster-type`).
 *
 * The hook travels inside the kernel's argv (`python -c …`, `R -e …`), not as
 * a file: it survives a port-clash restart of the kernel unchanged, needs no
 * clean-up, and the single-file bundle carries it without extra assets.
 *
 * - python: the hook builds the kernel's user namespace before ipykernel
 *   starts (`IPKernelApp.launch_instance(user_ns=…)`). `eager` creates the
 *   cluster objects before the kernel binds its ports, so the launcher reports
 *   the kernel ready only once Spark (or Dask) is up, and a failure ends the
 *   kernel with the traceback in the launcher's failure response. `lazy` binds
 *   placeholders that create the objects on first use. For Spark the hook
 *   installs a SIGUSR2 handler that cancels running jobs; the launcher sends
 *   SIGUSR2 right after SIGINT when it interrupts a Spark kernel.
 * - r: `spark` and `sc` (plus SparkR attached); `lazy` through promises and
 *   SparkR's own session slot, `eager` before IRkernel starts. No SIGUSR2:
 *   R quits on it, so the launcher never sends it to an R kernel.
 *
 * @module
 */

/** When the cluster objects are created. */
export type ClusterInitMode = 'none' | 'lazy' | 'eager';

/** Which cluster the kernel belongs to. */
export type ClusterType = 'spark' | 'dask' | 'none';

/** A start-up hook request that does something (mode and type not `none`). */
export interface ClusterInit {
  readonly mode: 'lazy' | 'eager';
  readonly clusterType: 'spark' | 'dask';
  /** Spark application name (`--spark-app-name`, GP's `--customAppName`); Spark's own default when absent. */
  readonly appName?: string;
}

/** The hook request, or undefined when the combination asks for nothing. */
export function clusterInit(mode: ClusterInitMode, clusterType: ClusterType, appName?: string): ClusterInit | undefined {
  if (mode === 'none' || clusterType === 'none') return undefined;
  return appName === undefined || appName === '' ? { mode, clusterType } : { mode, clusterType, appName };
}

/**
 * A string literal both Python and R read back as `text`: JSON escapes
 * (`\"`, `\\`, `\n`, `\uXXXX`) mean the same in both languages.
 */
function literal(text: string): string {
  return JSON.stringify(text).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Names each cluster type binds in a python kernel's namespace. */
export const PYTHON_CLUSTER_NAMES: Readonly<Record<ClusterInit['clusterType'], readonly string[]>> = {
  spark: ['spark', 'sc', 'sql'],
  dask: ['cluster'],
};

function pythonFactory(init: ClusterInit): string {
  if (init.clusterType === 'dask') return PYTHON_DASK_FACTORY;
  const builder = init.appName === undefined ? 'SparkSession.builder' : `SparkSession.builder.appName(${literal(init.appName)})`;
  return [
    'def _gl_create():',
    '    from pyspark.sql import SparkSession',
    `    session = ${builder}.getOrCreate()`,
    '    import atexit',
    '    atexit.register(session.stop)',
    '    return {"spark": session, "sc": session.sparkContext, "sql": session.sql}',
  ].join('\n');
}

const PYTHON_DASK_FACTORY = [
  'def _gl_create():',
  '    import dask_yarn',
  '    return {"cluster": dask_yarn.YarnCluster.from_current()}',
].join('\n');

/**
 * Python source that prepares `_gl_user_ns` (the namespace the kernel will
 * use) for `init`; it ends before ipykernel is started. Exported for tests.
 */
export function pythonClusterPrelude(init: ClusterInit): string {
  const names = PYTHON_CLUSTER_NAMES[init.clusterType];
  const lines = [
    `# gateway-launcher start-up hook: ${init.clusterType} objects, ${init.mode}`,
    'import sys as _sys',
    'import threading as _threading',
    '_gl_user_ns = {}',
    '_gl_made = {}',
    '_gl_lock = _threading.RLock()',
    pythonFactory(init),
    'def _gl_ready():',
    '    # Creates the objects once; a failed attempt is retried on the next use.',
    '    with _gl_lock:',
    '        if not _gl_made:',
    '            made = _gl_create()',
    '            for name, value in made.items():',
    "                # A name the user has bound to something else keeps the user's value.",
    '                if isinstance(_gl_user_ns.get(name), _GlOnFirstUse) or name not in _gl_user_ns:',
    '                    _gl_user_ns[name] = value',
    '            _gl_made.update(made)',
    '        return _gl_made',
    'class _GlOnFirstUse:',
    '    __slots__ = ("_gl_name",)',
    '    def __init__(self, name):',
    '        self._gl_name = name',
    '    def _gl_target(self):',
    '        return _gl_ready()[self._gl_name]',
    '    def __getattr__(self, attr):',
    "        # IPython's display and completion probe private names; they must not start a cluster.",
    '        if attr.startswith("_"):',
    '            raise AttributeError(attr)',
    '        return getattr(self._gl_target(), attr)',
    '    def __call__(self, *args, **kwargs):',
    '        return self._gl_target()(*args, **kwargs)',
    '    def __repr__(self):',
    '        return "<%s: created on first use>" % self._gl_name',
  ];
  if (init.clusterType === 'spark') {
    lines.push(
      'def _gl_cancel_spark_jobs(signum, frame):',
      '    # SIGUSR2 follows SIGINT on an interrupt; it never creates a context.',
      '    sc = _gl_made.get("sc")',
      '    if sc is None:',
      '        return',
      '    try:',
      '        sc.cancelAllJobs()',
      '    except Exception as exc:',
      '        print("gateway-launcher: cancelling Spark jobs failed: %r" % (exc,), file=_sys.stderr, flush=True)',
      'import signal as _signal',
      '_signal.signal(_signal.SIGUSR2, _gl_cancel_spark_jobs)',
    );
  }
  if (init.mode === 'eager') {
    lines.push(
      'try:',
      '    _gl_ready()',
      'except Exception:',
      '    import traceback as _traceback',
      '    _traceback.print_exc()',
      `    print("gateway-launcher: ${init.clusterType} objects could not be created (eager mode); the kernel does not start", file=_sys.stderr, flush=True)`,
      '    _sys.exit(1)',
    );
  } else {
    lines.push(`for _gl_name in ${JSON.stringify(names)}:`, '    _gl_user_ns[_gl_name] = _GlOnFirstUse(_gl_name)');
  }
  return lines.join('\n');
}

/** How the python bootstrap starts ipykernel with the prepared namespace. */
export const PYTHON_LAUNCH_WITH_NAMESPACE = [
  'from ipykernel.kernelapp import IPKernelApp as _GlApp',
  '_GlApp.launch_instance(user_ns=_gl_user_ns)',
].join('\n');

const R_LIB_PATHS = [
  '  home <- Sys.getenv("SPARK_HOME")',
  '  dirs <- c(strsplit(Sys.getenv("SPARKR_PACKAGE_DIR"), ",")[[1]], if (nzchar(home)) file.path(home, "R", "lib"))',
  '  .libPaths(c(dirs[dir.exists(dirs)], .libPaths()))',
];

/** `sc` from a SparkR session, as SparkR's own shell obtains it. */
const R_JAVA_CONTEXT = 'SparkR:::callJStatic("org.apache.spark.sql.api.r.SQLUtils", "getJavaSparkContext", s)';

/**
 * R source (one `-e` expression) that makes SparkR available and binds
 * `spark` and `sc` in the global environment, now (`eager`) or on first use
 * (`lazy`). In lazy mode SparkR's own functions (`sql`, `createDataFrame`, …)
 * create the session too. Exported for tests.
 */
export function rSparkPrelude(mode: 'lazy' | 'eager', appName?: string): string {
  const create = appName === undefined ? 'SparkR::sparkR.session()' : `SparkR::sparkR.session(appName = ${literal(appName)})`;
  const lines = [
    `# gateway-launcher start-up hook: SparkR, ${mode}`,
    'local({',
    ...R_LIB_PATHS,
    '})',
    'suppressPackageStartupMessages(library(SparkR))',
  ];
  if (mode === 'eager') {
    lines.push(
      'local({',
      `  s <- ${create}`,
      '  assign("spark", s, envir = .GlobalEnv)',
      `  assign("sc", ${R_JAVA_CONTEXT}, envir = .GlobalEnv)`,
      '})',
    );
  } else {
    lines.push(
      'local({',
      `  session <- function() ${create}`,
      '  delayedAssign("spark", session(), assign.env = .GlobalEnv)',
      `  delayedAssign("sc", { s <- session(); ${R_JAVA_CONTEXT} }, assign.env = .GlobalEnv)`,
      "  # SparkR's functions look the session up in SparkR's private environment;",
      '  # an active binding there creates it when they first ask. It removes itself',
      '  # before creating, so sparkR.session() stores the real session in its place.',
      '  env <- tryCatch(get(".sparkREnv", envir = asNamespace("SparkR")), error = function(e) NULL)',
      '  if (is.environment(env) && !exists(".sparkRsession", envir = env, inherits = FALSE)) {',
      '    makeActiveBinding(".sparkRsession", function(value) {',
      '      rm(".sparkRsession", envir = env)',
      '      if (missing(value)) session() else assign(".sparkRsession", value, envir = env)',
      '    }, env)',
      '  }',
      '})',
    );
  }
  return lines.join('\n');
}
