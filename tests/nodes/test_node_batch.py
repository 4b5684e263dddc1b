"""'Submit as batch job' on a notebook whose kernel is a node kernel: the job starts from the
kernel's Slurm resources and runs the notebook in the same container, in that one job."""

from __future__ import annotations

import os
import pwd
from pathlib import Path
from typing import Any

import pytest
from batch.conftest import cell_text, read_output, wait_until, write_notebook

from jupyter_container_kernels.batch.service import BatchService


@pytest.fixture
def service(cluster_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> BatchService:
    if not os.environ.get("USER"):  # ch-run needs $USER in the job
        monkeypatch.setenv("USER", pwd.getpwuid(os.getuid()).pw_name)
    return BatchService(
        root_dir=str(tmp_path),
        jobs_dir=str(tmp_path / "jobs"),
        poll_interval=0.2,
        max_poll_interval=1.0,
    )


def test_a_node_kernels_notebook_runs_as_one_job_with_the_kernels_resources(
    service: BatchService, make_container_kernel: Any, test_image: str, tmp_path: Path
) -> None:
    slurm = {"time": "20:00", "gres": "gpu:1", "pending_timeout": 60}
    kernel = make_container_kernel(
        "node-batch", {"image": test_image, "runtime": "charliecloud", "slurm": slurm}
    )
    notebook = write_notebook(
        tmp_path / "nb.ipynb",
        "import os; print(open('/etc/jck-test-image').read().strip())",
        "print(os.environ['SLURM_JOB_ID'], os.environ.get('CUDA_VISIBLE_DEVICES'))",
        kernel=kernel,
    )
    prepared = service.prepare(service.request({"notebook": str(notebook)}))
    assert "#SBATCH --time=20:00" in prepared.text
    assert "#SBATCH --gres=gpu:1" in prepared.text
    override = service.prepare(
        service.request({"notebook": str(notebook), "resources": {"time": "5"}})
    )
    assert "#SBATCH --time=5" in override.text and "#SBATCH --gres=gpu:1" in override.text

    import asyncio

    record = asyncio.run(service.submit(service.request({"notebook": str(notebook)})))
    done = wait_until(service, record.id, timeout=90)
    assert done.state == "COMPLETED", service.log_tail(done)
    cells = read_output(done.output_notebooks[0]).cells
    assert cell_text(cells[0]).strip() == "py-ipykernel", "inside the kernel's image"
    job_id, gpus = cell_text(cells[1]).split()
    assert job_id == record.id, "the kernel ran in the batch job itself, not in a job of its own"
    assert gpus == "0"
