"""The exception hierarchy: one base, a few kinds, every message says what to do.

Each class carries the builtin it behaves like (``ValueError``, ``FileNotFoundError``…) so
callers that know nothing of this package still catch it sensibly, and ``http_status`` so the
server maps every error to a response in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar


class ContainerKernelError(Exception):
    """Base of every error this package raises on purpose."""

    http_status = 500


class SpecError(ContainerKernelError, ValueError):
    """A value in a container spec, resource request or catalog is invalid.

    ``field`` names the offending key (``binds[1]``, ``gpu``, ``kernels.pytorch.image``…).
    """

    http_status = 400

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class PolicyError(ContainerKernelError, PermissionError):
    """Valid input that the site's policy refuses (image outside the allowed roots…)."""

    http_status = 403


class NotFoundError(ContainerKernelError, LookupError):
    """A named thing (kernel, job, notebook) does not exist."""

    http_status = 404


class ConflictError(ContainerKernelError):
    """The request conflicts with what exists (a kernel of that name…)."""

    http_status = 409


class CancelledError(ContainerKernelError):
    """An operation was cancelled on request (a pull stopped by ``DELETE images/pulls/{id}``)."""

    http_status = 409


class ImageError(ContainerKernelError, FileNotFoundError):
    """The image is missing, unreadable, or cannot run a kernel."""

    http_status = 400


class RegistryError(ContainerKernelError):
    """A registry refused or failed a pull. ``kind`` says which (``not-found``,
    ``unauthorized``, ``rate-limited``, ``tls``, ``no-space``, ``unreachable``, ``failed``);
    the one-line message names the fix."""

    STATUS: ClassVar[dict[str, int]] = {"not-found": 404, "unauthorized": 403, "rate-limited": 429, "tls": 502,
              "no-space": 507, "unreachable": 502, "failed": 502}  # fmt: skip

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        self.http_status = self.STATUS[kind]
        super().__init__(message)


class RuntimeNotFoundError(ContainerKernelError, FileNotFoundError):
    """The container runtime executable is not on PATH (after modules) nor configured."""

    http_status = 503


class ModuleLoadError(ContainerKernelError):
    """``module load`` failed; the message carries the module system's own words."""

    http_status = 400


class ProcessError(ContainerKernelError):
    """A command exited non-zero. Carries argv, return code and the tail of stderr."""

    http_status = 502

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str, hint: str = "") -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr
        tail = stderr.strip() or "(no output on stderr)"
        message = f"`{_show(argv)}` exited with status {returncode}:\n{tail}"
        if hint:
            message += f"\n{hint}"
        super().__init__(message)


class CommandNotFoundError(ContainerKernelError, FileNotFoundError):
    """An executable could not be started because it does not exist."""

    http_status = 503


class ProcessTimeoutError(ContainerKernelError, TimeoutError):
    """A command did not finish in time; it has been killed."""

    http_status = 504

    def __init__(self, argv: Sequence[str], timeout: float, stderr: str = "") -> None:
        self.argv = list(argv)
        self.timeout = timeout
        self.stderr = stderr
        message = f"`{_show(argv)}` did not finish within {timeout:g} s and was stopped."
        if stderr.strip():
            message += f"\nLast output on stderr:\n{stderr.strip()}"
        super().__init__(message)


class KernelStartError(ContainerKernelError, RuntimeError):
    """The container exited while the kernel was starting."""

    http_status = 500


class SchedulerError(ContainerKernelError):
    """Slurm refused a request (bad partition, invalid account…); the message quotes it."""

    http_status = 400


class SchedulerUnavailableError(ContainerKernelError):
    """Slurm cannot be reached or its commands are missing."""

    http_status = 503


def _show(argv: Sequence[str]) -> str:
    import shlex

    return " ".join(shlex.quote(a) for a in argv)
