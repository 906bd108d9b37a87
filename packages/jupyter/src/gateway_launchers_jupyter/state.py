"""Files the provisioner keeps per running kernel, so a restarted host can adopt it.

``<state_dir>/kernels/<kernel_id>.json`` (0600): the kernel name and the
provisioner info (connection info with its HMAC key, the launcher's control
target; never the launch token). ``<state_dir>/kernels/<kernel_id>.log``: the
launch command's output. The directory is 0700.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterator, Tuple

from jupyter_core.paths import jupyter_runtime_dir

__all__ = ["default_state_dir", "default_key_file", "save", "remove", "load_all", "log_path"]


def default_state_dir() -> str:
    return os.path.join(jupyter_runtime_dir(), "gateway-launcher")


def default_key_file() -> str:
    return os.path.join(default_state_dir(), "listener-key.json")


def _kernels(state_dir: str) -> str:
    d = os.path.join(state_dir, "kernels")
    os.makedirs(d, mode=0o700, exist_ok=True)
    return d


def log_path(state_dir: str, kernel_id: str) -> str:
    return os.path.join(_kernels(state_dir), f"{kernel_id}.log")


def save(state_dir: str, kernel_id: str, record: Dict[str, Any]) -> None:
    path = os.path.join(_kernels(state_dir), f"{kernel_id}.json")
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)
    os.replace(tmp, path)


def remove(state_dir: str, kernel_id: str) -> None:
    for suffix in (".json", ".log"):
        try:
            os.remove(os.path.join(_kernels(state_dir), f"{kernel_id}{suffix}"))
        except FileNotFoundError:
            pass


def load_all(state_dir: str) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """``(kernel_id, record)`` for every recorded kernel; unreadable records are skipped."""
    d = os.path.join(state_dir, "kernels")
    if not os.path.isdir(d):
        return
    for name in sorted(os.listdir(d)):
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(d, name)) as f:
                record = json.load(f)
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and isinstance(record.get("provisioner_info"), dict):
            yield name[: -len(".json")], record
