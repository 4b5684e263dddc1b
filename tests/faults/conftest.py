"""Fixtures for the fault tests: broken images, and a clock on every failure.

* ``corrupt_squashfs``: a SquashFS image (``mksquashfs``, squashfs-tools) cut to half its size,
  as after an interrupted copy; Charliecloud runs ``.sqfs`` files through FUSE.
* ``truncated_sif``: a file that starts like a SIF image (the ``run-singularity`` line and the
  ``SIF_MAGIC``) and stops there.
* ``start_fails(name, error, **km)``: starts kernel ``name`` with jupyter_client's
  AsyncKernelManager as JupyterLab's server does; asserts that ``error`` is raised within
  :data:`FAIL_WITHIN` seconds and that nothing is left (no process, no private copy of the
  connection file under /tmp, no kernel); returns the message. Each measured time is
  printed in the terminal summary ("fault time-to-message").
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from jupyter_client.manager import AsyncKernelManager

#: Every fault must be reported this fast (seconds from start_kernel() to the exception).
FAIL_WITHIN = 5.0

#: (test id, seconds) of every failure measured in this session.
TIMINGS: list[tuple[str, float]] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TIMINGS:
        terminalreporter.section("fault time-to-message")
        for test, seconds in TIMINGS:
            terminalreporter.line(f"{seconds:6.2f} s  {test}")


@pytest.fixture
def corrupt_squashfs(tmp_path: Path) -> str:
    mksquashfs = shutil.which("mksquashfs")
    if mksquashfs is None:
        pytest.fail(
            "`mksquashfs` is not installed (Debian: apt-get install -y squashfs-tools); "
            "tests/support/install_system_deps.sh installs it."
        )
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "jck-test-image").write_text("corrupt\n")
    (tree / "blob").write_bytes(os.urandom(256 * 1024))  # incompressible: the file has a body
    image = tmp_path / "corrupt.sqfs"
    subprocess.run(
        [mksquashfs, str(tree), str(image), "-noappend", "-quiet", "-no-progress"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    size = image.stat().st_size
    os.truncate(image, size // 2)
    return str(image)


@pytest.fixture
def truncated_sif(tmp_path: Path) -> str:
    image = tmp_path / "truncated.sif"
    image.write_bytes(b"#!/usr/bin/env run-singularity\n\nSIF_MAGIC\x00" + b"\x00" * 64)
    return str(image)


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def _private_dirs() -> set[str]:
    return set(glob.glob("/tmp/jck-kernel-*"))


@pytest.fixture
def start_fails(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``await start_fails(name, error, **km_kwargs) -> message`` (see the module docstring)."""

    async def start(name: str, error: type[Exception], **km_kwargs: Any) -> str:
        children, private = _children(), _private_dirs()
        km = AsyncKernelManager(kernel_name=name, **km_kwargs)
        began = time.monotonic()
        with pytest.raises(error) as info:
            await km.start_kernel()
        elapsed = time.monotonic() - began
        TIMINGS.append((request.node.nodeid.split("::", 1)[-1], elapsed))
        message = str(info.value)
        assert elapsed < FAIL_WITHIN, f"took {elapsed:.2f} s: {message}"
        assert not km.has_kernel
        left = [psutil.Process(pid) for pid in _children() - children if psutil.pid_exists(pid)]
        _, alive = psutil.wait_procs(left, timeout=3)
        assert not alive, f"left behind: {[(p.pid, p.cmdline()) for p in alive]}"
        assert _private_dirs() <= private, "a private connection-file directory was left"
        await km.cleanup_resources()
        return message

    return start


@pytest.fixture
def timed(request: pytest.FixtureRequest) -> Iterator[Callable[[float], None]]:
    """``timed(seconds)`` records a time-to-message measured by the test itself."""
    yield lambda seconds: TIMINGS.append((request.node.nodeid.split("::", 1)[-1], seconds))


def pytest_configure(config: pytest.Config) -> None:
    # Registered here (not in pyproject.toml) while only the fault tests use it.
    config.addinivalue_line(
        "markers", "slow: runs longer than a minute (a real Slurm time limit); CI still runs it"
    )
