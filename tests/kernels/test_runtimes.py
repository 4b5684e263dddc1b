"""Runtime command lines and the environment semantics every runtime shares.

The argv tests pin each runtime's conventions; the last tests run the built command for real
(ch-run, and the Apptainer stand-in over ch-run) to show binds, env and cleanenv take effect.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from jupyter_container_kernels.errors import ImageError, RuntimeNotFoundError, SpecError
from jupyter_container_kernels.gpu import detect_gpu
from jupyter_container_kernels.launch import effective_gpu, prepare
from jupyter_container_kernels.runtimes import container_environment, get_runtime
from jupyter_container_kernels.runtimes.base import DEFAULT_CONTAINER_PATH
from jupyter_container_kernels.site import SiteConfig
from jupyter_container_kernels.spec import Bind, ContainerSpec

CMD = ["python3", "-m", "ipykernel_launcher", "-f", "/tmp/kernel-1.json"]
HOST = {
    "PATH": "/host/bin:/usr/bin",
    "LD_LIBRARY_PATH": "/host/lib",
    "HOME": "/home/u",
    "USER": "u",
    "LANG": "C.UTF-8",
    "SECRET_TOKEN": "s3",
    "SLURM_JOB_ID": "42",
    "VIRTUAL_ENV": "/host/venv",
    "JPY_SESSION_NAME": "nb.ipynb",
    "http_proxy": "http://p:3128",
}


def spec(**data: Any) -> ContainerSpec:
    return ContainerSpec.from_dict({"image": "/img/a.sif", **data})


def command(s: ContainerSpec, gpu: str | None = None, binds: tuple[Bind, ...] = (), **kw: Any):
    runtime = get_runtime(s.runtime)
    return runtime.command(
        s, CMD, executable=f"/opt/{runtime.executable}", host_env=HOST, gpu=gpu, binds=binds, **kw
    )


# -- argv per runtime -----------------------------------------------------------------


@pytest.mark.parametrize(("gpu", "flags"), [(None, []), ("nvidia", ["--nv"]), ("rocm", ["--rocm"])])
@pytest.mark.parametrize("runtime", ["apptainer", "singularity"])
def test_apptainer_argv(runtime: str, gpu: str | None, flags: list[str]) -> None:
    s = spec(
        runtime=runtime,
        binds=["/scratch", "/data:/data:ro"],
        workdir="/scratch",
        runtime_args=["--writable-tmpfs"],
    )
    inv = command(s, gpu, binds=(Bind("/run/user/1000/jupyter", "/run/user/1000/jupyter"),))
    assert inv.argv == [
        f"/opt/{runtime}",
        "exec",
        *flags,
        "--bind",
        "/scratch",
        "--bind",
        "/data:/data:ro",
        "--bind",
        "/run/user/1000/jupyter",
        "--pwd",
        "/scratch",
        "--writable-tmpfs",
        "/img/a.sif",
        *CMD,
    ]


def test_apptainer_env_goes_in_through_its_prefix_and_host_only_vars_stay_out() -> None:
    inv = command(spec(env={"OMP_NUM_THREADS": "8"}))
    assert inv.env["APPTAINERENV_OMP_NUM_THREADS"] == "8"
    assert inv.env["APPTAINERENV_PYTHONNOUSERSITE"] == "1"
    assert inv.env["PATH"] == HOST["PATH"]  # for apptainer itself; never enters the image
    assert "LD_LIBRARY_PATH" not in inv.env and "VIRTUAL_ENV" not in inv.env
    assert inv.env["SECRET_TOKEN"] == "s3"  # Apptainer passes it in without cleanenv
    assert "OMP_NUM_THREADS" not in " ".join(inv.argv)  # values stay out of `ps`


def test_apptainer_cleanenv_forces_only_what_must_arrive() -> None:
    inv = command(spec(cleanenv=True, env={"A": "1"}), passthrough=["SLURM_*"])
    assert "--cleanenv" in inv.argv
    forced = {
        k.removeprefix("APPTAINERENV_"): v
        for k, v in inv.env.items()
        if k.startswith("APPTAINERENV_")
    }
    assert forced == {
        "A": "1",
        "PYTHONNOUSERSITE": "1",
        "LANG": "C.UTF-8",
        "SLURM_JOB_ID": "42",
        "JPY_SESSION_NAME": "nb.ipynb",
        "http_proxy": "http://p:3128",
    }


def test_singularity_uses_its_own_prefix() -> None:
    inv = command(spec(runtime="singularity", env={"A": "1"}))
    assert inv.env["SINGULARITYENV_A"] == "1" and "APPTAINERENV_A" not in inv.env


def test_charliecloud_argv_and_environment() -> None:
    s = spec(
        runtime="charliecloud",
        image="/img/dir",
        binds=["/scratch", "/home/u:/mnt/0"],
        workdir="/scratch",
        env={"A": "1"},
    )
    inv = command(s, gpu="nvidia")  # no run-time GPU flag exists for ch-run
    assert inv.argv == [
        "/opt/ch-run",
        "-b",
        "/scratch:/scratch",
        "-b",
        "/home/u:/mnt/0",
        "--cd",
        "/scratch",
        "/img/dir",
        "--",
        *CMD,
    ]
    assert inv.env["PATH"] == DEFAULT_CONTAINER_PATH  # ch-run would pass the host's in
    assert inv.env["A"] == "1" and inv.env["PYTHONNOUSERSITE"] == "1" and inv.env["USER"] == "u"
    assert "LD_LIBRARY_PATH" not in inv.env and "VIRTUAL_ENV" not in inv.env


def test_charliecloud_cleanenv_keeps_only_the_allow_list() -> None:
    inv = command(spec(runtime="charliecloud", image="/img/dir", cleanenv=True))
    assert "SECRET_TOKEN" not in inv.env and "SLURM_JOB_ID" not in inv.env
    assert inv.env["LANG"] == "C.UTF-8" and inv.env["JPY_SESSION_NAME"] == "nb.ipynb"


def test_charliecloud_refuses_read_only_binds_with_the_fix() -> None:
    with pytest.raises(SpecError, match="read-write only.*remove ':ro'"):
        command(spec(runtime="charliecloud", image="/img/dir", binds=["/data:/data:ro"]))


@pytest.mark.parametrize(
    ("runtime", "gpu", "flags"),
    [
        ("podman", None, []),
        ("podman", "nvidia", ["--device", "nvidia.com/gpu=all"]),
        (
            "podman",
            "rocm",
            ["--device", "/dev/kfd", "--device", "/dev/dri", "--group-add", "keep-groups"],
        ),
        ("podman-hpc", "nvidia", ["--gpu"]),
    ],
)
def test_podman_argv(runtime: str, gpu: str | None, flags: list[str]) -> None:
    s = spec(
        runtime=runtime,
        image="docker.io/pytorch/pytorch:2.7.0",
        binds=["/data:/data:ro"],
        env={"A": "1"},
    )
    inv = command(s, gpu)
    assert inv.argv[: 6 + len(flags)] == [
        f"/opt/{runtime}",
        "run",
        "--rm",
        "-i",
        "--network",
        "host",
        *flags,
    ]
    assert inv.argv[-len(CMD) - 1 :] == ["docker.io/pytorch/pytorch:2.7.0", *CMD]
    assert inv.argv[inv.argv.index("--volume") :][:2] == ["--volume", "/data:/data:ro"]
    assert "A" in inv.argv and "--env" in inv.argv and "1" not in inv.argv  # by name only
    assert inv.env["A"] == "1"


def test_shifter_argv() -> None:
    s = spec(
        runtime="shifter",
        image="docker:pytorch/pytorch:2.7.0",
        binds=["/data:/data:ro"],
        env={"A": "1"},
        cleanenv=True,
    )
    inv = command(s, "nvidia")
    assert inv.argv[:4] == [
        "/opt/shifter",
        "--image=docker:pytorch/pytorch:2.7.0",
        "--module=gpu",
        "--clearenv",
    ]
    assert "--volume=/data:/data:ro" in inv.argv and "--env=A=1" in inv.argv
    assert inv.argv[-len(CMD) - 1 :] == ["--", *CMD]
    with pytest.raises(SpecError, match="no ROCm support"):
        command(s, "rocm")


def test_the_spec_bind_wins_over_an_extra_bind_to_the_same_destination() -> None:
    inv = command(spec(binds=["/mine:/data"]), binds=(Bind("/site", "/data"), Bind("/x", "/x")))
    assert inv.argv.count("--bind") == 2 and "/mine:/data" in inv.argv and "/x" in inv.argv


# -- environment semantics ---------------------------------------------------------------


def test_container_environment_semantics() -> None:
    env = container_environment(spec(env={"A": "1", "LANG": "fr_FR.UTF-8"}), HOST)
    assert "PATH" not in env  # the image's own PATH, always
    assert not {"LD_LIBRARY_PATH", "VIRTUAL_ENV"} & set(env)  # host-only
    assert env["SECRET_TOKEN"] == "s3" and env["PYTHONNOUSERSITE"] == "1"
    assert env["LANG"] == "fr_FR.UTF-8"  # the spec's env is applied last
    clean = container_environment(spec(cleanenv=True), HOST, passthrough=["SLURM_*"])
    assert set(clean) == {
        "LANG",
        "JPY_SESSION_NAME",
        "http_proxy",
        "SLURM_JOB_ID",
        "PYTHONNOUSERSITE",
    }


# -- GPU -------------------------------------------------------------------------------------


def fake_tool(folder: Path, name: str) -> None:
    tool = folder / name
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize(
    ("tool", "vendor"), [("nvidia-smi", "nvidia"), ("rocm-smi", "rocm"), (None, None)]
)
def test_detect_gpu_from_the_vendor_tool_on_path(
    tool: str | None, vendor: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if any(os.path.exists(d) for d in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd")):
        pytest.fail("this test fakes GPUs and needs a node without GPU devices")
    if tool:
        fake_tool(tmp_path, tool)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    detect_gpu.cache_clear()
    try:
        assert detect_gpu() == vendor
    finally:
        detect_gpu.cache_clear()


@pytest.mark.parametrize(
    ("gpu", "node_gpu", "expected"),
    [
        ("none", "nvidia", None),
        ("nvidia", "none", "nvidia"),
        ("rocm", "auto", "rocm"),
        ("auto", "nvidia", "nvidia"),
        ("auto", "rocm", "rocm"),
        ("auto", "none", None),
    ],
)
def test_effective_gpu(gpu: str, node_gpu: str, expected: str | None) -> None:
    assert effective_gpu(spec(gpu=gpu), SiteConfig(node_gpu=node_gpu)) == expected


def test_gpu_auto_detects_this_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_tool(tmp_path, "nvidia-smi")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    detect_gpu.cache_clear()
    try:
        assert effective_gpu(spec(gpu="auto"), SiteConfig()) == "nvidia"
    finally:
        detect_gpu.cache_clear()


# -- prepare(): checks before anything starts --------------------------------------------------


async def test_missing_image_names_the_path_and_the_fix(tmp_path: Path) -> None:
    s = spec(runtime="charliecloud", image=str(tmp_path / "gone"))
    with pytest.raises(ImageError) as info:
        await prepare(s, CMD, site=SiteConfig())
    assert str(tmp_path / "gone") in str(info.value) and "'image' setting" in str(info.value)


async def test_runtime_not_found_names_path_and_fixes(tmp_path: Path) -> None:
    image = tmp_path / "a.sif"
    image.write_bytes(b"")
    with pytest.raises(RuntimeNotFoundError) as info:
        await prepare(spec(image=str(image)), CMD, site=SiteConfig(), host_env={"PATH": "/nowhere"})
    message = str(info.value)
    for words in ("apptainer", "'/nowhere'", "modules", "c.SiteConfig.runtime_paths"):
        assert words in message
    with pytest.raises(RuntimeNotFoundError, match="runtime_paths.*not an executable"):
        await prepare(
            spec(image=str(image)),
            CMD,
            site=SiteConfig(runtime_paths={"apptainer": "/nowhere/apptainer"}),
        )


async def test_site_runtime_path_binds_and_gpu_apply(
    tmp_path: Path, apptainer_standin: str
) -> None:
    image = tmp_path / "a.sif"
    image.write_bytes(b"")
    site = SiteConfig(
        runtime_paths={"apptainer": apptainer_standin},
        node_gpu="nvidia",
        default_binds=["/scratch"],
    )
    inv = await prepare(spec(image=str(image)), CMD, site=site, host_env={"PATH": "/nowhere"})
    assert inv.argv[:5] == [apptainer_standin, "exec", "--nv", "--bind", "/scratch"]


# -- the built commands, run for real -------------------------------------------------------

PROBE = (
    "import json, os; print(json.dumps({'image': open('/etc/jck-test-image').read().strip(), "
    "'env': dict(os.environ), 'mnt': sorted(os.listdir('/mnt/3'))}))"
)


@pytest.mark.parametrize("runtime", ["charliecloud", "apptainer"])
@pytest.mark.parametrize("cleanenv", [False, True])
async def test_binds_env_and_cleanenv_take_effect(
    runtime: str,
    cleanenv: bool,
    test_image: str,
    lmod_env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    (tmp_path / "marker-file").write_text("x")
    monkeypatch.setenv("JCK_HOST_ONLY", "from-the-host")
    s = ContainerSpec.from_dict(
        {
            "image": test_image,
            "runtime": runtime,
            "cleanenv": cleanenv,
            "binds": [f"{tmp_path}:/mnt/3"],
            "env": {"JCK_SPEC_VAR": "8"},
            "modules": ["apptainer"] if runtime == "apptainer" else [],
        }
    )
    inv = await prepare(s, ["python3", "-c", PROBE], site=SiteConfig())
    done = subprocess.run(inv.argv, env=inv.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["image"] == "py-ipykernel"
    assert seen["mnt"] == ["marker-file"]
    assert seen["env"]["JCK_SPEC_VAR"] == "8" and seen["env"]["PYTHONNOUSERSITE"] == "1"
    assert seen["env"]["PATH"] == DEFAULT_CONTAINER_PATH
    assert ("JCK_HOST_ONLY" in seen["env"]) is (not cleanenv)
