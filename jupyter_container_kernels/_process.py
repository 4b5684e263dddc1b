"""The one place that starts short-lived processes: argument lists only, a timeout, typed errors.

Kernels themselves are started by jupyter_client's ``launch_kernel`` (through the provisioner);
every other command this package runs (``module``, probes, ``sbatch``, ``squeue``…) goes through
:func:`run`. Tests fake only what the machine lacks by putting a stand-in on ``PATH``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .errors import CancelledError, CommandNotFoundError, ProcessError, ProcessTimeoutError

#: How much of stderr an error message quotes.
STDERR_TAIL_LINES = 20
#: Seconds to wait, after killing a timed-out command's process group, for the end of its
#: output; a helper that left the group may keep the pipes open, and is not waited for.
KILL_GRACE = 2.0
#: How often (seconds) a ``cancel`` event is looked at while a command runs.
CANCEL_POLL = 0.2


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
    on_line: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
) -> Completed:
    """Run ``argv`` (never through a shell), wait at most ``timeout`` seconds.

    ``on_line`` is called with each complete line of stdout and stderr as it arrives (for a
    long command's progress). Once ``cancel`` is set (from any thread) the command's process
    group is killed and :class:`~.errors.CancelledError` raised.

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
    out_sink, out_pipe = await _read_pipe(pipes[0][0], out, on_line)
    err_sink, err_pipe = await _read_pipe(pipes[1][0], err, on_line)
    exchange = asyncio.ensure_future(_communicate(proc, input, (out_sink, err_sink)))
    watch = asyncio.ensure_future(_watch_cancel(cancel, exchange, proc.pid)) if cancel else None
    try:
        try:
            await asyncio.wait_for(asyncio.shield(exchange), timeout)
            if cancel is not None and cancel.is_set() and proc.returncode != 0:
                raise CancelledError(f"`{argv[0]}` was stopped: the operation was cancelled")
        except asyncio.TimeoutError:
            _kill_group(proc.pid)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(exchange, KILL_GRACE)  # the rest of what it wrote
            raise ProcessTimeoutError(argv, timeout, tail(err.decode(errors="replace"))) from None
        except asyncio.CancelledError:
            _kill_group(proc.pid)
            raise
    finally:  # a helper that left the group may hold the pipes: abandon them
        if watch is not None:
            watch.cancel()
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
    """:func:`run` for synchronous callers (the CLI, the batch executor's setup, the image
    store). Called where an event loop already runs in this thread (a blocking call from a
    coroutine), it runs on a loop of its own in a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run(argv, **kwargs))
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="jck-run") as pool:
        return pool.submit(asyncio.run, run(argv, **kwargs)).result()


class _Sink(asyncio.Protocol):
    """Collects what a pipe delivers into ``data`` as it arrives (so that a timeout still has
    it), handing each complete line to ``on_line``; ``closed`` resolves at the pipe's end."""

    def __init__(self, data: bytearray, on_line: Callable[[str], None] | None = None) -> None:
        self.data = data
        self.on_line = on_line
        self.seen = 0  # bytes of ``data`` already handed to on_line
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.data += data
        if self.on_line is not None:
            end = self.data.rfind(b"\n") + 1
            if end > self.seen:
                for line in bytes(self.data[self.seen : end]).decode(errors="replace").splitlines():
                    self.on_line(line)
                self.seen = end

    def connection_lost(self, exc: Exception | None) -> None:
        if self.on_line is not None and len(self.data) > self.seen:  # a last unfinished line
            self.on_line(bytes(self.data[self.seen :]).decode(errors="replace"))
            self.seen = len(self.data)
        if not self.closed.done():
            self.closed.set_result(None)


async def _read_pipe(
    fd: int, into: bytearray, on_line: Callable[[str], None] | None = None
) -> tuple[_Sink, asyncio.BaseTransport]:
    """Read the pipe ``fd`` (ours from now on: the transport closes it) into ``into``."""
    sink = _Sink(into, on_line)
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


async def _watch_cancel(cancel: threading.Event, exchange: asyncio.Future[None], pid: int) -> None:
    """Kill the command's process group once ``cancel`` is set (a thread's event, so polled)."""
    while not exchange.done():
        if cancel.is_set():
            _kill_group(pid)
            return
        await asyncio.sleep(CANCEL_POLL)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
