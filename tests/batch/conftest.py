"""Fixtures for batch tests on a real single-node Slurm (tests/support/slurm.sh).

* ``slurm_cluster`` (session): starts Slurm unless it already runs (``slurm.sh start`` returns
  at once then). It is left running: ``tests/run.sh`` / ``.ci/run`` stop it at the end, and
  other test sessions on the same machine may be using it.
* ``batch``: a :class:`BatchService` rooted at ``tmp_path`` with its own jobs directory, in
  pytest-jupyter's temporary Jupyter environment (so jobs find the test kernels through the
  ``JUPYTER_DATA_DIR`` that sbatch exports to them).
* ``container_kernel``: a container kernel on the test image through Charliecloud.
* ``write_notebook(path, *cells, kernel=...)`` and ``wait_until(batch, job_id, ...)``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest

from jupyter_container_kernels.batch.records import JobRecord
from jupyter_container_kernels.batch.service import BatchService
from jupyter_container_kernels.batch.states import TERMINAL

SUPPORT = Path(__file__).resolve().parent.parent / "support"
INSTALL_HINT = "Run `.ci/run`, or `tests/support/install_system_deps.sh` as root, to install it."


@pytest.fixture
def batch_env(jp_environ: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Job processes inherit this environment from sbatch: ch-run needs $USER."""
    if not os.environ.get("USER"):
        import pwd

        monkeypatch.setenv("USER", pwd.getpwuid(os.getuid()).pw_name)


@pytest.fixture
def make_batch(batch_env: None, tmp_path: Path) -> Callable[..., BatchService]:
    """``make(**traits) -> BatchService`` rooted at tmp_path, jobs in tmp_path/jobs."""

    def make(**traits: Any) -> BatchService:
        traits.setdefault("jobs_dir", str(tmp_path / "jobs"))
        traits.setdefault("poll_interval", 0.2)
        traits.setdefault("max_poll_interval", 1.0)
        return BatchService(root_dir=str(tmp_path), **traits)

    return make


@pytest.fixture
def batch(make_batch: Callable[..., BatchService], slurm_cluster: None) -> BatchService:
    return make_batch()


@pytest.fixture
def container_kernel(make_container_kernel: Callable[..., str], test_image: str) -> str:
    return make_container_kernel("jck-batch", {"image": test_image, "runtime": "charliecloud"})


def write_notebook(path: Path, *cells: str | tuple[str, list[str]], kernel: str) -> Path:
    """A notebook of code cells (``(source, tags)`` for tagged ones) naming ``kernel``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": kernel, "display_name": kernel, "language": "python"}
    for cell in cells:
        source, tags = (cell, []) if isinstance(cell, str) else cell
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": tags}))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def wait_until(
    batch: BatchService,
    job_id: str,
    states: frozenset[str] | set[str] = TERMINAL,
    timeout: float = 120,
) -> JobRecord:
    """Refresh from Slurm until job ``job_id`` is in one of ``states``."""
    deadline = time.monotonic() + timeout
    while True:
        asyncio.run(batch.refresh())
        record = batch.get(job_id)
        if record.state in states:
            return record
        if time.monotonic() > deadline:
            raise AssertionError(
                f"job {job_id} still {record.state} ({record.reason}) after "
                f"{timeout} s; log:\n{batch.log_tail(record)}"
            )
        time.sleep(0.3)


def read_output(path: str) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def cell_text(cell: Any) -> str:
    """All text a cell printed or returned."""
    out = []
    for o in cell.get("outputs", []):
        out.append(
            o.get("text", "") or o.get("data", {}).get("text/plain", "") or o.get("evalue", "")
        )
    return "".join(out)
