"""The one place that starts short-lived processes: argument lists only, a timeout, typed errors.

Kernels themselves are started by jupyter_client's ``launch_kernel`` (through the provisioner);
every other command this package runs (``module``, probes, ``sbatch``, ``squeue``…) goes through
:func:`run`. Tests fake only what the machine lacks by putting a stand-in on ``PATH``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .errors import CommandNotFoundError, ProcessError, ProcessTimeoutError

#: How much of stderr an error message quotes.
STDERR_TAIL_LINES = 20


@dataclass(frozen=True)
class Completed:
    """The outcome of a finished command."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    """The last ``lines`` non-empty lines of ``text``."""
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def which(executable: str, env: Mapping[str, str] | None = None) -> str | None:
    """Resolve ``executable`` against ``env['PATH']`` (or ours); absolute paths are checked."""
    if os.sep in executable:
        return executable if os.access(executable, os.X_OK) and os.path.isfile(executable) else None
    path = (env if env is not None else os.environ).get("PATH", os.defpath)
    return shutil.which(executable, path=path)


async def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout: float = 30.0,
    input: bytes | None = None,
    check: bool = True,
    hint: str = "",
) -> Completed:
    """Run ``argv`` (never through a shell), wait at most ``timeout`` seconds.

    Raises :class:`CommandNotFoundError` when ``argv[0]`` cannot be executed,
    :class:`ProcessTimeoutError` after killing a command that ran too long, and (with
    ``check``) :class:`ProcessError` carrying the stderr tail and ``hint`` on a non-zero exit.
    The command runs in its own session so a timeout kills its children too.
    """
    argv = [str(a) for a in argv]
    if not argv:
        raise ValueError("run() needs a non-empty argument list")
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    except (FileNotFoundError, PermissionError, NotADirectoryError) as exc:
        raise CommandNotFoundError(
            f"Cannot run `{argv[0]}`: {exc.strerror}. Install it, load the module that provides "
            "it, or configure its full path."
        ) from exc
    try:
        out, err = await asyncio.wait_for(proc.communicate(input), timeout)
    except asyncio.TimeoutError:
        _kill_group(proc.pid)
        out, err = await proc.communicate()
        raise ProcessTimeoutError(argv, timeout, tail(err.decode(errors="replace"))) from None
    except asyncio.CancelledError:
        _kill_group(proc.pid)
        raise
    result = Completed(
        tuple(argv),
        proc.returncode or 0,
        out.decode(errors="replace"),
        err.decode(errors="replace"),
    )
    if check and result.returncode != 0:
        raise ProcessError(argv, result.returncode, tail(result.stderr), hint)
    return result


def run_sync(argv: Sequence[str], **kwargs) -> Completed:  # type: ignore[no-untyped-def]
    """:func:`run` for synchronous callers (the CLI, the batch executor's setup)."""
    return asyncio.run(run(argv, **kwargs))


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
