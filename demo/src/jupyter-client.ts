/**
 * A small Jupyter client in TypeScript: zeromq.js sockets, messages signed and
 * verified with `@gateway-launchers/common`'s wire module. Enough for the demo
 * and the benchmarks: kernel_info, execute with its outputs, shutdown.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import * as zmq from 'zeromq';
import {
  type ConnectionInfo,
  type JupyterMessage,
  MessageSigner,
  createMessage,
  parseMessage,
  serializeMessage,
} from '@gateway-launchers/common';

/** What one executed cell produced. */
export interface ExecuteResult {
  readonly status: string;
  readonly stdout: string;
  readonly result: string | undefined;
  readonly error: string | undefined;
  /** ms from sending the request to the first output on iopub. */
  readonly firstOutputMs: number | undefined;
}

function url(info: ConnectionInfo, port: number): string {
  return `${info.transport}://${isIP(info.ip) === 6 ? `[${info.ip}]` : info.ip}:${port}`;
}

/** Options of {@link KernelClient}'s constructor. */
export interface KernelClientOptions {
  /** Connect and subscribe the iopub socket (default true); false leaves iopub unconnected. */
  readonly iopub?: boolean;
}

/** A client connected to one kernel's shell, iopub and control channels. */
export class KernelClient {
  readonly #signer: MessageSigner;
  readonly #session = randomUUID();
  readonly #shell: zmq.Dealer;
  readonly #control: zmq.Dealer;
  readonly #iopub: zmq.Subscriber;
  readonly #iopubWaiters = new Map<string, (msg: JupyterMessage) => void>();
  readonly #iopubOn: boolean;
  readonly #timeoutMs: number;
  #closed = false;

  constructor(
    readonly info: ConnectionInfo,
    timeoutMs = 30_000,
    options: KernelClientOptions = {},
  ) {
    const ipv6 = isIP(info.ip) === 6;
    this.#iopubOn = options.iopub !== false;
    this.#timeoutMs = timeoutMs;
    this.#signer = new MessageSigner(info.key, info.signature_scheme);
    this.#shell = new zmq.Dealer({ linger: 0, receiveTimeout: timeoutMs, ipv6 });
    this.#control = new zmq.Dealer({ linger: 0, receiveTimeout: timeoutMs, ipv6 });
    this.#iopub = new zmq.Subscriber({ linger: 0, ipv6 });
    this.#shell.connect(url(info, info.shell_port));
    this.#control.connect(url(info, info.control_port));
    if (options.iopub !== false) {
      this.#iopub.connect(url(info, info.iopub_port));
      this.#iopub.subscribe();
      void this.#readIopub();
    }
  }

  async #readIopub(): Promise<void> {
    try {
      for await (const frames of this.#iopub) {
        const msg = parseMessage(frames, this.#signer);
        if (!msg.ok) continue;
        const parent = msg.value.parent_header.msg_id;
        if (parent !== undefined) this.#iopubWaiters.get(parent)?.(msg.value);
      }
    } catch {
      // socket closed
    }
  }

  async #request(
    socket: zmq.Dealer,
    msgType: string,
    content: Record<string, unknown>,
    onIopub?: (m: JupyterMessage) => void,
  ): Promise<{ reply: JupyterMessage; msgId: string }> {
    const msg = createMessage(msgType, content, { session: this.#session });
    if (onIopub !== undefined) this.#iopubWaiters.set(msg.header.msg_id, onIopub);
    await socket.send(serializeMessage(msg, this.#signer));
    for (;;) {
      const reply = parseMessage(await socket.receive(), this.#signer);
      if (!reply.ok) throw reply.error;
      if (reply.value.parent_header.msg_id === msg.header.msg_id) return { reply: reply.value, msgId: msg.header.msg_id };
    }
  }

  /** Sends kernel_info_request until the kernel answers (iopub is subscribed once it has). */
  async kernelInfo(): Promise<JupyterMessage> {
    return (await this.#request(this.#shell, 'kernel_info_request', {})).reply;
  }

  /**
   * Executes `code`, collecting stdout, the result and errors until the kernel
   * is idle again (iopub's idle status comes after the shell reply; waited for
   * up to the client's timeout). `onStdout` sees each stdout chunk as it comes.
   */
  async execute(code: string, options: { onStdout?: (text: string) => void } = {}): Promise<ExecuteResult> {
    const t0 = performance.now();
    let stdout = '';
    let result: string | undefined;
    let error: string | undefined;
    let firstOutputMs: number | undefined;
    let idle: () => void = () => {};
    const idleSeen = new Promise<void>((r) => (idle = r));
    const { reply, msgId } = await this.#request(
      this.#shell,
      'execute_request',
      { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false, stop_on_error: true },
      (m) => {
        const c = m.content as Record<string, unknown>;
        if ((m.header.msg_type === 'stream' || m.header.msg_type === 'execute_result') && firstOutputMs === undefined)
          firstOutputMs = performance.now() - t0;
        if (m.header.msg_type === 'stream' && c.name === 'stdout') {
          stdout += String(c.text);
          options.onStdout?.(String(c.text));
        }
        if (m.header.msg_type === 'execute_result') result = String((c.data as Record<string, unknown>)['text/plain']);
        if (m.header.msg_type === 'error') error = `${String(c.ename)}: ${String(c.evalue)}`;
        if (m.header.msg_type === 'status' && c.execution_state === 'idle') idle();
      },
    );
    if (this.#iopubOn) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([idleSeen, new Promise((r) => (timer = setTimeout(r, this.#timeoutMs)))]);
      clearTimeout(timer);
    }
    this.#iopubWaiters.delete(msgId);
    return { status: String(reply.content.status), stdout, result, error, firstOutputMs };
  }

  /** Sends execute_request on shell and waits for the execute_reply only (no iopub bookkeeping); returns the request's msg_id and the reply. */
  async executeReply(code: string): Promise<{ msgId: string; reply: JupyterMessage }> {
    const { reply, msgId } = await this.#request(this.#shell, 'execute_request', {
      code,
      silent: false,
      store_history: false,
      user_expressions: {},
      allow_stdin: false,
      stop_on_error: true,
    });
    return { msgId, reply };
  }

  /** Sends shutdown_request on the control channel and waits for the reply. */
  async shutdown(restart = false): Promise<JupyterMessage> {
    return (await this.#request(this.#control, 'shutdown_request', { restart })).reply;
  }

  /** Closes the sockets. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#shell.close();
    this.#control.close();
    this.#iopub.close();
  }
}
