"""The one helper that runs short-lived commands: a timeout is a timeout, whatever the command
left behind."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time

import pytest

from jupyter_container_kernels._process import run
from jupyter_container_kernels.errors import ProcessTimeoutError


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
