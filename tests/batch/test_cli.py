"""`jupyter container-kernels export | submit | jobs | cancel` against the real Slurm."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import write_notebook

pytestmark = pytest.mark.timeout(180)


def cli(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `jupyter-container-kernels VERB …` in a fresh process, as a user would."""
    script = Path(sys.executable).parent / "jupyter-container-kernels"
    done = subprocess.run(
        [str(script), *args],
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def test_export_writes_a_script_sbatch_accepts(
    batch_env, slurm_cluster, container_kernel, tmp_path
):
    write_notebook(
        tmp_path / "train.ipynb", ("lr = 0.1", ["parameters"]), "lr", kernel=container_kernel
    )
    cli(
        "export",
        "train.ipynb",
        "--partition",
        "debug",
        "--time",
        "10:00",
        "--cpus-per-task",
        "1",
        "-p",
        "lr=0.5",
        "-p",
        "name=two words",
        "--output-dir",
        "runs",
        "-o",
        "job.sh",
        cwd=tmp_path,
    )
    script = (tmp_path / "job.sh").read_text()
    assert "#SBATCH --partition=debug\n#SBATCH --time=10:00\n#SBATCH --cpus-per-task=1\n" in script
    params = next((tmp_path / "runs").glob("train-*.params.json"))
    assert json.loads(params.read_text()) == {"tasks": [{"lr": 0.5, "name": "two words"}]}
    verdict = subprocess.run(
        ["sbatch", "--test-only", "job.sh"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert verdict.returncode == 0 and "to start at" in verdict.stderr


def test_export_to_stdout_names_every_hostile_flag(batch_env, container_kernel, tmp_path):
    write_notebook(tmp_path / "a.ipynb", "1", kernel=container_kernel)
    assert cli("export", "a.ipynb", cwd=tmp_path).stdout.startswith("#!/bin/bash\n")
    done = cli(
        "export", "a.ipynb", "--partition", "debug\n#SBATCH --uid=0", cwd=tmp_path, check=False
    )
    assert done.returncode == 1
    assert "resources.partition" in done.stderr and "newline" in done.stderr
    assert done.stdout == ""


def test_submit_prints_the_job_id_then_jobs_and_cancel_see_it(
    batch_env, slurm_cluster, container_kernel, tmp_path
):
    write_notebook(tmp_path / "slow.ipynb", "import time; time.sleep(120)", kernel=container_kernel)
    job_id = cli("submit", "slow.ipynb", "--job-name", "cli-test", cwd=tmp_path).stdout.strip()
    assert job_id.isdigit()

    listed = json.loads(cli("jobs", "--json", cwd=tmp_path).stdout)["jobs"]
    job = next(j for j in listed if j["id"] == job_id)
    assert (job["name"], job["notebook"]) == ("cli-test", "slow.ipynb"), "relative to the cwd"
    assert job["state"] in ("PENDING", "RUNNING")
    assert job_id in cli("jobs", cwd=tmp_path).stdout

    assert cli("cancel", job_id, cwd=tmp_path).stdout.split()[0] == job_id
    for _ in range(60):  # a running job passes through COMPLETING first
        job = next(
            j
            for j in json.loads(cli("jobs", "--json", cwd=tmp_path).stdout)["jobs"]
            if j["id"] == job_id
        )
        if job["state"] == "CANCELLED":
            break
        time.sleep(0.5)
    assert job["state"] == "CANCELLED"


def test_cancel_of_an_unknown_job_says_so(batch_env, tmp_path):
    done = cli("cancel", "424242", cwd=tmp_path, check=False)
    assert done.returncode == 1 and "No job '424242'" in done.stderr


def test_an_unwritable_output_file_is_one_error_line(
    batch_env, slurm_cluster, container_kernel, tmp_path
):
    write_notebook(tmp_path / "nb.ipynb", ("x = 1", ["parameters"]), kernel=container_kernel)
    done = cli(
        "export", "nb.ipynb", "-o", str(tmp_path / "missing" / "job.sh"), cwd=tmp_path, check=False
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert (
        done.stderr.strip()
        == f"Error: {tmp_path / 'missing' / 'job.sh'}: No such file or directory."
    )
