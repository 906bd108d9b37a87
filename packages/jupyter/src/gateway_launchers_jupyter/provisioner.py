"""``GatewayLauncherProvisioner``: a jupyter_client kernel provisioner that
launches kernels through ``gateway-launcher`` and protocol v2.

Per kernel: ``register`` with the host's one ``gateway-listener serve`` (a
``ws`` registration, so the launcher keeps a WebSocket open and reports the
kernel's exit), start the launcher through the kernelspec's launch recipe with
the registration's environment, and wait for the listener's verdict: the
validated connection info, or the launcher's failure (exit code, stderr tail)
within seconds. Afterwards the kernel's state comes from events — the
launcher's ``kernel-exit``, the recipe process ending, control results — and
signals go through the listener's ``control``; nothing polls a resource manager.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
from concurrent.futures import Future
from typing import Any, Dict, List, Optional

from jupyter_client.provisioning import KernelProvisionerBase
from traitlets import Float, Integer, List as TList, Unicode, Union, Enum, default

from .errors import KernelLaunchError
from .recipes import RECIPES, LaunchContext, RecipeError, RecipeProcess, read_tail
from .serve_client import ServeClient, ServeError, shared_client
from . import state

__all__ = ["GatewayLauncherProvisioner"]

#: Control results that mean the launcher cannot be reached any more (its comm port and WebSocket are gone).
UNREACHABLE = ("GL_ERR_CONTROL_UNAVAILABLE", "GL_ERR_CONTROL_FAILED")
#: Seconds allowed for one JSON-RPC call to the serve process (a bound, not an expectation).
RPC_TIMEOUT = 60.0
#: Keys of the kernelspec's provisioner config (beyond these, a typo is an error).
CONFIG_KEYS = (
    "launch", "port_range", "mode", "launch_timeout", "shutdown_wait_time", "launcher", "home",
    "hosts", "ssh_options", "remote_launcher", "remote_node", "ssh_script",
    "spark_home", "spark_opts", "launcher_archive", "yarn_script",
    "namespace", "image", "pod_template", "kubectl",
    "listener", "key_file", "state_dir", "response_ip", "response_port",
)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return str(signum)


class GatewayLauncherProvisioner(KernelProvisionerBase):  # type: ignore[misc]
    """Launches a kernel with ``gateway-launcher`` (protocol v2) and controls it through the launcher.

    Configured per kernelspec in ``metadata.kernel_provisioner.config``; every
    option is also a traitlets option (``c.GatewayLauncherProvisioner.home = …``).
    """

    launch = Enum(["local", "ssh", "yarn", "kubernetes"], default_value="local", config=True, help="Launch recipe.")
    port_range = Unicode("0..0", config=True, help="Port range for the kernel's ports (lo..hi; 0..0 = any).")
    mode = Enum(["direct", "proxy"], default_value="direct", config=True, help="Launcher port mode.")
    launch_timeout = Float(30.0, config=True, help="Seconds for the whole launch, response included.")
    shutdown_wait_time = Float(15.0, config=True, help="Seconds a graceful shutdown may take (the launcher's own stop takes up to 3 x its grace).")
    launcher = Unicode("", config=True, help="local: the gateway-launcher executable (default: argv[0] of the kernelspec, found on PATH).")
    home = Unicode(config=True, help="The gateway-launcher bundle holding ssh/, yarn/, container/ (default $GATEWAY_LAUNCHER_HOME or /opt/gateway-launcher).")
    hosts = Union([Unicode(), TList(Unicode())], default_value=[], config=True, help="ssh: hosts ([user@]host), the kernel id picks one.")
    ssh_options = Unicode("", config=True, help="ssh: more ssh options as shell words (GATEWAY_SSH_OPTS).")
    remote_launcher = Unicode("", config=True, help="ssh: the bundle on the hosts (GATEWAY_LAUNCHER_REMOTE).")
    remote_node = Unicode("", config=True, help="ssh: node on the hosts (GATEWAY_LAUNCHER_REMOTE_NODE).")
    ssh_script = Unicode("", config=True, help="ssh: path of launch-over-ssh.sh (default <home>/ssh/launch-over-ssh.sh).")
    spark_home = Unicode("", config=True, help="yarn: SPARK_HOME.")
    spark_opts = Unicode("", config=True, help="yarn: SPARK_OPTS.")
    launcher_archive = Unicode("", config=True, help="yarn: GATEWAY_LAUNCHER_ARCHIVE.")
    yarn_script = Unicode("", config=True, help="yarn: path of run.sh (default <home>/yarn/run.sh).")
    namespace = Unicode("default", config=True, help="kubernetes: namespace of the kernel pods.")
    image = Unicode("", config=True, help="kubernetes: kernel image.")
    pod_template = Unicode("", config=True, help="kubernetes: pod template (default <home>/container/kernel-pod.yaml).")
    kubectl = Union([Unicode(), TList(Unicode())], default_value="kubectl", config=True, help="kubernetes: the kubectl command.")
    # Host-wide: the first provisioner of a process starts the shared serve process with these.
    listener = Union([Unicode(), TList(Unicode())], default_value=["gateway-listener"], config=True, help="The gateway-listener command (serve is appended).")
    key_file = Unicode("", config=True, help="The listener's persisted key pair (default <runtime dir>/gateway-launcher/listener-key.json).")
    state_dir = Unicode("", config=True, help="Where running kernels are recorded for adoption (default <runtime dir>/gateway-launcher).")
    response_ip = Unicode("", config=True, help="Address the listener binds and advertises (default GP_RESPONSE_IP, else the first non-loopback IPv4).")
    response_port = Integer(0, config=True, help="Listener port (default GP_RESPONSE_PORT, else 8877); keep it fixed so launchers re-attach after a host restart.")

    @default("home")
    def _home_default(self) -> str:
        return os.environ.get("GATEWAY_LAUNCHER_HOME", "/opt/gateway-launcher")

    def __init__(self, **kwargs: Any) -> None:
        passed = {k: kwargs[k] for k in list(kwargs) if k not in ("kernel_id", "kernel_spec", "parent", "log", "config")}
        unknown = sorted(set(passed) - set(CONFIG_KEYS))
        if unknown:
            raise ValueError(f"gateway-launcher provisioner: unknown config key(s) {', '.join(unknown)} (known: {', '.join(CONFIG_KEYS)})")
        super().__init__(**kwargs)
        self._client: Optional[ServeClient] = None
        self._exited: Future = Future()
        self._launched = False
        self._recipe_process: Optional[RecipeProcess] = None
        self._control_target: Optional[Dict[str, Any]] = None
        self._launch_info: Dict[str, Any] = {}

    # ----------------------------------------------------------------- config

    def _config(self) -> Dict[str, Any]:
        """The recipe options (no secrets in them: the token is never configuration)."""
        return {k: getattr(self, k) for k in CONFIG_KEYS}

    def _state_dir(self) -> str:
        return self.state_dir or state.default_state_dir()

    def _listener_argv(self) -> List[str]:
        base = [self.listener] if isinstance(self.listener, str) else list(self.listener)
        key_file = self.key_file or state.default_key_file()
        os.makedirs(os.path.dirname(key_file), mode=0o700, exist_ok=True)
        argv = base + ["serve", "--key-file", key_file]
        if self.response_ip:
            argv += ["--host", self.response_ip]
        if self.response_port:
            argv += ["--port", str(self.response_port), "--port-retries", "0"]
        return argv

    async def _serve(self) -> ServeClient:
        """The shared serve process, started on first use; re-adopts this kernel when it was restarted."""
        client, _ = shared_client(self._listener_argv(), log=self.log)
        try:
            await asyncio.wait_for(asyncio.wrap_future(client.ready), RPC_TIMEOUT)
        except ServeError as e:
            raise KernelLaunchError(f"gateway-listener serve did not start: {e}", code="GL_ERR_LISTENER_CLOSED") from e
        if self._client is not client:
            previous = self._client
            self._client = client
            if previous is not None and self._launched and self._control_target is not None and not self._exited.done():
                # The serve process died and a new one took over: hand it the launcher again.
                await self._adopt(client)
        return client

    async def _adopt(self, client: ServeClient) -> None:
        await client.call("adopt", {"control_target": self._control_target}, RPC_TIMEOUT)
        self._watch_exit(client)

    # ---------------------------------------------------------------- launch

    @property
    def has_process(self) -> bool:
        return self._launched

    async def pre_launch(self, **kwargs: Any) -> Dict[str, Any]:
        # The kernelspec's argv is gateway-launcher's command line: no
        # placeholder is formatted here, {connection_file} names the launcher's own file.
        extra = kwargs.pop("extra_arguments", []) or []
        cmd = list(self.kernel_spec.argv) + list(extra)
        return await super().pre_launch(cmd=cmd, **kwargs)

    async def launch_kernel(self, cmd: List[str], **kwargs: Any) -> Dict[str, Any]:
        kernel_id = self.kernel_id
        recipe = RECIPES[self.launch]
        client = await self._serve()
        self._exited = Future()
        self._launched = False
        ended = client.expect_registration_end(kernel_id)
        try:
            reg = await client.call("register", {
                "kernel_id": kernel_id,
                "port_range": self.port_range,
                "timeout_ms": int(self.launch_timeout * 1000),
                "protocol": 2,
                "transport": "ws",
            }, RPC_TIMEOUT)
        except ServeError as e:
            client.drop_registration(kernel_id)
            raise KernelLaunchError(f"kernel {kernel_id}: registration refused: {e}", code=e.gl_code) from e

        env = dict(kwargs.get("env") or os.environ)
        env.update({k: str(v) for k, v in reg["env"].items()})
        env["KERNEL_PORT_MODE"] = self.mode
        env["KERNEL_LAUNCH_TIMEOUT"] = str(max(1, int(self.launch_timeout)))
        os.makedirs(self._state_dir(), mode=0o700, exist_ok=True)
        log_path = state.log_path(self._state_dir(), kernel_id)
        ctx = LaunchContext(kernel_id=kernel_id, argv=cmd, registration_flags=list(reg["argv"]), env=env,
                            config=self._config(), home=self.home, log_path=log_path, cwd=kwargs.get("cwd"))
        try:
            proc = recipe.start(ctx)
        except RecipeError as e:
            await self._cancel(client, kernel_id)
            raise KernelLaunchError(f"kernel {kernel_id}: {e}") from e
        finally:
            # The token lives on only in the launcher's environment (or the Secret).
            del env, ctx, reg
        self._recipe_process = proc
        self.log.info("gateway-launcher: kernel %s launching (%s recipe, %s mode, pid %s)", kernel_id, self.launch, self.mode, proc.popen.pid)

        method, params = await self._await_verdict(client, ended, proc, kernel_id)
        if method != "connection-info":
            await self._cancel(client, kernel_id)
            proc.stop()
            await asyncio.get_running_loop().run_in_executor(None, recipe.cleanup, self._config(), kernel_id, log_path)
            raise self._launch_error(method, params, proc)

        info = dict(params["connection_info"])
        info["key"] = str(info["key"]).encode()
        self.connection_info = info
        self._control_target = params.get("control_target")
        self._launch_info = {"pid": params.get("pid"), "pgid": params.get("pgid"), "mode": params.get("mode"), "comm_port": params.get("comm_port")}
        self._launched = True
        self._watch_exit(client)
        if not proc.detached:
            # The launcher (or the ssh session carrying it) ending means the kernel is gone.
            this_launch = self._exited

            def on_process_end(f: Future) -> None:
                if self._exited is this_launch:  # not a late report from before a restart
                    self._mark_exited(f.result(), None, "launch process ended")

            proc.exited.add_done_callback(on_process_end)
        # kubectl and friends may take a while: not on the host's event loop.
        await asyncio.get_running_loop().run_in_executor(None, recipe.after_response, self._config(), kernel_id, log_path)
        await self._persist()
        self.log.info("gateway-launcher: kernel %s running at %s (launcher pid %s)", kernel_id, info.get("ip"), params.get("pid"))
        return self.connection_info

    async def _await_verdict(self, client: ServeClient, ended: Future, proc: RecipeProcess, kernel_id: str) -> tuple:
        """The registration's terminal notification, or an early end of the launch process."""
        verdict = asyncio.wrap_future(ended)
        exited = asyncio.wrap_future(proc.exited)
        # A safety net only: the listener's own timeout (launch_timeout) answers first.
        deadline = self.launch_timeout + RPC_TIMEOUT
        try:
            while True:
                waiting = [verdict] if exited is None else [verdict, exited]
                done, _ = await asyncio.wait(waiting, timeout=deadline, return_when=asyncio.FIRST_COMPLETED)
                if verdict in done:
                    try:
                        return verdict.result()
                    except ServeError as e:
                        return "registration-ended", {"kernel_id": kernel_id, "code": "GL_ERR_LISTENER_CLOSED", "message": str(e)}
                if exited is not None and exited in done:
                    code = exited.result()
                    if proc.detached and code == 0:
                        exited = None  # spark-submit / kubectl handed over; the response is still to come
                        continue
                    # The launcher usually reports its own failure first; give that a moment's priority.
                    try:
                        return await asyncio.wait_for(asyncio.shield(verdict), 2.0)
                    except asyncio.TimeoutError:
                        return "launch-exited", {"kernel_id": kernel_id, "exit_code": code}
                    except ServeError as e:
                        return "registration-ended", {"kernel_id": kernel_id, "code": "GL_ERR_LISTENER_CLOSED", "message": str(e)}
                if not done:
                    return "launch-timeout", {"kernel_id": kernel_id, "timeout_ms": int(deadline * 1000)}
        finally:
            if not verdict.done():
                verdict.cancel()
            client.drop_registration(kernel_id) if not ended.done() else None

    def _launch_error(self, method: str, params: Dict[str, Any], proc: RecipeProcess) -> KernelLaunchError:
        kid = self.kernel_id
        tail = proc.log_tail()
        if method == "launch-failed":
            how = f"exit code {params.get('exit_code')}" if params.get("exit_code") is not None else f"signal {params.get('signal')}"
            return KernelLaunchError(
                f"kernel {kid} failed to start ({how}): {params.get('message', '')}\n--- kernel stderr (tail) ---\n{params.get('stderr_tail', '')}",
                code="GL_ERR_KERNEL_FAILED", exit_code=params.get("exit_code"), stderr_tail=params.get("stderr_tail", ""))
        if method == "launch-exited":
            return KernelLaunchError(
                f"kernel {kid}: the {self.launch} launch command exited with status {params.get('exit_code')} before the kernel reported\n--- launcher output (tail) ---\n{tail}",
                code="GL_ERR_KERNEL_FAILED", exit_code=params.get("exit_code"), stderr_tail=tail)
        if method == "launch-timeout":
            return KernelLaunchError(
                f"kernel {kid}: no response from gateway-launcher within {params.get('timeout_ms')} ms (GL_ERR_REGISTRATION_TIMEOUT)\n--- launcher output (tail) ---\n{tail}",
                code="GL_ERR_REGISTRATION_TIMEOUT", stderr_tail=tail)
        return KernelLaunchError(f"kernel {kid}: registration ended: {params.get('code')}: {params.get('message')}\n--- launcher output (tail) ---\n{tail}",
                                 code=params.get("code"), stderr_tail=tail)

    async def _cancel(self, client: ServeClient, kernel_id: str) -> None:
        try:
            await client.call("cancel", {"kernel_id": kernel_id}, RPC_TIMEOUT)
        except (ServeError, asyncio.TimeoutError):
            pass

    # ------------------------------------------------------------ lifecycle

    def _watch_exit(self, client: ServeClient) -> None:
        exited = self._exited

        def on_exit(f: Future) -> None:
            if f.cancelled() or f.exception() is not None:
                return  # the serve process went away; a new one re-arms this
            p = f.result()
            if self._exited is exited:
                self._mark_exited(p.get("exit_code"), p.get("signal"), "kernel-exit")

        client.exit_future(self.kernel_id).add_done_callback(on_exit)

    def _mark_exited(self, exit_code: Optional[int], sig: Optional[str], why: str) -> None:
        if self._exited.done():
            return
        code = exit_code
        if code is None:
            try:
                code = -int(signal.Signals[sig]) if sig else -1
            except KeyError:
                code = -1
        self.log.info("gateway-launcher: kernel %s exited (%s, status %s)", self.kernel_id, why, code)
        self._exited.set_result(code)

    async def poll(self) -> Optional[int]:
        if not self._launched:
            return 0
        if self._exited.done():
            return self._exited.result()
        return None

    async def wait(self) -> Optional[int]:
        if not self._launched:
            return 0
        code = await asyncio.wrap_future(self._exited)
        self._launched = False
        return code

    async def _control(self, action: str, **extra: Any) -> Dict[str, Any]:
        if self._exited.done():
            return {"ok": False, "code": "GL_ERR_KERNEL_EXITED", "message": "the kernel has exited"}
        try:
            client = await self._serve()
            result = await client.call("control", {"kernel_id": self.kernel_id, "action": action, **extra}, RPC_TIMEOUT)
        except (ServeError, asyncio.TimeoutError) as e:
            return {"ok": False, "code": getattr(e, "gl_code", None) or "GL_ERR_CONTROL_FAILED", "message": str(e)}
        if not result.get("ok"):
            self.log.warning("gateway-launcher: kernel %s: %s failed: %s %s", self.kernel_id, action, result.get("code"), result.get("message"))
        return result

    async def send_signal(self, signum: int) -> None:
        if signum == 0 or not self._launched:
            return
        if signum == signal.SIGINT:
            await self._control("interrupt")
        else:
            await self._control("signal", signal=_signal_name(signum))

    async def terminate(self, restart: bool = False) -> None:
        if self._launched:
            await self._control("shutdown")

    async def kill(self, restart: bool = False) -> None:
        if not self._launched or self._exited.done():
            return
        result = await self._control("signal", signal="SIGKILL")
        if result.get("ok") or result.get("code") not in UNREACHABLE:
            return
        # The launcher cannot be reached: stop what we started ourselves, and
        # count the kernel as gone (kill is the last resort; nobody can do more).
        proc = self._recipe_process
        if proc is not None and not proc.detached:
            proc.stop(signal.SIGKILL)
        self._mark_exited(None, "SIGKILL", f"launcher unreachable ({result.get('code')})")

    async def shutdown_requested(self, restart: bool = False) -> None:
        pass

    async def cleanup(self, restart: bool = False) -> None:
        kernel_id = self.kernel_id
        client = self._client
        if client is not None and client.alive:
            try:
                await client.call("forget", {"kernel_id": kernel_id}, RPC_TIMEOUT)
            except (ServeError, asyncio.TimeoutError):
                pass
        proc = self._recipe_process
        if proc is not None and not proc.detached and proc.popen.poll() is None:
            proc.stop(signal.SIGTERM)
        self._recipe_process = None
        if not restart:
            await asyncio.get_running_loop().run_in_executor(None, RECIPES[self.launch].cleanup, self._config(), kernel_id, state.log_path(self._state_dir(), kernel_id))
            state.remove(self._state_dir(), kernel_id)
        self._launched = False

    def get_shutdown_wait_time(self, recommended: float = 5.0) -> float:
        return max(recommended, self.shutdown_wait_time)

    def get_stable_start_time(self, recommended: float = 10.0) -> float:
        return max(recommended, self.launch_timeout)

    # ----------------------------------------------------------- persistence

    async def get_provisioner_info(self) -> Dict[str, Any]:
        info = await super().get_provisioner_info()
        conn = dict(info.get("connection_info") or {})
        if isinstance(conn.get("key"), bytes):
            conn["key"] = conn["key"].decode()
        info["connection_info"] = conn
        info["gateway_launcher"] = {"control_target": self._control_target, "config": self._config(), **self._launch_info}
        return info

    async def load_provisioner_info(self, provisioner_info: Dict) -> None:
        await super().load_provisioner_info(provisioner_info)
        conn = dict(self.connection_info)
        if isinstance(conn.get("key"), str):
            conn["key"] = conn["key"].encode()
        self.connection_info = conn
        ours = provisioner_info.get("gateway_launcher") or {}
        self._control_target = ours.get("control_target")
        self._launch_info = {k: ours.get(k) for k in ("pid", "pgid", "mode", "comm_port")}
        if self._control_target is None:
            raise KernelLaunchError(f"kernel {self.kernel_id}: provisioner info has no control target")
        self._exited = Future()
        client, _ = shared_client(self._listener_argv(), log=self.log)
        await asyncio.wait_for(asyncio.wrap_future(client.ready), RPC_TIMEOUT)
        self._client = client
        await self._adopt(client)
        self._launched = True

    async def _persist(self) -> None:
        kernel_name = getattr(self.parent, "kernel_name", None) or ""
        state.save(self._state_dir(), self.kernel_id, {"kernel_name": kernel_name, "provisioner_info": await self.get_provisioner_info()})
