"""The one helper that runs short-lived commands: a timeout is a timeout, whatever the command
left behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import threading
import time

import pytest

from jupyter_container_kernels._process import run
from jupyter_container_kernels.errors import CancelledError, ProcessTimeoutError


async def test_a_timeout_is_not_held_up_by_a_helper_that_left_the_process_group() -> None:
    # The command starts a helper in its own session (as a daemonizing tool does) that keeps
    # the command's stdout and stderr open for a minute; killing the command's process group
    # cannot reach it.
    script = 'setsid sleep 60 & echo "helper $!" >&2; sleep 60'
    began = time.monotonic()
    with pytest.raises(ProcessTimeoutError) as info:
        await run(["sh", "-c", script], timeout=1)
    elapsed = time.monotonic() - began
    message = str(info.value)
    found = re.search(r"helper (\d+)", message)
    if found:  # the helper is out of the command's reach by design: the test stops it
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(found[1]), signal.SIGKILL)
    assert elapsed < 1 + 2 + 1.5  # the timeout, 2 s for the killed command to close its pipes
    # What the command wrote before the timeout is quoted, as for any other timeout.
    assert message.startswith(f"`sh -c '{script}'` did not finish within 1 s and was stopped.")
    assert "Last output on stderr:\nhelper " in message


async def test_a_command_that_finishes_returns_its_output() -> None:
    done = await run(["sh", "-c", "cat; echo err >&2; exit 0"], input=b"in\n", timeout=10)
    assert (done.returncode, done.stdout, done.stderr) == (0, "in\n", "err\n")


async def test_lines_arrive_as_they_are_written_and_a_cancel_stops_the_command() -> None:
    lines: list[str] = []
    cancel = threading.Event()
    script = "echo one; echo two >&2; printf three; sleep 60"
    task = asyncio.ensure_future(run(["sh", "-c", script], timeout=30, on_line=lines.append,
                                     cancel=cancel))  # fmt: skip
    for _ in range(50):
        if len(lines) == 2:
            break
        await asyncio.sleep(0.1)
    assert sorted(lines) == ["one", "two"]  # "three" has no newline yet
    began = time.monotonic()
    cancel.set()
    with pytest.raises(CancelledError):
        await task
    assert time.monotonic() - began < 3
    assert sorted(lines) == ["one", "three", "two"]  # the unfinished line, at the pipe's end
