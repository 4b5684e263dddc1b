"""The sbatch script is a pure function of its inputs, pinned by golden files.

Regenerate the golden files after an intended change with ``JCK_UPDATE_GOLDEN=1 pytest
tests/batch/test_script.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from jupyter_container_kernels.batch.convert import notebook_to_python
from jupyter_container_kernels.batch.resources import Resources
from jupyter_container_kernels.batch.script import (
    JobScript,
    check_directive_path,
    job_files,
    render,
    safe_stem,
)
from jupyter_container_kernels.errors import SpecError
from jupyter_container_kernels.spec import Bind, ContainerSpec

GOLDEN = Path(__file__).parent / "golden"
HOSTILE_NAMES = [
    "with space",
    'quote\'s "double"',
    "'; echo INJECTED; '",
    "$(touch PWNED)",
    "`touch PWNED`",
    "ünïcødé ✓",
    "new\nline",
    "tab\there",
    "#SBATCH --wrap=id",
]

APPTAINER = ContainerSpec.from_dict(
    {
        "image": "/shared/images/pytorch-2.7.sif",
        "runtime": "apptainer",
        "gpu": "auto",
        "binds": ["/scratch", "/projects:/projects:ro"],
        "modules": ["apptainer/1.3", "cuda/12.4"],
        "env": {"OMP_NUM_THREADS": "8", "GREETING": 'it\'s "quoted" $(not run)'},
    }
)
CHARLIECLOUD = ContainerSpec.from_dict(
    {"image": "/shared/images/mpi", "runtime": "charliecloud", "cleanenv": True, "gpu": "none"}
)
RESOURCES = Resources.from_dict(
    {
        "job_name": "analysis",
        "partition": "gpu",
        "account": "proj1",
        "qos": "normal",
        "reservation": "maint",
        "time": "2:00:00",
        "nodes": "1",
        "ntasks": "1",
        "cpus_per_task": "8",
        "mem": "32G",
        "gpus": "1",
        "gres": "gpu:1",
    }
)

CASES = {
    "notebook_single": JobScript(
        spec=APPTAINER,
        kernel="pytorch-2.7",
        notebook="/home/ada/project/analysis.ipynb",
        output_dir="/home/ada/project/runs",
        stem="analysis",
        resources=RESOURCES,
        parameters_file="/home/ada/project/runs/analysis-STAMP.params.json",
        executor_python="/opt/jupyter/bin/python",
    ),
    "notebook_array_hostile_path": JobScript(
        spec=APPTAINER,
        kernel="pytorch-2.7",
        notebook="/home/ada/my 'notebooks' $(x)/a'; echo INJECTED; '.ipynb",
        output_dir="/home/ada/my 'notebooks' $(x)",
        stem="a_echo_INJECTED",
        resources=Resources(job_name="sweep"),
        array_size=3,
        parameters_file="/home/ada/my 'notebooks' $(x)/a_echo_INJECTED-STAMP.params.json",
        executor_python="/opt/jupyter/bin/python",
    ),
    "script_apptainer_gpu_auto": JobScript(
        spec=APPTAINER,
        kernel="pytorch-2.7",
        notebook="/home/ada/project/train.ipynb",
        output_dir="/home/ada/project",
        stem="train",
        resources=Resources(gres="gpu:1"),
        mode="script",
        python_scripts=("/home/ada/project/train-STAMP.py",),
        module_init="/usr/share/lmod/lmod/init/bash",
        extra_binds=(Bind.parse("/home/ada/project"),),
        env_file="/home/ada/project/train-STAMP.env",
    ),
    "script_charliecloud_cleanenv_mpi_array": JobScript(
        spec=CHARLIECLOUD,
        kernel="mpi",
        notebook="/tmp/work/ring.ipynb",
        output_dir="/tmp/work",
        stem="ring",
        resources=Resources(nodes="2", ntasks="8"),
        mode="script",
        template="mpi",
        array_size=2,
        python_scripts=("/tmp/work/ring-STAMP.task0.py", "/tmp/work/ring-STAMP.task1.py"),
        passthrough=("OMP_*",),
        srun="/opt/slurm/bin/srun",
    ),
    "script_torchrun": JobScript(
        spec=ContainerSpec.from_dict({**APPTAINER.to_dict(), "gpu": "nvidia", "modules": []}),
        kernel="pytorch-2.7",
        notebook="/scratch/ada/ddp.ipynb",
        output_dir="/scratch/ada/out",
        stem="ddp",
        resources=Resources(nodes="4", gpus="16", time="1-00:00:00"),
        mode="script",
        template="torchrun",
        python_scripts=("/scratch/ada/out/ddp-STAMP.py",),
        runtime_executable="/opt/apptainer/bin/apptainer",
        torchrun_port=29400,
        env_file="/scratch/ada/out/ddp-STAMP.env",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rendering_matches_the_golden_file(name):
    text = render(CASES[name])
    golden = GOLDEN / f"{name}.sh"
    if os.environ.get("JCK_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(CASES))
def test_rendering_is_pure(name):
    assert render(CASES[name]) == render(CASES[name])


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_script_is_valid_bash(name):
    done = subprocess.run(
        ["bash", "-n"], check=False, input=render(CASES[name]), text=True, capture_output=True
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("hostile", HOSTILE_NAMES)
def test_hostile_notebook_paths_stay_one_shell_word(hostile, tmp_path):
    """The exec line, run by bash with `printf` in place of Python, gets the path unchanged."""
    notebook = f"/data/{hostile}/{hostile}.ipynb"
    job = JobScript(
        spec=CHARLIECLOUD,
        kernel="k",
        notebook=notebook,
        output_dir="/data/out",
        stem=safe_stem(hostile),
        executor_python="printf",
    )
    body = render(job).split("exec printf ", 1)[1]
    done = subprocess.run(
        ["bash", "-c", "printf '%s\\0' " + body], check=False, capture_output=True, cwd=tmp_path
    )
    words = done.stdout.decode().split("\0")[:-1]
    assert words[words.index("--notebook") + 1] == notebook
    assert not list(tmp_path.iterdir()), "nothing in the path was executed"


@pytest.mark.parametrize("hostile", HOSTILE_NAMES)
def test_hostile_directory_names_in_sbatch_lines_are_quoted_or_refused(hostile):
    output_dir = f"/data/{hostile}"
    if any(c in hostile for c in "\n\t"):
        with pytest.raises(SpecError, match="output_dir"):
            check_directive_path("output_dir", output_dir)
        return
    text = render(
        JobScript(
            spec=CHARLIECLOUD, kernel="k", notebook="/n/a.ipynb", output_dir=output_dir, stem="a"
        )
    )
    line = next(line for line in text.splitlines() if line.startswith("#SBATCH --output="))
    # sbatch reads quotes like the shell does (and backslashes, which are refused)
    assert shlex.split(line[len("#SBATCH ") :]) == [f"--output={output_dir}/a-%j.log"]


@pytest.mark.parametrize("bad", ["/data/back\\slash", "/data/100%", "relative/dir", "/a\nb"])
def test_directories_sbatch_cannot_carry_are_refused(bad):
    with pytest.raises(SpecError, match="output_dir"):
        check_directive_path("output_dir", bad)


def test_safe_stem_keeps_unicode_letters_and_drops_the_rest():
    assert safe_stem("ünï cødé's %j run") == "ünï_cødé_s_j_run"
    assert safe_stem("...") == "notebook"


def test_templates_need_script_mode():
    job = CASES["notebook_single"]
    with pytest.raises(SpecError, match="mode 'script'"):
        render(JobScript(**{**job.__dict__, "template": "mpi"}))


def test_modules_without_a_module_system_are_refused():
    job = CASES["script_apptainer_gpu_auto"]
    with pytest.raises(SpecError, match="module_init"):
        render(JobScript(**{**job.__dict__, "module_init": None}))


def test_script_mode_keeps_ipython_only_lines_as_comments():
    nb = {
        "cells": [
            {"cell_type": "markdown", "source": "# Title"},
            {"cell_type": "code", "source": "%matplotlib inline\nx = 1\n!nvidia-smi"},
            {"cell_type": "code", "source": ["%%bash\n", "echo hi"]},
            {"cell_type": "code", "source": "print(x)"},
        ]
    }
    text = notebook_to_python(nb, source="/n/a\nb.ipynb")
    namespace: dict = {}
    exec(compile(text, "converted", "exec"), namespace)
    assert namespace["x"] == 1
    assert "# (IPython only) %matplotlib inline" in text
    assert "# (cell magic, IPython only) echo hi" in text
    assert text.splitlines()[0].endswith('"/n/a\\nb.ipynb"'), "a newline in the name stays escaped"


# -- the kernel's env values stay out of the script Slurm stores -------------------------------

SECRET_VALUE = "s3cr3t 'q' \"dq\" $(touch PWNED) a=b\nline2"


def recorder(folder: Path, out: Path) -> str:
    """An executable that writes the argv and environment it was given to ``out`` as JSON."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "runtime"
    path.write_text(
        "#!/usr/bin/python3 -I\nimport json, os, sys\n"
        f"with open({str(out)!r}, 'w') as f:\n"
        "    json.dump({'argv': sys.argv[1:], 'env': dict(os.environ)}, f)\n"
    )
    path.chmod(0o755)
    return str(path)


def script_job(tmp_path: Path, runtime: str, cleanenv: bool, **more) -> JobScript:
    image = {"podman": "docker.io/x:1", "shifter": "docker:x:1"}.get(runtime, "/img/a")
    spec = ContainerSpec.from_dict(
        {
            "image": image,
            "runtime": runtime,
            "gpu": "none",
            "cleanenv": cleanenv,
            "env": {"SECRET_TOKEN": SECRET_VALUE, "OMP_NUM_THREADS": "8"},
        }
    )
    return JobScript(
        spec=spec,
        kernel="k",
        notebook=str(tmp_path / "nb.ipynb"),
        output_dir=str(tmp_path),
        stem="nb",
        mode="script",
        python_scripts=(str(tmp_path / "nb.py"),),
        runtime_executable=recorder(tmp_path / "bin", tmp_path / "given.json"),
        **more,
    )


def run_script(text: str, tmp_path: Path) -> dict:
    done = subprocess.run(
        ["bash", "-c", text],
        env={"PATH": "/usr/bin:/bin", "USER": "u", "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    return json.loads((tmp_path / "given.json").read_text())


@pytest.mark.parametrize("runtime", ["apptainer", "charliecloud", "podman", "shifter"])
@pytest.mark.parametrize("cleanenv", [False, True])
def test_script_mode_reads_the_kernels_env_values_from_a_file_not_the_script(
    runtime: str, cleanenv: bool, tmp_path: Path
) -> None:
    env_file = str(tmp_path / "nb-STAMP.env")
    job = script_job(tmp_path, runtime, cleanenv, env_file=env_file)
    text = render(job)
    assert "s3cr3t" not in text and "OMP_NUM_THREADS=8" not in text
    files = job_files(job)
    assert files == {env_file: f"SECRET_TOKEN={SECRET_VALUE}\0OMP_NUM_THREADS=8\0"}
    Path(env_file).write_text(files[env_file])

    # The runtime is started exactly as when the values were written into the script.
    inline = run_script(render(replace(job, env_file=None)), tmp_path)
    assert run_script(text, tmp_path) == inline
    given = [*inline["argv"], *inline["env"].values()]
    assert any(SECRET_VALUE in word for word in given), "the value reaches the runtime intact"
    assert not list(tmp_path.glob("PWNED")), "nothing in the value was executed"


def test_a_missing_env_file_stops_the_job_naming_it(tmp_path: Path) -> None:
    job = script_job(tmp_path, "apptainer", False, env_file=str(tmp_path / "gone.env"))
    done = subprocess.run(["bash", "-c", render(job)], capture_output=True, text=True)
    assert done.returncode == 1
    assert f"{tmp_path}/gone.env (the kernel's env values) cannot be read" in done.stderr
    assert "submit the job again" in done.stderr
    assert not (tmp_path / "given.json").exists(), "the runtime never started"


def test_only_script_jobs_with_env_need_an_env_file(tmp_path: Path) -> None:
    job = script_job(tmp_path, "apptainer", False, env_file=str(tmp_path / "nb.env"))
    assert job_files(replace(job, mode="notebook", python_scripts=())) == {}
    no_env = replace(job, spec=replace(job.spec, env=()))
    assert job_files(no_env) == {} and "jck_value" not in render(no_env)
    with pytest.raises(SpecError, match="env_file: 'nb.env' is not an absolute path"):
        render(replace(job, env_file="nb.env"))
