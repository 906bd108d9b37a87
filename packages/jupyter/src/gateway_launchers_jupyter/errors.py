"""Errors the provisioner raises into its host."""
from __future__ import annotations

from typing import Optional

__all__ = ["KernelLaunchError"]


class KernelLaunchError(RuntimeError):
    """A kernel could not be started; the message carries the launcher's exit code and stderr tail.

    ``code`` is the ``GL_ERR_*`` code when one applies (``GL_ERR_KERNEL_FAILED``,
    ``GL_ERR_REGISTRATION_TIMEOUT``, …); hosts branch on it, not on the message.
    """

    def __init__(self, message: str, code: Optional[str] = None, exit_code: Optional[int] = None, stderr_tail: str = ""):
        super().__init__(message)
        self.code = code
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail
