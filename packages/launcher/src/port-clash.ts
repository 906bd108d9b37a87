/**
 * A port taken under a starting kernel. Between the launcher releasing a
 * port and the kernel binding it, another process may take it (a thief, or
 * just someone's outgoing connection given it as an ephemeral port). Not
 * every kernel then exits: ipykernel 6.17 exits on a shell, stdin or control
 * clash, but hangs on an iopub clash (its control thread already runs) and
 * runs on without a heartbeat on an hb clash, so its launch would only fail at
 * the launch timeout. Until the kernel is ready its stderr is watched for the
 * clash message; on it the kernel's process group is killed, the kernel
 * exits, and the mode's clash retry starts it again on fresh ports.
 *
 * @module
 */
import type { LauncherLogger } from './deferred-logger.js';
import type { KernelProcess } from './kernel-process.js';
import { PORT_CLASH_RE } from './launch-mode.js';

/** Bytes of the previous stderr chunk kept, so a message split across two chunks is still seen. */
const CARRY_BYTES = 64;

/**
 * A watch of a stream of stderr chunks for the clash message: feed it each
 * chunk in order; it answers true once the message has been seen, also when
 * it came split across chunks.
 */
export function portClashScanner(): (chunk: Buffer) => boolean {
  let carry = '';
  return (chunk) => {
    const text = carry + chunk.toString('latin1');
    carry = text.slice(-CARRY_BYTES);
    return PORT_CLASH_RE.test(text);
  };
}

/**
 * Watches `kernel`'s stderr for a port clash and kills the kernel's group
 * when one is reported. Returns the function that ends the watch (call it
 * once the kernel is ready).
 */
export function killOnPortClash(kernel: KernelProcess, logger: LauncherLogger): () => void {
  const clashed = portClashScanner();
  const stop = kernel.onStderr((chunk) => {
    if (!clashed(chunk)) return;
    stop();
    logger.warn(
      { event: 'port_clash_detected', pid: kernel.pid },
      'the kernel reports a port taken under it; killing it to retry on fresh ports',
    );
    kernel.signalGroup('SIGKILL');
  });
  return stop;
}
