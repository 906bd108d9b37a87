"""A real Jupyter Server (the installed one) started by the test on loopback,
with kernelspecs that name the gateway-launcher provisioner: the REST API and
the kernel's WebSocket channels, as a browser uses them."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from tornado.websocket import websocket_connect

from conftest import BOUND, PYTHON, process_alive, wait_gone, write_kernelspec

TOKEN = "test-server-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m jupyter_server`` as a child process, ready once it logged its URL."""

    def __init__(self, home: Path, port: int, config: str) -> None:
        self.port = port
        self.lines: List[str] = []
        self.ready = threading.Event()
        cfg_dir = home / "config"
        cfg_dir.mkdir(exist_ok=True)
        (cfg_dir / "jupyter_server_config.py").write_text(config)
        env = dict(os.environ, JUPYTER_PATH=str(home / "data"), JUPYTER_CONFIG_DIR=str(cfg_dir), JUPYTER_DATA_DIR=str(home / "data"))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter_server", f"--ServerApp.port={port}", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.token={TOKEN}", "--ServerApp.open_browser=False", "--ServerApp.allow_root=True", f"--ServerApp.root_dir={home}", "--debug"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self.ready.wait(BOUND) or self.proc.poll() is not None:
            self._reader.join(BOUND)
            raise AssertionError("jupyter server did not start:\n" + self.log()[-5000:])

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if "is running at" in line:
                self.ready.set()
        self.ready.set()

    def log(self) -> str:
        return "".join(self.lines)

    def request(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Any:
        data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=BOUND * 2) as r:
                raw = r.read()
                return r.status, (json.loads(raw) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, raw.decode(errors="replace")

    def stop(self) -> bool:
        """SIGTERM, as a service manager stops it; True when the server exited of it (else it is killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(BOUND)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return False
        return True


class Channels:
    """The kernel's WebSocket channels (``/api/kernels/<id>/channels``)."""

    def __init__(self, port: int, kernel_id: str) -> None:
        self.url = f"ws://127.0.0.1:{port}/api/kernels/{kernel_id}/channels?token={TOKEN}&session_id={uuid.uuid4().hex}"
        self.session = uuid.uuid4().hex

    async def __aenter__(self) -> "Channels":
        self.ws = await asyncio.wait_for(websocket_connect(self.url), BOUND)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.ws.close()

    def send(self, msg_type: str, content: Dict[str, Any], channel: str = "shell") -> str:
        msg_id = uuid.uuid4().hex
        self.ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "username": "test", "session": self.session, "msg_type": msg_type, "version": "5.3"},
            "parent_header": {}, "metadata": {}, "content": content, "channel": channel, "buffers": [],
        }))
        return msg_id

    async def recv(self) -> Dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.read_message(), BOUND)
        if raw is None:
            raise AssertionError("the kernel WebSocket closed")
        return json.loads(raw)

    async def execute(self, code: str, on_output: Any = None) -> Dict[str, Any]:
        """Runs ``code``; returns {"reply": execute_reply content, "stdout": text}.

        ``on_output`` is awaited at the cell's first output: then the cell is
        running (ipykernel announces busy before it installs its SIGINT handler,
        so an interrupt sent on busy can be lost).
        """
        msg_id = self.send("execute_request", {"code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False, "stop_on_error": True})
        out, reply, idle = [], None, False
        while reply is None or not idle:
            msg = await self.recv()
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            t = msg["msg_type"]
            if t == "stream":
                out.append(msg["content"]["text"])
                if on_output is not None:
                    await on_output()
                    on_output = None
            elif t == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
            elif t == "execute_reply":
                reply = msg["content"]
        return {"reply": reply, "stdout": "".join(out)}


async def _execute(port: int, kernel_id: str, code: str, on_output: Any = None) -> Dict[str, Any]:
    async with Channels(port, kernel_id) as ch:
        # Wait until the kernel answers on shell before executing: a fresh
        # kernel behind a proxy launcher may still be starting.
        msg_id = ch.send("kernel_info_request", {})
        while True:
            msg = await ch.recv()
            if msg["msg_type"] == "kernel_info_reply" and msg["parent_header"].get("msg_id") == msg_id:
                break
        return await ch.execute(code, on_output)


def execute(server: Server, kernel_id: str, code: str, on_output: Any = None) -> Dict[str, Any]:
    return asyncio.run(_execute(server.port, kernel_id, code, on_output))


def kernel_and_launcher_pids(server: Server, kernel_id: str) -> List[int]:
    r = execute(server, kernel_id, "import os; print(os.getpid(), os.getppid())")
    return [int(p) for p in r["stdout"].split()]


@pytest.fixture()
def home(tools: Dict[str, Any], tmp_path: Path) -> Path:
    kernels = tmp_path / "data" / "kernels"
    write_kernelspec(kernels, "gl_py", {"launch": "local", "launch_timeout": 120})
    write_kernelspec(kernels, "gl_proxy", {"launch": "local", "mode": "proxy", "launch_timeout": 120})
    write_kernelspec(kernels, "gl_broken", {"launch": "local", "launch_timeout": 600},
                     argv=["gateway-launcher", "--", PYTHON, "-m", "no_such_kernel_module_marker", "-f", "{connection_file}"])
    return tmp_path


def server_config(state_dir: Path, response_port: int, keep: bool) -> str:
    return "\n".join([
        "c.ServerApp.kernel_manager_class = 'gateway_launchers_jupyter.GatewayLauncherMappingKernelManager'",
        f"c.GatewayLauncherMappingKernelManager.keep_kernels_on_exit = {keep}",
        f"c.GatewayLauncherProvisioner.state_dir = {str(state_dir)!r}",
        f"c.GatewayLauncherProvisioner.response_port = {response_port}",
        "c.GatewayLauncherProvisioner.response_ip = '127.0.0.1'",
        "",
    ])


@pytest.mark.parametrize("kernel_name", ["gl_py", "gl_proxy"])
def test_server_starts_executes_interrupts_restarts_and_deletes_a_kernel(home: Path, kernel_name: str) -> None:
    server = Server(home, free_port(), server_config(home / "state", free_port(), keep=False))
    try:
        status, model = server.request("POST", "/api/kernels", {"name": kernel_name})
        assert status == 201, model
        kid = model["id"]
        r = execute(server, kid, "print(6 * 7)")
        assert r["reply"]["status"] == "ok" and r["stdout"] == "42\n"
        kernel_pid, launcher_pid = kernel_and_launcher_pids(server, kid)

        async def interrupt() -> None:
            status, _ = await asyncio.get_running_loop().run_in_executor(None, server.request, "POST", f"/api/kernels/{kid}/interrupt")
            assert status == 204

        r = execute(server, kid, "import time; print('sleeping', flush=True); time.sleep(30)", on_output=interrupt)
        assert r["reply"]["status"] == "error" and r["reply"]["ename"] == "KeyboardInterrupt"

        status, _ = server.request("POST", f"/api/kernels/{kid}/restart")
        assert status == 200
        new_kernel_pid, new_launcher_pid = kernel_and_launcher_pids(server, kid)
        assert new_kernel_pid != kernel_pid
        assert wait_gone(kernel_pid) and wait_gone(launcher_pid), "the restart left the old kernel or launcher behind"

        status, _ = server.request("DELETE", f"/api/kernels/{kid}")
        assert status == 204
        assert wait_gone(new_kernel_pid) and wait_gone(new_launcher_pid), "DELETE left a process behind"
        status, kernels = server.request("GET", "/api/kernels")
        assert kernels == []
    finally:
        server.stop()


def test_a_failing_kernel_fails_the_start_request_with_its_stderr(home: Path) -> None:
    server = Server(home, free_port(), server_config(home / "state", free_port(), keep=False))
    try:
        status, body = server.request("POST", "/api/kernels", {"name": "gl_broken"})
        assert status == 500
        text = json.dumps(body)
        # The launcher's failure report (exit code and the kernel's stderr), not the 600 s timeout.
        assert "GL_ERR_KERNEL_FAILED" in server.log() or "failed to start" in text
        assert "no_such_kernel_module_marker" in text
        assert "exit code 1" in text
    finally:
        server.stop()


def _serve_pids(state_dir: Path) -> List[int]:
    key = str(state_dir)
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"serve" in cmd and any(key.encode() in c for c in cmd):
                out.append(int(pid))
    return out


@pytest.mark.parametrize("restart", [False, True], ids=["then-delete", "then-restart-and-delete"])
def test_a_restarted_server_adopts_its_running_kernel(home: Path, tools: Dict[str, Any], restart: bool) -> None:
    state_dir = home / "state"
    key_file = state_dir / "listener-key.json"
    config = server_config(state_dir, free_port(), keep=True) + f"c.GatewayLauncherProvisioner.key_file = {str(key_file)!r}\n"
    port = free_port()
    first = Server(home, port, config)
    try:
        status, model = first.request("POST", "/api/kernels", {"name": "gl_py"})
        assert status == 201, model
        kid = model["id"]
        r = execute(first, kid, "x = 6 * 7; import os; print(os.getpid(), os.getppid())")
        kernel_pid, launcher_pid = [int(p) for p in r["stdout"].split()]
        serve = _serve_pids(state_dir)
        assert len(serve) == 1
    finally:
        stopped = first.stop()
    assert stopped, "a server that keeps its kernels exits on SIGTERM"
    # The old serve process ends with its host (stdin closed); the kernel lives on.
    assert wait_gone(serve[0])
    assert process_alive(kernel_pid) and process_alive(launcher_pid)

    second = Server(home, port, config)
    try:
        status, kernels = second.request("GET", "/api/kernels")
        assert [k["id"] for k in kernels] == [kid], second.log()[-3000:]
        r = execute(second, kid, "print(x)")
        assert r["stdout"] == "42\n", "the same kernel, with its state"
        if restart:
            status, _ = second.request("POST", f"/api/kernels/{kid}/restart")
            assert status == 200, second.log()[-3000:]
            new_pids = kernel_and_launcher_pids(second, kid)
            assert new_pids[0] != kernel_pid
            assert wait_gone(kernel_pid) and wait_gone(launcher_pid), "restarting an adopted kernel left the old one behind"
            kernel_pid, launcher_pid = new_pids
        status, _ = second.request("DELETE", f"/api/kernels/{kid}")
        assert status == 204
        assert wait_gone(kernel_pid) and wait_gone(launcher_pid), "DELETE after adoption left a process behind"
        assert not (state_dir / "kernels" / f"{kid}.json").exists()
        status, kernels = second.request("GET", "/api/kernels")
        assert kernels == [], "the deleted adopted kernel is no longer listed"
        assert "Traceback" not in second.log(), second.log()[-3000:]
    finally:
        stopped = second.stop()
    assert stopped, "the server exits on SIGTERM after deleting an adopted kernel:\n" + second.log()[-3000:]
