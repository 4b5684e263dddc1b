"""One contract, two implementations: a job script (bash, on the node) starts the runtime with
the same argv and environment as an interactive kernel (Python, :func:`launch.prepare`).

Both paths run on real Lmod (``tests/support/modulefiles``) and end in a stand-in runtime, a
recorder on the runtime's path that writes the argv and environment it was given as JSON. The
only differences allowed are bash's own bookkeeping (``_``, ``SHLVL``, ``PWD``, ``OLDPWD``,
which a runtime started from bash always gets; the module cache ignores them too). Under Slurm
a job also has ``SLURM_*``; these tests run the script with bash directly, so there are none.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from jupyter_container_kernels.batch.script import JobScript, render
from jupyter_container_kernels.gpu import PROBES, detect_gpu, gpu_detection_bash
from jupyter_container_kernels.launch import prepare
from jupyter_container_kernels.runtimes import get_runtime
from jupyter_container_kernels.site import SiteConfig
from jupyter_container_kernels.spec import ContainerSpec

LMOD_INIT = "/usr/share/lmod/lmod/init/bash"
#: Set by bash for every process it starts: not part of the contract.
BASH_BOOKKEEPING = {"_", "SHLVL", "PWD", "OLDPWD"}


def recorder(folder: Path, name: str, out: Path) -> str:
    """An executable ``folder/name`` that writes ``{"argv", "env"}`` to ``out`` (a path fixed
    in the file: a clean environment must not hide it)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(
        "#!/usr/bin/python3 -I\nimport json, os, sys\n"
        f"with open({str(out)!r}, 'w') as f:\n"
        "    json.dump({'argv': sys.argv[1:], 'env': dict(os.environ)}, f)\n"
    )
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def normalized(argv: list[str], option: str | None) -> tuple[list[str], list[str]]:
    """``argv`` without ``option NAME`` pairs, and those names sorted (their order is the
    order the job's shell lists its variables in)."""
    if not option:
        return argv, []
    rest, names, i = [], [], 0
    while i < len(argv):
        if argv[i] == option:
            if argv[i + 1] not in BASH_BOOKKEEPING:
                names.append(argv[i + 1])
            i += 2
        else:
            rest.append(argv[i])
            i += 1
    return rest, sorted(names)


CASES: dict[str, dict[str, Any]] = {
    "apptainer_modules_cleanenv": {
        "runtime": "apptainer",
        "modules": ["apptainer", "cuda/12.4"],
        "cleanenv": True,
        "env": {"JCK_SPEC_VAR": "it's $(x)"},
        "binds": ["/srv"],
    },
    "apptainer_modules": {
        "runtime": "apptainer",
        "modules": ["cuda/12.4"],
        "env": {"OMP_NUM_THREADS": "8"},
    },
    "charliecloud": {"runtime": "charliecloud", "env": {"JCK_SPEC_VAR": "8"}},
    "charliecloud_cleanenv": {"runtime": "charliecloud", "cleanenv": True},
    "podman_env": {
        "runtime": "podman",
        "image": "docker.io/library/python:3.12",
        "env": {"JCK_SPEC_VAR": "a b"},
    },
    "podman_cleanenv": {"runtime": "podman", "image": "docker.io/x:1", "cleanenv": True},
    "shifter_cleanenv": {"runtime": "shifter", "image": "docker:x:1", "cleanenv": True},
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_job_script_and_interactive_kernel_start_the_runtime_alike(
    case: str, lmod_env: dict[str, str], tmp_path: Path
) -> None:
    data = dict(CASES[case])
    runtime = get_runtime(data["runtime"])
    image = tmp_path / "image"
    image.mkdir()
    if data["runtime"] == "apptainer":
        image = tmp_path / "a.sif"
        image.write_bytes(b"")
    data.setdefault("image", str(image))
    spec = ContainerSpec.from_dict({"gpu": "none", **data})
    script = str(tmp_path / "work" / "train.py")
    (tmp_path / "work").mkdir()
    base = {
        **lmod_env,
        "JCK_HOST_VAR": "from the host",
        "LANG": "C.UTF-8",
        "VIRTUAL_ENV": "/host/venv",
        "JPY_SESSION_NAME": "s.ipynb",
    }

    interactive_out, job_out = tmp_path / "interactive.json", tmp_path / "job.json"
    exe = recorder(tmp_path / "i", runtime.executable, interactive_out)
    inv = await prepare(
        spec,
        [spec.python, script],
        site=SiteConfig(runtime_paths={runtime.name: exe}),
        host_env=base,
    )
    subprocess.run(inv.argv, env=inv.env, check=True, timeout=60)

    job_exe = recorder(tmp_path / "j", runtime.executable, job_out)
    text = render(
        JobScript(
            spec=spec,
            kernel="k",
            notebook=str(tmp_path / "work" / "train.ipynb"),
            output_dir=str(tmp_path / "work"),
            stem="train",
            mode="script",
            python_scripts=(script,),
            runtime_executable=job_exe,
            module_init=LMOD_INIT,
        )
    )
    done = subprocess.run(
        ["bash", "-c", text], env=base, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr

    interactive = json.loads(interactive_out.read_text())
    job = json.loads(job_out.read_text())
    option = runtime.env_policy.name_option
    assert normalized(job["argv"], option) == normalized(interactive["argv"], option)
    drop = BASH_BOOKKEEPING
    assert {k: v for k, v in job["env"].items() if k not in drop} == {
        k: v for k, v in interactive["env"].items() if k not in drop
    }


@pytest.mark.parametrize("tool", [None, *(t for p in PROBES for t in p.tools)])
def test_python_and_the_job_script_detect_the_same_gpu(
    tool: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if any(os.path.exists(d) for p in PROBES for d in p.devices):
        pytest.fail("this test fakes GPUs and needs a node without GPU devices")
    if tool:
        (tmp_path / tool).write_text("#!/bin/sh\nexit 0\n")
        (tmp_path / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    detect_gpu.cache_clear()
    try:
        python = detect_gpu() or "none"
    finally:
        detect_gpu.cache_clear()
    bash = "\n".join([*gpu_detection_bash("jck_gpu"), 'printf %s "$jck_gpu"'])
    done = subprocess.run(["bash", "-c", bash], capture_output=True, text=True, check=True)
    assert done.stdout == python
    assert python == next((p.vendor for p in PROBES if tool in p.tools), "none")
