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
#: Seconds to wait, after killing a timed-out command's process group, for the end of its
#: output; a helper that left the group may keep the pipes open, and is not waited for.
KILL_GRACE = 2.0


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
    The command runs in its own session so a timeout kills its children too; its output is
    then awaited :data:`KILL_GRACE` seconds more at most, as a helper that left the session
    (a daemon it started) may keep the pipes open for ever.
    """
    argv = [str(a) for a in argv]
    if not argv:
        raise ValueError("run() needs a non-empty argument list")
    # stdout and stderr are pipes of our own, not asyncio's: asyncio's Process.wait() waits for
    # its pipes to close, and a helper that left the process group (setsid, a double fork) can
    # hold them open for ever. Ours can be closed and abandoned after a timeout.
    pipes = (os.pipe(), os.pipe())
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
            stdout=pipes[0][1],
            stderr=pipes[1][1],
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    except BaseException as exc:
        for read_end, _ in pipes:
            os.close(read_end)
        if isinstance(exc, (FileNotFoundError, PermissionError, NotADirectoryError)):
            raise CommandNotFoundError(
                f"Cannot run `{argv[0]}`: {exc.strerror}. Install it, load the module that "
                "provides it, or configure its full path."
            ) from exc
        raise
    finally:
        for _, write_end in pipes:
            os.close(write_end)  # the command holds its own copies
    out, err = bytearray(), bytearray()
    out_sink, out_pipe = await _read_pipe(pipes[0][0], out)
    err_sink, err_pipe = await _read_pipe(pipes[1][0], err)
    exchange = asyncio.ensure_future(_communicate(proc, input, (out_sink, err_sink)))
    try:
        try:
            await asyncio.wait_for(asyncio.shield(exchange), timeout)
        except asyncio.TimeoutError:
            _kill_group(proc.pid)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(exchange, KILL_GRACE)  # the rest of what it wrote
            raise ProcessTimeoutError(argv, timeout, tail(err.decode(errors="replace"))) from None
        except asyncio.CancelledError:
            _kill_group(proc.pid)
            raise
    finally:  # a helper that left the group may hold the pipes: abandon them
        exchange.cancel()
        out_pipe.close()
        err_pipe.close()
        if proc.stdin is not None:
            proc.stdin.close()
    result = Completed(
        tuple(argv),
        proc.returncode or 0,
        bytes(out).decode(errors="replace"),
        bytes(err).decode(errors="replace"),
    )
    if check and result.returncode != 0:
        raise ProcessError(argv, result.returncode, tail(result.stderr), hint)
    return result


def run_sync(argv: Sequence[str], **kwargs) -> Completed:  # type: ignore[no-untyped-def]
    """:func:`run` for synchronous callers (the CLI, the batch executor's setup)."""
    return asyncio.run(run(argv, **kwargs))


class _Sink(asyncio.Protocol):
    """Collects what a pipe delivers into ``data`` as it arrives (so that a timeout still has
    it); ``closed`` resolves at the pipe's end."""

    def __init__(self, data: bytearray) -> None:
        self.data = data
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def _read_pipe(fd: int, into: bytearray) -> tuple[_Sink, asyncio.BaseTransport]:
    """Read the pipe ``fd`` (ours from now on: the transport closes it) into ``into``."""
    sink = _Sink(into)
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: sink, os.fdopen(fd, "rb", buffering=0)
    )
    return sink, transport


async def _communicate(
    proc: asyncio.subprocess.Process, input: bytes | None, sinks: tuple[_Sink, ...]
) -> None:
    """Feed ``input``, wait for the end of both pipes, then for the command's exit."""

    async def feed() -> None:
        if input is None or proc.stdin is None:
            return
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write(input)
            await proc.stdin.drain()
        proc.stdin.close()

    await asyncio.gather(feed(), *(sink.closed for sink in sinks))
    await proc.wait()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
