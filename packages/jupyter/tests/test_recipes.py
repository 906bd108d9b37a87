"""The ssh and kubernetes launch recipes, driven through jupyter_client's KernelManager.

ssh: a private sshd on 127.0.0.1 (needs openssh-server and root), the
repository's deploy/ssh/launch-over-ssh.sh, the launcher run remotely by node.
kubernetes: no cluster here. A fake ``kubectl`` on PATH records its argv and
stdin and, for ``create``, plays the kubelet: it starts gateway-launcher with
exactly the pod's environment (the token resolved from the Secret), so the
kernel really runs and reports; what is tested is the rendering and the
kubectl invocations, not a cluster.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import textwrap
from pathlib import Path
from typing import Any, Dict, List

import pytest
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager

from gateway_launchers_jupyter.recipes import RecipeError, launcher_arguments, render_pod_template
from conftest import BOUND, LAUNCHER_CLI, NODE, PYTHON, REPO, command_lines_containing, launch_token_of, wait_gone, write_kernelspec

SSHD = "/usr/sbin/sshd"


def _execute(km: KernelManager, code: str) -> str:
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=BOUND)
        out: List[str] = []
        reply = kc.execute_interactive(code, timeout=BOUND, output_hook=lambda m: out.append(m["content"]["text"]) if m["msg_type"] == "stream" else None)
        assert reply["content"]["status"] == "ok", reply["content"]
        return "".join(out)
    finally:
        kc.stop_channels()


@pytest.fixture()
def sshd(tmp_path: Path) -> Dict[str, Any]:
    if not (os.path.exists(SSHD) and os.getuid() == 0):
        pytest.skip("needs openssh-server and root (a throwaway sshd on 127.0.0.1)")
    d = tmp_path / "sshd"
    d.mkdir()
    for k in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / k)], check=True)
    (d / "authorized_keys").write_bytes((d / "client_key.pub").read_bytes())
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (d / "sshd_config").write_text("\n".join([
        "ListenAddress 127.0.0.1", f"Port {port}", f"HostKey {d / 'host_key'}", f"AuthorizedKeysFile {d / 'authorized_keys'}",
        "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password", "StrictModes no",
        "UsePAM no", f"PidFile {d / 'sshd.pid'}", ""]))
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    listening = threading.Event()

    def read() -> None:
        for line in proc.stderr:  # type: ignore[union-attr]
            if "Server listening" in line:
                listening.set()
        listening.set()

    threading.Thread(target=read, daemon=True).start()
    assert listening.wait(BOUND) and proc.poll() is None, "sshd did not start"
    yield {"port": port, "key": str(d / "client_key")}
    proc.terminate()
    proc.wait()


def test_ssh_recipe_runs_the_kernel_over_ssh_with_the_token_on_stdin(tools: Dict[str, Any], tmp_path: Path, sshd: Dict[str, Any]) -> None:
    root = tmp_path / "kernels"
    write_kernelspec(root, "gl_ssh", {
        "launch": "ssh",
        "hosts": ["127.0.0.1"],
        "ssh_options": f"-p {sshd['port']} -i {sshd['key']} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
        "remote_launcher": str(LAUNCHER_CLI),
        "remote_node": NODE,
        "home": str(REPO / "deploy"),
        "launch_timeout": 120,
    }, env={"KERNEL_USERNAME": "o'brien"})
    km = KernelManager(kernel_name="gl_ssh", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(root)]))
    km.start_kernel()
    try:
        ssh_pid = km.provisioner._recipe_process.popen.pid
        launcher_pid = km.provisioner._launch_info["pid"]
        token = launch_token_of(ssh_pid)  # launch-over-ssh.sh got it in its environment
        assert command_lines_containing(token) == [], "the token is on no command line (ssh, remote shell, launcher, kernel)"
        out = _execute(km, "import os; print(os.environ.get('KERNEL_LAUNCH_TOKEN'), os.environ['KERNEL_USERNAME'], os.getpid())")
        seen_token, user, kernel_pid = out.split()
        assert (seen_token, user) == ("None", "o'brien")
        assert km.is_alive()
    finally:
        km.shutdown_kernel()
    assert not km.is_alive()
    assert wait_gone(int(kernel_pid)) and wait_gone(launcher_pid) and wait_gone(ssh_pid), "a process of the ssh launch was left behind"


FAKE_KUBECTL = textwrap.dedent('''\
    #!{python}
    # Fake kubectl: records each invocation; "create" plays the kubelet for the pod.
    import json, os, signal, subprocess, sys, yaml
    record = os.environ["FAKE_KUBECTL_RECORD"]
    data = sys.stdin.read() if "-f" in sys.argv and sys.argv[sys.argv.index("-f") + 1] == "-" else ""
    with open(record, "a") as f:
        f.write(json.dumps({{"argv": sys.argv[1:], "stdin": data}}) + "\\n")
    pids = record + ".pids"
    if sys.argv[1] == "create":
        docs = [d for d in yaml.safe_load_all(data) if d]
        secrets = {{d["metadata"]["name"]: d["stringData"] for d in docs if d["kind"] == "Secret"}}
        pod = next(d for d in docs if d["kind"] == "Pod")
        env = {{"PATH": os.environ["PATH"], "HOME": "/tmp", "KERNEL_IP": "127.0.0.1", "KERNEL_PYTHON": "{kernel_python}", "KERNEL_LANGUAGE": "python"}}
        for e in pod["spec"]["containers"][0]["env"]:
            ref = e.get("valueFrom", {{}}).get("secretKeyRef")
            env[e["name"]] = secrets[ref["name"]][ref["key"]] if ref else e["value"]
        log = open(record + ".pod.log", "ab")
        p = subprocess.Popen(["gateway-launcher", "--kernel-language", "python"], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        with open(pids, "a") as f:
            f.write(f"{{pod['metadata']['name']}} {{p.pid}}\\n")
    elif sys.argv[1:3] == ["delete", "pod"] and os.path.exists(pids):
        for line in open(pids):
            name, pid = line.split()
            if name == sys.argv[3]:
                try:
                    os.kill(int(pid), signal.SIGTERM)
                except ProcessLookupError:
                    pass
''')


def test_kubernetes_recipe_renders_the_pod_template_and_creates_it_with_kubectl(tools: Dict[str, Any], tmp_path: Path) -> None:
    pytest.importorskip("yaml")  # the fake kubelet parses the manifest (python3-yaml); the provisioner does not
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL.format(python=PYTHON, kernel_python=PYTHON))
    kubectl.chmod(0o755)
    record = tmp_path / "kubectl.jsonl"
    os.environ["FAKE_KUBECTL_RECORD"] = str(record)
    root = tmp_path / "kernels"
    write_kernelspec(root, "gl_k8s", {"launch": "kubernetes", "image": "gateway-kernel-python:latest", "namespace": "kernels",
                                      "kubectl": str(kubectl), "home": str(REPO / "deploy"), "launch_timeout": 120},
                     argv=["gateway-launcher", "--kernel-language", "python"])
    km = KernelManager(kernel_name="gl_k8s", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(root)]))
    km.start_kernel()
    try:
        out = _execute(km, "import os; print(os.environ.get('KERNEL_LAUNCH_TOKEN'), os.getpid())")
        seen_token, kernel_pid = out.split()
        assert seen_token == "None"
    finally:
        km.shutdown_kernel()
    assert wait_gone(int(kernel_pid))

    calls = [json.loads(line) for line in record.read_text().splitlines()]
    create = calls[0]
    name = km.kernel_id.lower()
    assert create["argv"] == ["create", "--namespace", "kernels", "-f", "-"]
    import yaml

    secret, pod = list(yaml.safe_load_all(create["stdin"]))
    token = secret["stringData"]["token"]
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == f"kernel-{name}-launch" and secret["metadata"]["namespace"] == "kernels"
    assert pod["kind"] == "Pod" and pod["metadata"]["name"] == f"kernel-{name}" and pod["spec"]["containers"][0]["image"] == "gateway-kernel-python:latest"
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    assert env["KERNEL_LAUNCH_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": f"kernel-{name}-launch", "key": "token"}
    assert create["stdin"].count(token) == 1, "the token is in the Secret only (not in a comment, not in the pod spec)"
    assert all(token not in " ".join(c["argv"]) for c in calls), "the token is on no kubectl command line"
    assert ["delete", "secret", f"kernel-{name}-launch", "--namespace", "kernels", "--ignore-not-found", "--wait=false"] in [c["argv"] for c in calls[1:3]], "the spent token's Secret is deleted after the response"
    assert ["delete", "pod", f"kernel-{name}", "--namespace", "kernels", "--ignore-not-found", "--wait=false"] in [c["argv"] for c in calls], "the pod is deleted with the kernel"


def test_pod_template_rendering_escapes_values_and_names_missing_placeholders() -> None:
    text = 'a: "${KERNEL_ID}"\n# ${KERNEL_LAUNCH_TOKEN} only a comment\nb: "${KERNEL_LAUNCH_TOKEN}"\n'
    out = render_pod_template(text, {"KERNEL_ID": "k1", "KERNEL_LAUNCH_TOKEN": 'x"y\\z'})
    assert out == 'a: "k1"\nb: "x\\"y\\\\z"\n'
    with pytest.raises(RecipeError, match="KERNEL_IMAGE"):
        render_pod_template('image: "${KERNEL_IMAGE}"\n', {})


def test_registration_flags_go_before_the_kernels_own_command_line() -> None:
    flags = ["--kernel-id", "k1"]
    assert launcher_arguments(["gateway-launcher", "--kernel-language", "python"], flags) == ["--kernel-language", "python", "--kernel-id", "k1"]
    assert launcher_arguments(["gateway-launcher", "--", "R", "--args", "{connection_file}"], flags) == ["--kernel-id", "k1", "--", "R", "--args", "{connection_file}"]
