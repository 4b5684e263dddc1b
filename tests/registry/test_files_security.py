"""Who may read a kernel's files, and what writing a kernel may touch: kernel.json can carry
secrets (``env``), and ``--force`` must never write through a symbolic link."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_container_kernels.errors import ConflictError
from jupyter_container_kernels.registry import kernelspecs
from jupyter_container_kernels.registry.kernelspecs import (
    install_kernel,
    kernels_dir,
    update_kernel,
)
from jupyter_container_kernels.site import SiteConfig


def install(image: str, site: SiteConfig, **kwargs: Any) -> kernelspecs.ContainerKernel:
    return asyncio.run(
        install_kernel(
            {"image": image, "env": {"API_TOKEN": "s3cr3t"}}, site=site, probe=False, **kwargs
        )
    )


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def umask() -> Iterator[Callable[[int], int]]:
    """``os.umask``: the process's umask (0o022 to begin with) is restored when the test ends."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def test_user_kernels_get_the_umask(test_image: str, site: SiteConfig, umask: Any) -> None:
    umask(0o077)
    kernel = install(test_image, site, name="private")
    folder = Path(kernel.resource_dir)
    assert mode(folder) == 0o700
    assert {f.name: mode(f) for f in folder.iterdir()} == {
        "kernel.json": 0o600,
        "logo-64x64.png": 0o600,
        "logo-svg.svg": 0o600,
    }
    umask(0o022)
    install(test_image, site, name="public")
    assert mode(kernels_dir("user") / "public" / "kernel.json") == 0o644


@pytest.mark.parametrize("scope", ["system", "sys-prefix"])
def test_shared_scopes_are_world_readable_whatever_the_umask(
    scope: str, test_image: str, site: SiteConfig, umask: Any
) -> None:
    umask(0o077)
    kernel = install(test_image, site, name="shared", scope=scope)
    folder = Path(kernel.resource_dir)
    assert folder.parent == kernels_dir(scope)
    assert mode(folder) == 0o755
    assert {mode(f) for f in folder.iterdir()} == {0o644}


def test_an_update_keeps_a_private_kernel_json_private(
    test_image: str, site: SiteConfig, umask: Any
) -> None:
    install(test_image, site, name="private")
    path = kernels_dir("user") / "private" / "kernel.json"
    os.chmod(path, 0o600)  # its owner made it private
    updated = update_kernel("private", display_name="Private", site=site)
    assert updated.display_name == "Private"
    assert mode(path) == 0o600


def test_force_onto_a_symlinked_kernel_directory_is_refused(
    test_image: str, site: SiteConfig, tmp_path: Path
) -> None:
    target = tmp_path / "project"
    target.mkdir(mode=0o750)
    (target / "notes.txt").write_text("keep me")
    (target / "kernel.json").write_text('{"argv": ["true"], "display_name": "x"}')
    os.chmod(target, 0o750)
    link = kernels_dir("user") / "linked"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    with pytest.raises(ConflictError) as info:
        install(test_image, site, name="linked", force=True)
    assert str(info.value) == (
        f"Cannot write the kernel {link}: {link} is a symbolic link (to {target}), and writing "
        f"through it would replace what is there. Remove the link (`rm {link}`) and try "
        "again, or use another kernel name."
    )
    assert sorted(f.name for f in target.iterdir()) == ["kernel.json", "notes.txt"]
    assert (target / "notes.txt").read_text() == "keep me"
    assert mode(target) == 0o750


def test_force_onto_a_symlinked_kernel_json_is_refused(
    test_image: str, site: SiteConfig, tmp_path: Path
) -> None:
    shared = tmp_path / "shared-kernel.json"
    shared.write_text('{"argv": ["true"], "display_name": "shared"}')
    folder = kernels_dir("user") / "linkedjson"
    folder.mkdir(parents=True)
    (folder / "kernel.json").symlink_to(shared)
    with pytest.raises(ConflictError) as info:
        install(test_image, site, name="linkedjson", force=True)
    assert str(info.value) == (
        f"Cannot write the kernel {folder}: {folder}/kernel.json is a symbolic link (to "
        f"{shared}), and writing through it would replace what is there. Remove the link "
        f"(`rm {folder}/kernel.json`) and try again, or use another kernel name."
    )
    assert (folder / "kernel.json").is_symlink()
    assert shared.read_text() == '{"argv": ["true"], "display_name": "shared"}'
