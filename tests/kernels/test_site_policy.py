"""The site's policy holds at every start, whoever wrote the kernel.json.

* ``allowed_image_roots``: registration refuses images outside them (tests/registry), and so
  does every kernel start, probe and batch submit: a kernel.json edited by hand, or a system
  or catalog kernel, gets no exception. Admins widen the roots. Entries that are not absolute
  paths are image-reference prefixes (``docker.io/library/``).
* ``allowed_runtime_args``: ``runtime_args`` may use only the options the site allows for the
  runtime (a safe default list: options that only narrow what the container sees), when a
  spec is built through the site and again at every start.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import AsyncKernelManager
from traitlets.config import Config

from jupyter_container_kernels.batch.service import BatchService
from jupyter_container_kernels.errors import PolicyError, SpecError
from jupyter_container_kernels.launch import prepare
from jupyter_container_kernels.runtimes import get_runtime
from jupyter_container_kernels.site import DEFAULT_ALLOWED_RUNTIME_ARGS, SiteConfig
from jupyter_container_kernels.spec import RUNTIMES, ContainerSpec

CMD = ["python3", "-c", "pass"]
#: Options that reach more of the host or more privilege: never in the default allow-list.
DANGEROUS = {
    "apptainer": ["--bind", "-B", "--mount", "--overlay", "--writable", "--fakeroot",
                  "--userns", "--home", "--env-file", "--add-caps", "--security", "--keep-privs",
                  "--allow-setuid", "--workdir", "--scratch", "--fusemount"],
    "charliecloud": ["--bind", "-b", "--mount", "--home", "--write", "--set-env", "--uid",
                     "--join", "--storage"],
    "podman": ["--privileged", "--hooks-dir", "--security-opt", "--cap-add", "--device",
               "--mount", "--userns", "--user", "--env-file", "--entrypoint", "--annotation",
               "--group-add", "--ipc"],
    "shifter": ["--volume", "-V", "--env-file", "--entrypoint"],
}  # fmt: skip


def policy_error(call: Callable[[], Any]) -> str:
    with pytest.raises(PolicyError) as info:
        call()
    return str(info.value)


# -- image roots, at every start ---------------------------------------------------------------


@pytest.fixture
def roots(tmp_path: Path) -> Path:
    (tmp_path / "images").mkdir()
    return tmp_path / "images"


async def test_a_hand_edited_kernel_outside_the_image_roots_fails_to_start(
    roots: Path, test_image: str, make_container_kernel: Callable[..., str]
) -> None:
    name = make_container_kernel("edited", {"image": test_image, "runtime": "charliecloud"})
    config = Config({"SiteConfig": {"allowed_image_roots": [str(roots)]}})
    km = AsyncKernelManager(kernel_name=name, config=config)
    with pytest.raises(PolicyError) as info:
        await km.start_kernel()
    assert not km.has_kernel
    assert str(info.value) == (
        f"The image {test_image!r} is outside the directories where this site allows images: "
        f"{roots}. Use an image under one of them (copy it there and point the kernel's "
        "'image' at the copy), or ask your site's administrators to add its directory (or, for "
        "an image reference, its prefix) to c.SiteConfig.allowed_image_roots."
    )


async def test_an_image_under_the_roots_starts_and_a_link_out_of_them_does_not(
    roots: Path, test_image: str
) -> None:
    site = SiteConfig(allowed_image_roots=[str(roots), os.path.dirname(test_image)])
    spec = ContainerSpec.from_dict({"image": test_image, "runtime": "charliecloud"})
    assert test_image in (await prepare(spec, CMD, site=site)).argv

    link = roots / "looks-inside"
    link.symlink_to(test_image)
    only_roots = SiteConfig(allowed_image_roots=[str(roots)])
    linked = ContainerSpec.from_dict({"image": str(link), "runtime": "charliecloud"})
    with pytest.raises(PolicyError, match="looks-inside"):
        await prepare(linked, CMD, site=only_roots)


def test_image_references_are_allowed_by_prefix() -> None:
    site = SiteConfig(allowed_image_roots=["/shared/images", "docker.io/library/", "docker:"])
    allowed = [
        ("podman", "docker.io/library/python:3.12"),
        ("shifter", "docker:pytorch/pytorch:2.7.0"),
        ("apptainer", "/shared/images/a.sif"),
    ]
    for runtime, image in allowed:
        site.effective(ContainerSpec.from_dict({"image": image, "runtime": runtime}))
    message = policy_error(
        lambda: site.effective(
            ContainerSpec.from_dict({"image": "ghcr.io/evil/x:1", "runtime": "podman"})
        )
    )
    assert "'ghcr.io/evil/x:1' is outside" in message
    assert "/shared/images, docker.io/library/, docker:" in message
    with pytest.raises(SpecError, match=r"allowed_image_roots\[0\]: 'images' is neither"):
        SiteConfig(allowed_image_roots=["images"])


async def test_a_batch_submit_outside_the_image_roots_is_refused_before_sbatch(
    roots: Path,
    test_image: str,
    make_container_kernel: Callable[..., str],
    tmp_path: Path,
) -> None:
    import nbformat

    name = make_container_kernel("batchk", {"image": test_image, "runtime": "charliecloud"})
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": name, "display_name": name, "language": "python"}
    nbformat.write(nb, str(tmp_path / "nb.ipynb"))
    batch = BatchService(
        root_dir=str(tmp_path),
        jobs_dir=str(tmp_path / "jobs"),
        site=SiteConfig(allowed_image_roots=[str(roots)]),
    )
    for mode in ("notebook", "script"):
        with pytest.raises(PolicyError, match=f"The image '{test_image}' is outside"):
            await batch.submit(batch.request({"notebook": "nb.ipynb", "mode": mode}))
    assert batch.slurm.calls["sbatch"] == 0
    assert not list(tmp_path.glob("*.sbatch"))


# -- runtime_args allow-list -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("runtime", "image", "args"),
    [
        ("apptainer", "/img/a.sif", ["--bind", "/:/host"]),
        ("apptainer", "/img/a.sif", ["--overlay=/tmp/o.img"]),
        ("apptainer", "/img/a.sif", ["--fakeroot"]),
        ("charliecloud", "/img/dir", ["-b", "/:/mnt/0"]),
        ("podman", "docker.io/x:1", ["--privileged"]),
        ("podman", "docker.io/x:1", ["--hooks-dir", "/tmp/hooks"]),
        ("podman", "docker.io/x:1", ["--security-opt=seccomp=unconfined"]),
        ("shifter", "docker:x:1", ["--volume=/:/host"]),
    ],
)
def test_dangerous_runtime_args_are_refused_when_the_spec_is_built(
    runtime: str, image: str, args: list[str]
) -> None:
    site = SiteConfig()
    data = {"image": image, "runtime": runtime, "runtime_args": ["--containall", *args]}
    if runtime != "apptainer":
        data["runtime_args"] = args
    message = policy_error(lambda: site.build_spec(data, where="kernel.json"))
    index = data["runtime_args"].index(args[0])
    allowed = ", ".join(DEFAULT_ALLOWED_RUNTIME_ARGS[runtime])
    assert message == (
        f"kernel.json.runtime_args[{index}]: {args[0]!r} is not allowed by this site's policy "
        f"for {runtime} (runtime options may reach more of the host than the kernel's settings "
        f"allow). Allowed: {allowed}. Remove it from the kernel's runtime_args (binds belong in "
        "'binds', variables in 'env'), or ask your site's administrators to allow it with "
        f"c.SiteConfig.allowed_runtime_args = {{{runtime!r}: [...the options above..., "
        f"{args[0].partition('=')[0]!r}]}}."
    )


def test_harmless_runtime_args_pass_and_admins_choose_per_runtime() -> None:
    data = {
        "image": "/img/a.sif",
        "runtime_args": ["--containall", "--no-home", "--writable-tmpfs", "--pwd", "/work"],
    }
    assert SiteConfig().build_spec(data).runtime_args == tuple(data["runtime_args"])
    fakeroot = {"image": "/img/a.sif", "runtime_args": ["--fakeroot"]}
    site = SiteConfig(allowed_runtime_args={"apptainer": ["--fakeroot"]})
    assert site.build_spec(fakeroot).runtime_args == ("--fakeroot",)
    # A runtime the admin lists gets exactly that list; the others keep their defaults.
    with pytest.raises(PolicyError, match="Allowed: --fakeroot\\."):
        site.build_spec(data)
    podman = {"image": "docker.io/x:1", "runtime": "podman", "runtime_args": ["--read-only"]}
    assert site.build_spec(podman).runtime_args == ("--read-only",)


async def test_a_hand_edited_kernel_with_a_bind_in_runtime_args_fails_to_start(
    test_image: str, make_container_kernel: Callable[..., str], lmod_env: dict[str, str]
) -> None:
    name = make_container_kernel(
        "sneaky",
        {"image": test_image, "runtime": "apptainer", "runtime_args": ["-B", "/:/host"]},
    )
    km = AsyncKernelManager(kernel_name=name)
    with pytest.raises(PolicyError, match=r"runtime_args\[0\]: '-B' is not allowed"):
        await km.start_kernel()
    assert not km.has_kernel


async def test_a_spec_built_without_the_site_is_checked_at_launch(tmp_path: Path) -> None:
    image = tmp_path / "a.sif"
    image.write_bytes(b"")
    spec = ContainerSpec.from_dict({"image": str(image), "runtime_args": ["--bind", "/:/host"]})
    with pytest.raises(PolicyError, match=r"runtime_args\[0\]: '--bind' is not allowed"):
        await prepare(spec, CMD, site=SiteConfig())


def test_the_default_allow_lists_hold_only_known_and_harmless_options() -> None:
    assert set(DEFAULT_ALLOWED_RUNTIME_ARGS) == set(RUNTIMES)
    for runtime, options in DEFAULT_ALLOWED_RUNTIME_ARGS.items():
        assert set(options) <= set(get_runtime(runtime).options), runtime
        family = {"singularity": "apptainer", "podman-hpc": "podman"}.get(runtime, runtime)
        assert not set(options) & set(DANGEROUS[family]), runtime


def test_the_site_refuses_an_allow_list_naming_unknown_runtimes_or_options() -> None:
    with pytest.raises(SpecError, match=r"allowed_runtime_args.apptainer\[0\]: '--nosuch'"):
        SiteConfig(allowed_runtime_args={"apptainer": ["--nosuch"]})
    with pytest.raises(SpecError, match="'docker' is not one of"):
        SiteConfig(allowed_runtime_args={"docker": []})
