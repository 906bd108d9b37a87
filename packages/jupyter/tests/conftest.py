"""Fixtures for the provisioner's tests: real gateway-listener / gateway-launcher
processes (the repository's builds, behind wrapper scripts named as on an
operator's PATH), real ipykernel, real Jupyter Server, loopback only.

Nothing here waits for a fixed time: every wait is for an event (a message, a
process exit, a log line), with a generous bound only as a safety net.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

REPO = Path(os.environ.get("GL_REPO_ROOT") or Path(__file__).resolve().parents[3])
NODE = os.environ.get("GL_NODE") or shutil.which("node") or "node"
PYTHON = "/usr/bin/python3"  # Debian's: the one with ipykernel
LISTENER_CLI = REPO / "packages/listener/dist/cli.js"
LAUNCHER_CLI = REPO / "packages/launcher/dist/cli.js"
#: Safety-net bound for waits on events (the machine may be very busy).
BOUND = 120.0


def _wrapper(path: Path, target: Path) -> None:
    path.write_text(f'#!/bin/sh\nexec "{NODE}" "{target}" "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture(scope="session")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    """``gateway-listener`` and ``gateway-launcher`` on PATH, a runtime dir, loopback listener."""
    for cli in (LISTENER_CLI, LAUNCHER_CLI):
        assert cli.is_file(), f"{cli} missing: run npm run build"
    base = tmp_path_factory.mktemp("gl")
    bin_dir = base / "bin"
    bin_dir.mkdir()
    _wrapper(bin_dir / "gateway-listener", LISTENER_CLI)
    _wrapper(bin_dir / "gateway-launcher", LAUNCHER_CLI)
    runtime = base / "runtime"
    runtime.mkdir(mode=0o700)
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ["JUPYTER_RUNTIME_DIR"] = str(runtime)
    os.environ["GP_RESPONSE_IP"] = "127.0.0.1"
    os.environ["GP_RESPONSE_PORT"] = "0"
    return {"base": base, "bin": bin_dir, "runtime": runtime}


def write_kernelspec(root: Path, name: str, config: Dict[str, Any], argv: Optional[List[str]] = None, env: Optional[Dict[str, str]] = None, interrupt_mode: str = "signal") -> Path:
    """A kernel.json as an operator writes it: gateway-launcher's argv, the provisioner and its config."""
    d = root / name
    d.mkdir(parents=True, exist_ok=True)
    spec = {
        "display_name": f"{name} (gateway-launcher)",
        "language": "python",
        "interrupt_mode": interrupt_mode,
        "argv": argv or ["gateway-launcher", "--kernel-language", "python"],
        "env": {"KERNEL_PYTHON": PYTHON, "KERNEL_IP": "127.0.0.1", **(env or {})},
        "metadata": {"kernel_provisioner": {"provisioner_name": "gateway-launcher", "config": config}},
    }
    (d / "kernel.json").write_text(json.dumps(spec, indent=2))
    return d


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited; it is only waiting for its parent
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pid: int, bound: float = BOUND) -> bool:
    """Waits for process ``pid`` to end (the event), ``bound`` seconds at most."""
    end = time.monotonic() + bound
    while time.monotonic() < end:
        if not process_alive(pid):
            return True
        time.sleep(0.05)
    return not process_alive(pid)


def command_lines_containing(needle: str) -> List[int]:
    """Pids whose command line contains ``needle`` (scans /proc)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if needle.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def launch_token_of(pid: int) -> str:
    """The launch token in the environment the launcher process was started with."""
    with open(f"/proc/{pid}/environ", "rb") as f:
        for item in f.read().split(b"\0"):
            if item.startswith(b"KERNEL_LAUNCH_TOKEN="):
                return item.split(b"=", 1)[1].decode()
    raise AssertionError(f"process {pid} has no KERNEL_LAUNCH_TOKEN")


# ------------------------------------------------------------ result report
# The tap test that runs pytest reads this file: one JSON line per test.

_results: Dict[str, Dict[str, Any]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    r = _results.setdefault(report.nodeid, {"nodeid": report.nodeid, "outcome": "passed", "details": ""})
    if report.failed:
        r["outcome"] = "failed"
        r["details"] += f"[{report.when}] {report.longreprtext[-6000:]}\n"
    elif report.skipped and r["outcome"] != "failed":
        r["outcome"] = "skipped"
        r["details"] = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else str(report.longrepr)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        _results[report.nodeid or "collection"] = {"nodeid": report.nodeid or "collection", "outcome": "failed", "details": report.longreprtext[-6000:]}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    out = os.environ.get("GL_PYTEST_REPORT")
    if out:
        with open(out, "w") as f:
            for r in _results.values():
                f.write(json.dumps(r) + "\n")
