"""A script-mode job on the real Slurm: the kernel's ``env`` values reach the container, but
neither the sbatch file nor the copy of the script Slurm keeps (``scontrol write
batch_script``) holds them; and a hub token in the submitting shell stays outside.

The job is submitted with ``sbatch`` as a user would submit an exported script from a terminal
of a JupyterHub-spawned server, where ``JUPYTERHUB_API_TOKEN`` is in the environment.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from jupyter_container_kernels.batch.prepare import PreparedJob, write_files
from jupyter_container_kernels.batch.script import (
    JobScript,
    fill_pattern,
    job_files,
    log_pattern,
    render,
)
from jupyter_container_kernels.spec import ContainerSpec

STANDIN = Path(__file__).resolve().parents[1] / "support" / "bin" / "apptainer"
pytestmark = pytest.mark.timeout(240)


@pytest.mark.parametrize(("runtime", "cleanenv"), [("charliecloud", False), ("apptainer", True)])
def test_a_script_job_sees_its_env_values_that_the_stored_script_does_not_hold(
    runtime: str,
    cleanenv: bool,
    batch_env: None,
    slurm_cluster: None,
    test_image: str,
    tmp_path: Path,
) -> None:
    out = tmp_path / "runs"
    spec = ContainerSpec.from_dict(
        {
            "image": test_image,
            "runtime": runtime,
            "cleanenv": cleanenv,
            "gpu": "none",
            "env": {"SECRET_TOKEN": "s3cr3t"},
        }
    )
    python = str(out / "nb-STAMP.py")
    job = JobScript(
        spec=spec,
        kernel="k",
        notebook=str(tmp_path / "nb.ipynb"),
        output_dir=str(out),
        stem="nb",
        mode="script",
        python_scripts=(python,),
        runtime_executable=str(STANDIN) if runtime == "apptainer" else "",
        env_file=str(out / "nb-STAMP.env"),
    )
    text = render(job)
    script = str(out / "nb-STAMP.sbatch")
    code = (
        "import os\nprint('inside:', os.environ.get('SECRET_TOKEN'), "
        "os.environ.get('JUPYTERHUB_API_TOKEN', 'no-hub-token'), "
        "open('/etc/jck-test-image').read().strip())\n"
    )
    files = {python: code, **job_files(job), script: text}
    write_files(PreparedJob(job, script, files, [{}], text))
    assert stat.S_IMODE(os.stat(job.env_file or "").st_mode) == 0o600

    done = subprocess.run(
        ["sbatch", "--parsable", "--wait", script],
        env={**os.environ, "JUPYTERHUB_API_TOKEN": "hub-token-value"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    job_id = done.stdout.strip().split(";")[0]
    log = Path(fill_pattern(log_pattern(str(out), "nb", False), job_id)).read_text()
    assert done.returncode == 0, done.stderr + log
    assert "inside: s3cr3t no-hub-token py-ipykernel" in log

    stored = subprocess.run(
        ["scontrol", "write", "batch_script", job_id, "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert "jck_value" in stored, "this is the job's script"
    assert "s3cr3t" not in stored and "s3cr3t" not in Path(script).read_text()
