"""Launch recipes: how ``gateway-launcher`` gets started for one kernel.

Each recipe turns the kernelspec's ``argv`` (the ``gateway-launcher`` command
line), the registration's flags and environment, and the kernelspec's
``metadata.kernel_provisioner.config`` into a local process:

- ``local``: ``gateway-launcher`` itself, on this host;
- ``ssh``: ``<home>/ssh/launch-over-ssh.sh`` (the token goes over ssh's stdin);
- ``yarn``: ``<home>/yarn/run.sh`` (``spark-submit`` in cluster mode);
- ``kubernetes``: ``kubectl create -f -`` fed the rendered
  ``<home>/container/kernel-pod.yaml`` (the token only in its Secret).

``<home>`` is the gateway-launcher bundle (or the repository's ``deploy/``).
The launch token reaches the process through its environment or stdin only,
never through ``argv``.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

__all__ = ["LaunchContext", "RecipeProcess", "LaunchRecipe", "RECIPES", "launcher_arguments", "render_pod_template", "RecipeError"]

#: Bytes of a recipe's output kept for error messages.
LOG_TAIL_BYTES = 8 * 1024
#: Placeholders in a pod template: ${NAME}.
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class RecipeError(RuntimeError):
    """A recipe cannot start (configuration or template problem); the message names it."""


@dataclass
class LaunchContext:
    """Everything a recipe needs for one launch."""

    kernel_id: str
    #: kernelspec argv + extra arguments, placeholders untouched (``{connection_file}`` is the launcher's).
    argv: List[str]
    #: ``--kernel-id … --response-address … --public-key … --port-range …`` from ``register``.
    registration_flags: List[str]
    #: host env + kernelspec env + the registration's ``KERNEL_*`` (with the token).
    env: Dict[str, str]
    config: Mapping[str, Any]
    home: str
    log_path: str
    cwd: Optional[str] = None


@dataclass
class RecipeProcess:
    """The local process a recipe started; ``exited`` resolves with its status."""

    popen: subprocess.Popen
    log_path: str
    #: True when the process is expected to return before the kernel reports
    #: (``spark-submit`` with waitAppCompletion=false, ``kubectl create``).
    detached: bool
    exited: Future = field(default_factory=Future)

    def log_tail(self, limit: int = LOG_TAIL_BYTES) -> str:
        return read_tail(self.log_path, limit)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Signals the process group (the recipe's shell and what it started), if still running."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
            except OSError:
                pass


def read_tail(path: str, limit: int = LOG_TAIL_BYTES) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def launcher_arguments(argv: List[str], extra_flags: List[str]) -> List[str]:
    """The launcher's arguments: ``argv[1:]`` with ``extra_flags`` inserted before a ``--``.

    Everything after ``--`` is the kernel's own command line (``{connection_file}``
    and all), so flags go before it.
    """
    args = list(argv[1:])
    if "--" in args:
        i = args.index("--")
        return args[:i] + list(extra_flags) + args[i:]
    return args + list(extra_flags)


def _spawn(ctx: LaunchContext, cmd: List[str], env: Dict[str, str], *, detached: bool, stdin_data: Optional[bytes] = None) -> RecipeProcess:
    """Starts ``cmd`` in its own session, output appended to the kernel's log file."""
    fd = os.open(ctx.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        popen = subprocess.Popen(
            cmd,
            env=env,
            cwd=ctx.cwd if ctx.cwd and os.path.isdir(ctx.cwd) else None,
            stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
            # A file, not a pipe: the launcher keeps writing logs after a host
            # restart, when nobody would read a pipe any more.
            stdout=fd,
            stderr=fd,
            # Own session: the host's Ctrl-C or exit does not reach the launcher;
            # stopping it is the provisioner's decision.
            start_new_session=True,
        )
    except OSError as e:
        raise RecipeError(f"cannot start {cmd[0]}: {e}") from e
    finally:
        os.close(fd)
    proc = RecipeProcess(popen=popen, log_path=ctx.log_path, detached=detached)
    if stdin_data is not None:
        assert popen.stdin is not None
        try:
            popen.stdin.write(stdin_data)
            popen.stdin.close()
        except OSError:
            pass  # it died at once; its status and log say why

    def reap() -> None:
        code = popen.wait()
        proc.exited.set_result(code)

    threading.Thread(target=reap, name=f"gateway-launcher-recipe-{ctx.kernel_id}", daemon=True).start()
    return proc


class LaunchRecipe:
    """One way to start ``gateway-launcher``. Subclasses implement :meth:`start`."""

    name = ""

    def start(self, ctx: LaunchContext) -> RecipeProcess:
        raise NotImplementedError

    def after_response(self, ctx_config: Mapping[str, Any], kernel_id: str, log_path: str) -> None:
        """Called once the kernel's connection info arrived."""

    def cleanup(self, ctx_config: Mapping[str, Any], kernel_id: str, log_path: str) -> None:
        """Called when the kernel is gone for good (not before a restart)."""


def _script(ctx: LaunchContext, relative: str, option: str) -> str:
    path = ctx.config.get(option) or os.path.join(ctx.home, relative)
    if not os.path.isfile(path):
        raise RecipeError(f"{path} not found: set the provisioner's 'home' to the gateway-launcher bundle (or '{option}')")
    return path


class LocalRecipe(LaunchRecipe):
    """``gateway-launcher`` as a process of this host."""

    name = "local"

    def start(self, ctx: LaunchContext) -> RecipeProcess:
        launcher = ctx.config.get("launcher") or ctx.argv[0]
        cmd = [launcher] + launcher_arguments(ctx.argv, ctx.registration_flags)
        return _spawn(ctx, cmd, ctx.env, detached=False)


class SshRecipe(LaunchRecipe):
    """``launch-over-ssh.sh``: the launcher on one of ``hosts`` (the kernel id picks it)."""

    name = "ssh"

    def start(self, ctx: LaunchContext) -> RecipeProcess:
        script = _script(ctx, "ssh/launch-over-ssh.sh", "ssh_script")
        env = dict(ctx.env)
        hosts = ctx.config.get("hosts")
        if hosts:
            env["GATEWAY_SSH_HOSTS"] = hosts if isinstance(hosts, str) else " ".join(hosts)
        for option, var in (("ssh_options", "GATEWAY_SSH_OPTS"), ("remote_launcher", "GATEWAY_LAUNCHER_REMOTE"), ("remote_node", "GATEWAY_LAUNCHER_REMOTE_NODE")):
            if ctx.config.get(option):
                env[var] = str(ctx.config[option])
        if not env.get("GATEWAY_SSH_HOSTS", "").strip():
            raise RecipeError("the ssh recipe needs 'hosts' in the kernelspec's provisioner config (or GATEWAY_SSH_HOSTS)")
        return _spawn(ctx, [script] + launcher_arguments(ctx.argv, ctx.registration_flags), env, detached=False)


class YarnRecipe(LaunchRecipe):
    """``run.sh``: ``spark-submit --master yarn --deploy-mode cluster`` with the launcher as the driver."""

    name = "yarn"

    def start(self, ctx: LaunchContext) -> RecipeProcess:
        script = _script(ctx, "yarn/run.sh", "yarn_script")
        env = dict(ctx.env)
        for option, var in (("spark_home", "SPARK_HOME"), ("spark_opts", "SPARK_OPTS"), ("launcher_archive", "GATEWAY_LAUNCHER_ARCHIVE")):
            if ctx.config.get(option):
                env[var] = str(ctx.config[option])
        return _spawn(ctx, [script] + launcher_arguments(ctx.argv, ctx.registration_flags), env, detached=True)


def render_pod_template(template: str, values: Mapping[str, str]) -> str:
    """Fills ``${NAME}`` placeholders of a pod template with JSON-string-escaped values.

    Comment lines are dropped first (the shipped template names its
    placeholders in comments, and a token must not land in one). A placeholder
    without a value is an error naming it.
    """
    lines = [line for line in template.splitlines() if not line.lstrip().startswith("#")]
    missing = sorted({m.group(1) for line in lines for m in _PLACEHOLDER.finditer(line) if m.group(1) not in values})
    if missing:
        raise RecipeError(f"pod template placeholders without a value: {', '.join(missing)}")
    # The template puts every placeholder inside a double-quoted YAML string,
    # whose escapes are JSON's.
    return "\n".join(_PLACEHOLDER.sub(lambda m: json.dumps(str(values[m.group(1)]))[1:-1], line) for line in lines) + "\n"


def _object_name(kernel_id: str) -> str:
    return kernel_id.lower()


class KubernetesRecipe(LaunchRecipe):
    """The pod template rendered per kernel and created with ``kubectl create -f -``.

    ``create``, not ``apply``: ``apply`` would copy the Secret's token into a
    ``last-applied-configuration`` annotation.
    """

    name = "kubernetes"

    def _kubectl(self, config: Mapping[str, Any]) -> List[str]:
        kubectl = config.get("kubectl") or "kubectl"
        return [kubectl] if isinstance(kubectl, str) else list(kubectl)

    def start(self, ctx: LaunchContext) -> RecipeProcess:
        template_path = _script(ctx, "container/kernel-pod.yaml", "pod_template")
        image = ctx.config.get("image")
        if not image:
            raise RecipeError("the kubernetes recipe needs 'image' in the kernelspec's provisioner config")
        values = {k: v for k, v in ctx.env.items() if k.startswith("KERNEL_")}
        values["KERNEL_ID"] = _object_name(ctx.kernel_id)
        values["KERNEL_NAMESPACE"] = str(ctx.config.get("namespace") or "default")
        values["KERNEL_IMAGE"] = str(image)
        with open(template_path, encoding="utf-8") as f:
            manifest = render_pod_template(f.read(), values)
        # kubectl gets the host's environment (KUBECONFIG, …), not the token.
        env = {k: v for k, v in ctx.env.items() if k != "KERNEL_LAUNCH_TOKEN"}
        cmd = self._kubectl(ctx.config) + ["create", "--namespace", values["KERNEL_NAMESPACE"], "-f", "-"]
        return _spawn(ctx, cmd, env, detached=True, stdin_data=manifest.encode())

    def _run(self, config: Mapping[str, Any], args: List[str], log_path: str) -> None:
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            subprocess.run(self._kubectl(config) + args, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired):
            pass
        finally:
            os.close(fd)

    def after_response(self, ctx_config: Mapping[str, Any], kernel_id: str, log_path: str) -> None:
        # The token is one-time and now spent: its Secret can go.
        ns = str(ctx_config.get("namespace") or "default")
        self._run(ctx_config, ["delete", "secret", f"kernel-{_object_name(kernel_id)}-launch", "--namespace", ns, "--ignore-not-found", "--wait=false"], log_path)

    def cleanup(self, ctx_config: Mapping[str, Any], kernel_id: str, log_path: str) -> None:
        ns = str(ctx_config.get("namespace") or "default")
        name = _object_name(kernel_id)
        self._run(ctx_config, ["delete", "pod", f"kernel-{name}", "--namespace", ns, "--ignore-not-found", "--wait=false"], log_path)
        self._run(ctx_config, ["delete", "secret", f"kernel-{name}-launch", "--namespace", ns, "--ignore-not-found", "--wait=false"], log_path)


RECIPES: Dict[str, LaunchRecipe] = {r.name: r for r in (LocalRecipe(), SshRecipe(), YarnRecipe(), KubernetesRecipe())}
