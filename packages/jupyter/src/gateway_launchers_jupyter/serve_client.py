"""The host's end of ``gateway-listener serve``: one child process per host
process, JSON-RPC 2.0 over its stdio, one JSON object per line.

A reader thread owns the child's stdout. Replies and notifications resolve
:class:`concurrent.futures.Future` objects, which any asyncio loop can await
(``asyncio.wrap_future``): a synchronous ``KernelManager`` runs each call in a
loop of its own (``run_sync``), so nothing here may belong to one loop.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import subprocess
import threading
from collections import deque
from concurrent.futures import Future
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

__all__ = ["ServeClient", "ServeError", "shared_client"]

#: Longest line accepted from the serve process; the contract bounds its own lines far below this.
MAX_LINE_BYTES = 4 * 1024 * 1024
#: stderr lines of the serve process kept for error messages.
STDERR_TAIL_LINES = 40
#: Terminal notifications of a registration (the contract: exactly one of them ends it).
TERMINAL = ("connection-info", "launch-failed", "launch-timeout", "registration-ended")


class ServeError(RuntimeError):
    """A JSON-RPC error answered by the serve process, or the process itself failing.

    ``code`` is the JSON-RPC code (or ``None`` when the process died / did not
    start); ``gl_code`` the ``GL_ERR_*`` code from ``error.data.code`` when given.
    """

    def __init__(self, message: str, code: Optional[int] = None, gl_code: Optional[str] = None):
        super().__init__(message)
        self.code = code
        self.gl_code = gl_code


class ServeClient:
    """A running ``gateway-listener serve`` child and its JSON-RPC channel.

    ``argv`` is the full command line (``[..., "serve", "--key-file", ...]``).
    Thread-safe; every method that waits returns a concurrent ``Future``.
    """

    def __init__(self, argv: List[str], env: Optional[Dict[str, str]] = None, log: Optional[logging.Logger] = None):
        self.argv = list(argv)
        self.log = log or logging.getLogger("gateway_launchers_jupyter.serve")
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: Dict[int, Future] = {}
        self._registrations: Dict[str, Future] = {}
        self._exits: Dict[str, Future] = {}
        self._listeners: List[Callable[[str, Dict[str, Any]], None]] = []
        self._stderr_tail: Deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.ready: Future = Future()
        self.closed: Future = Future()
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            # Own process group: a Ctrl-C meant for the host does not stop the
            # listener before the host has decided what to do with its kernels.
            start_new_session=True,
        )
        threading.Thread(target=self._read_stdout, name="gateway-listener-serve-stdout", daemon=True).start()
        threading.Thread(target=self._read_stderr, name="gateway-listener-serve-stderr", daemon=True).start()

    # ------------------------------------------------------------------ state

    @property
    def alive(self) -> bool:
        return not self.closed.done()

    @property
    def ready_params(self) -> Dict[str, Any]:
        """The ``ready`` notification's params (blocks until it arrived or the process died)."""
        return self.ready.result()

    def stderr_tail(self) -> str:
        return "\n".join(self._stderr_tail)

    def add_listener(self, fn: Callable[[str, Dict[str, Any]], None]) -> None:
        """Calls ``fn(method, params)`` for every notification (from the reader thread)."""
        with self._lock:
            self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[str, Dict[str, Any]], None]) -> None:
        with self._lock:
            if fn in self._listeners:
                self._listeners.remove(fn)

    # ---------------------------------------------------------------- calling

    def request(self, method: str, params: Dict[str, Any]) -> Future:
        """Sends a request; the future resolves with its result or a :class:`ServeError`."""
        fut: Future = Future()
        with self._lock:
            if not self.alive:
                fut.set_exception(self._died_error())
                return fut
            msg_id = next(self._ids)
            self._pending[msg_id] = fut
        line = json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}, separators=(",", ":"))
        try:
            with self._write_lock:
                assert self.proc.stdin is not None
                self.proc.stdin.write(line.encode() + b"\n")
                self.proc.stdin.flush()
        except (OSError, ValueError) as e:
            with self._lock:
                self._pending.pop(msg_id, None)
            if not fut.done():
                fut.set_exception(ServeError(f"gateway-listener serve is gone ({e})"))
        return fut

    async def call(self, method: str, params: Dict[str, Any], timeout: Optional[float] = 60.0) -> Any:
        """``request`` awaited in the current loop, bounded by ``timeout`` seconds."""
        return await asyncio.wait_for(asyncio.wrap_future(self.request(method, params)), timeout)

    def expect_registration_end(self, kernel_id: str) -> Future:
        """A future resolved with ``(method, params)`` of the registration's terminal notification.

        Call before ``register``: the notification may follow the reply at once.
        """
        fut: Future = Future()
        with self._lock:
            if not self.alive:
                fut.set_exception(self._died_error())
                return fut
            self._registrations[kernel_id] = fut
            # A kernel-exit seen before this registration belongs to an earlier launch.
            stale = self._exits.get(kernel_id)
            if stale is not None and stale.done():
                del self._exits[kernel_id]
        return fut

    def drop_registration(self, kernel_id: str) -> None:
        with self._lock:
            self._registrations.pop(kernel_id, None)

    def exit_future(self, kernel_id: str) -> Future:
        """A future resolved with the params of the kernel's next ``kernel-exit`` notification.

        Fails with :class:`ServeError` when the serve process dies (its WebSocket,
        and so the event, is gone with it).
        """
        with self._lock:
            fut = self._exits.get(kernel_id)
            if fut is None or fut.done():
                fut = Future()
                if not self.alive:
                    fut.set_exception(self._died_error())
                else:
                    self._exits[kernel_id] = fut
            return fut

    def close(self) -> None:
        """Closes stdin: the process closes its listener and exits 0 (the contract's EOF rule)."""
        try:
            with self._write_lock:
                if self.proc.stdin is not None and not self.proc.stdin.closed:
                    self.proc.stdin.close()
        except OSError:
            pass

    # ---------------------------------------------------------------- reading

    def _died_error(self) -> ServeError:
        code = self.proc.poll()
        tail = self.stderr_tail()
        return ServeError(f"gateway-listener serve exited (status {code})" + (f": {tail[-2000:]}" if tail else ""))

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        try:
            while True:
                line = self.proc.stdout.readline(MAX_LINE_BYTES + 1)
                if not line:
                    break
                if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
                    # Skip the rest of an overlong line; it is not ours to trust.
                    while True:
                        more = self.proc.stdout.readline(MAX_LINE_BYTES)
                        if not more or more.endswith(b"\n"):
                            break
                    self.log.warning("gateway-listener serve: overlong stdout line ignored")
                    continue
                try:
                    msg = json.loads(line)
                except ValueError:
                    self.log.warning("gateway-listener serve: stdout line is not JSON; ignored")
                    continue
                if isinstance(msg, dict):
                    self._dispatch(msg)
        finally:
            self.proc.wait()
            self._on_closed()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in iter(lambda: self.proc.stderr.readline(64 * 1024), b""):  # type: ignore[union-attr]
            text = raw.decode("utf-8", "replace").rstrip("\n")
            self._stderr_tail.append(text)
            self.log.debug("gateway-listener serve: %s", text)

    def _dispatch(self, msg: Dict[str, Any]) -> None:
        if "id" in msg and ("result" in msg or "error" in msg):
            with self._lock:
                fut = self._pending.pop(msg["id"], None) if isinstance(msg["id"], int) else None
            if fut is None:
                if msg.get("error") is not None:
                    self.log.warning("gateway-listener serve: error without a request: %s", msg.get("error"))
                return
            if msg.get("error") is not None:
                err = msg["error"] if isinstance(msg["error"], dict) else {}
                data = err.get("data") if isinstance(err.get("data"), dict) else {}
                fut.set_exception(ServeError(str(err.get("message", "error")), err.get("code"), data.get("code")))
            else:
                fut.set_result(msg.get("result"))
            return
        method = msg.get("method")
        params = msg.get("params") if isinstance(msg.get("params"), dict) else {}
        if not isinstance(method, str):
            return
        if method == "ready":
            if not self.ready.done():
                self.ready.set_result(params)
            return
        kernel_id = params.get("kernel_id")
        if method in TERMINAL and isinstance(kernel_id, str):
            with self._lock:
                fut = self._registrations.pop(kernel_id, None)
            if fut is not None and not fut.done():
                fut.set_result((method, params))
        elif method == "kernel-exit" and isinstance(kernel_id, str):
            with self._lock:
                fut = self._exits.get(kernel_id)
                if fut is None or fut.done():
                    fut = Future()
                    self._exits[kernel_id] = fut
            if not fut.done():
                fut.set_result(params)
        with self._lock:
            listeners = list(self._listeners)
        for fn in listeners:
            try:
                fn(method, params)
            except Exception:  # a listener's bug must not stop the reader
                self.log.exception("gateway-listener serve: notification listener failed")

    def _on_closed(self) -> None:
        err = self._died_error()
        with self._lock:
            pending = list(self._pending.values()) + list(self._registrations.values()) + [f for f in self._exits.values() if not f.done()]
            self._pending.clear()
            self._registrations.clear()
        for fut in pending:
            if not fut.done():
                fut.set_exception(err)
        if not self.ready.done():
            self.ready.set_exception(err)
        if not self.closed.done():
            self.closed.set_result(self.proc.returncode)
        self.log.info("gateway-listener serve exited with status %s", self.proc.returncode)


_shared: Dict[Tuple[str, ...], ServeClient] = {}
_shared_lock = threading.Lock()


def shared_client(argv: List[str], env: Optional[Dict[str, str]] = None, log: Optional[logging.Logger] = None) -> Tuple[ServeClient, bool]:
    """The process-wide serve child for ``argv``: started on first use, and again after it died.

    Returns ``(client, started)``; ``started`` is True when this call started a
    new process (kernels registered with an earlier one must be adopted again).
    """
    key = tuple(argv)
    with _shared_lock:
        client = _shared.get(key)
        if client is not None and client.alive:
            return client, False
        client = ServeClient(argv, env=env, log=log)
        _shared[key] = client
        return client, True


def close_shared() -> None:
    """Closes every shared serve child (their stdin); used by tests and at interpreter exit."""
    with _shared_lock:
        clients = list(_shared.values())
        _shared.clear()
    for c in clients:
        c.close()
