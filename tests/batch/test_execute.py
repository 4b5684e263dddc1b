"""The node-side executor (`python -m jupyter_container_kernels.batch run`): what it records,
and how it fails: one line and a documented status, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_container_kernels.batch.execute import EXIT_CELL_ERROR, EXIT_START_ERROR
from jupyter_container_kernels.batch.provenance import container_provenance
from jupyter_container_kernels.errors import NotFoundError

from .conftest import read_output, write_notebook

pytestmark = pytest.mark.timeout(180)


def run_executor(*args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "jupyter_container_kernels.batch", "run", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def test_provenance_records_the_spec_with_the_site_defaults(
    batch_env, jp_config_dir, make_container_kernel, test_image, tmp_path
):
    (Path(jp_config_dir) / "jupyter_container_kernels_config.json").write_text(
        json.dumps(
            {"SiteConfig": {"default_runtime": "charliecloud", "default_binds": ["/srv:/site"]}}
        )
    )
    kernel = make_container_kernel("jck-no-runtime", {"image": test_image})  # names no runtime
    container = container_provenance(kernel)
    assert container["runtime"] == "charliecloud", "the site's default, as interactively"
    assert "/srv:/site" in container["binds"], "the site's binds are part of what ran"
    with pytest.raises(NotFoundError, match="'no-such-kernel'"):
        container_provenance("no-such-kernel")


def test_a_notebook_that_vanished_is_one_line_and_the_start_error_status(batch_env, tmp_path):
    done = run_executor(
        "--notebook", str(tmp_path / "gone.ipynb"),
        "--kernel", "whatever",
        "--output", str(tmp_path / "out-%j.ipynb"),
    )  # fmt: skip
    assert done.returncode == EXIT_START_ERROR, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("jupyter-container-kernels: FileNotFoundError")
    assert "gone.ipynb" in lines[0]


def test_bad_parameters_are_one_line_too(batch_env, tmp_path):
    write_notebook(tmp_path / "nb.ipynb", "1", kernel="whatever")
    (tmp_path / "p.json").write_text('{"tasks": [{"a": 1}]}')
    done = run_executor(
        "--notebook", str(tmp_path / "nb.ipynb"),
        "--kernel", "whatever",
        "--output", str(tmp_path / "out.ipynb"),
        "--parameters-file", str(tmp_path / "p.json"),
        "--task-index", "5",
    )  # fmt: skip
    assert (done.returncode, "Traceback" in done.stderr) == (EXIT_START_ERROR, False)
    assert done.stderr == (
        f"jupyter-container-kernels: task_index: 5 is outside the 1 tasks of {tmp_path}/p.json.\n"
    )


def test_a_cell_over_the_cell_timeout_says_so(batch_env, container_kernel, tmp_path):
    write_notebook(
        tmp_path / "slow.ipynb", "x = 1", "import time; time.sleep(60)", kernel=container_kernel
    )
    out = tmp_path / "slow-out.ipynb"
    done = run_executor(
        "--notebook", str(tmp_path / "slow.ipynb"),
        "--kernel", container_kernel,
        "--output", str(out),
        "--cell-timeout", "2",
    )  # fmt: skip
    assert done.returncode == EXIT_CELL_ERROR, done.stderr
    assert "Traceback" not in done.stderr
    assert "cell 2 exceeded the cell timeout of 2 s" in done.stderr
    nb = read_output(str(out))
    provenance = nb.metadata.container_kernels.provenance
    assert (provenance.status, provenance.error.ename) == ("failed", "CellTimeoutError")
    assert "cell 2 exceeded the cell timeout of 2 s" in nb.cells[0].source
