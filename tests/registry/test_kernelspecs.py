"""Installing, listing, changing and removing container kernels in every scope, as Jupyter sees
them (jupyter_client's KernelSpecManager over pytest-jupyter's temporary paths)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import jupyter_core.paths
import pytest
from jupyter_client.kernelspec import KernelSpecManager

from jupyter_container_kernels.errors import (
    ConflictError,
    ImageError,
    NotFoundError,
    PolicyError,
    SpecError,
)
from jupyter_container_kernels.registry import kernelspecs
from jupyter_container_kernels.registry.kernelspecs import (
    get_kernel,
    install_kernel,
    kernels_dir,
    list_kernels,
    remove_kernel,
    update_kernel,
)
from jupyter_container_kernels.site import SiteConfig

SCOPE_DIRS = {
    "user": lambda prefix: Path(jupyter_core.paths.jupyter_data_dir()) / "kernels",
    "sys-prefix": lambda prefix: Path(jupyter_core.paths.ENV_JUPYTER_PATH[0]) / "kernels",
    "system": lambda prefix: Path(jupyter_core.paths.SYSTEM_JUPYTER_PATH[0]) / "kernels",
    "prefix": lambda prefix: Path(prefix) / "share" / "jupyter" / "kernels",
}


def install(image: str, site: SiteConfig, **kwargs: Any) -> kernelspecs.ContainerKernel:
    kwargs.setdefault("probe", False)
    return asyncio.run(
        install_kernel({"image": image, **kwargs.pop("spec", {})}, site=site, **kwargs)
    )


@pytest.mark.parametrize("scope", ["user", "sys-prefix", "prefix", "system"])
def test_install_writes_a_kernelspec_jupyter_sees_in_each_scope(
    scope: str, test_image: str, site: SiteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = str(tmp_path / "prefix") if scope == "prefix" else None
    if prefix:  # Jupyter searches a prefix through JUPYTER_PATH
        monkeypatch.setenv("JUPYTER_PATH", os.path.join(prefix, "share", "jupyter"))
    kernel = install(
        test_image,
        site,
        name="torch",
        display_name="Torch (container)",
        spec={"gpu": "none", "binds": ["/scratch"], "modules": ["cuda/12.4"]},
        scope=scope,
        prefix=prefix,
    )
    folder = SCOPE_DIRS[scope](prefix) / "torch"
    assert kernel.resource_dir == str(folder) and kernel.scope == scope
    assert json.loads((folder / "kernel.json").read_text()) == {
        "argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Torch (container)",
        "language": "python",
        "interrupt_mode": "message",
        "metadata": {
            "kernel_provisioner": {
                "provisioner_name": "container-provisioner",
                "config": {
                    "image": test_image,
                    "runtime": "charliecloud",
                    "gpu": "none",
                    "binds": ["/scratch"],
                    "modules": ["cuda/12.4"],
                    "cleanenv": False,
                },
            },
        },
    }
    assert {p.name for p in folder.iterdir()} == {"kernel.json", "logo-64x64.png", "logo-svg.svg"}

    ks = KernelSpecManager().get_kernel_spec("torch")
    assert ks.resource_dir == str(folder) and ks.display_name == "Torch (container)"
    assert ks.metadata["kernel_provisioner"]["provisioner_name"] == "container-provisioner"
    assert "torch" in KernelSpecManager().get_all_specs()
    assert [k.name for k in list_kernels(site)] == ["torch"]
    assert get_kernel("torch", site).to_dict() == kernel.to_dict()
    assert kernel.editable is (scope != "system") and kernel.managed is False


def test_the_kernel_dict_is_the_rest_shape(test_image: str, site: SiteConfig) -> None:
    kernel = install(test_image, site, name="shape")
    assert kernel.to_dict() == {
        "name": "shape",
        "display_name": "shape (container)",
        "scope": "user",
        "editable": True,
        "managed": False,
        "resource_dir": kernel.resource_dir,
        "spec": {"image": test_image, "runtime": "charliecloud", "gpu": "auto", "cleanenv": False},
        "image_present": True,
        "probe": None,
    }


def test_install_probes_first_and_refuses_an_image_without_ipykernel(
    test_image: str, bare_image: str, site: SiteConfig
) -> None:
    kernel = install(test_image, site, name="probed", probe=True)
    assert kernel.probe is not None and kernel.probe.ok and kernel.probe.ipykernel_version
    with pytest.raises(ImageError, match="pip install ipykernel"):
        install(bare_image, site, name="bare", probe=True)
    assert [k.name for k in list_kernels(site)] == ["probed"], "nothing installed when refused"
    assert install(bare_image, site, name="bare", probe=False).name == "bare"  # --no-probe


def test_names_are_derived_from_the_image_or_validated(test_image: str, site: SiteConfig) -> None:
    assert install(test_image, site).name == "py-ipykernel"
    assert kernelspecs.name_from_image("/shared/images/PyTorch 2.7.sif") == "pytorch-2.7"
    for bad in ("Torch", "my kernel", "ü", "a/b"):
        with pytest.raises(SpecError, match="lower-case letters, digits and . _ -"):
            install(test_image, site, name=bad)


def test_an_existing_name_conflicts_unless_forced(test_image: str, site: SiteConfig) -> None:
    install(test_image, site, name="twice", display_name="First")
    with pytest.raises(ConflictError, match="'twice' already exists.*--force"):
        install(test_image, site, name="twice")
    with pytest.raises(ConflictError, match="python3"):  # not only container kernels count
        install(test_image, site, name="python3")
    assert (
        install(test_image, site, name="twice", display_name="Second", force=True).display_name
        == "Second"
    )


def test_user_images_must_be_under_the_allowed_roots(
    outside_image: str, image_root: str, site: SiteConfig, tmp_path: Path
) -> None:
    with pytest.raises(PolicyError) as info:
        install(outside_image, site, name="outside")
    assert image_root in str(info.value) and outside_image in str(info.value)
    # Administrators' scopes are not restricted.
    assert install(outside_image, site, name="outside", scope="system").scope == "system"


def test_invalid_specs_name_the_field(test_image: str, site: SiteConfig) -> None:
    with pytest.raises(SpecError, match=r"^spec\.gpu: 'tpu' is not one of"):
        install(test_image, site, spec={"gpu": "tpu"})
    with pytest.raises(SpecError, match=r"^spec\.image: 'relative.sif' is not an absolute path"):
        asyncio.run(install_kernel({"image": "relative.sif"}, site=site, probe=False))


def test_update_merges_changes_and_validates_them(test_image: str, site: SiteConfig) -> None:
    install(test_image, site, name="edit", spec={"modules": ["cuda/12.4"]})
    kernel = update_kernel("edit", "Edited", {"gpu": "none", "binds": ["/tmp/x:/mnt/1"]}, site=site)
    assert kernel.display_name == "Edited"
    assert kernel.spec.to_dict() == {
        "image": test_image,
        "runtime": "charliecloud",
        "gpu": "none",
        "binds": ["/tmp/x:/mnt/1"],
        "modules": ["cuda/12.4"],
        "cleanenv": False,
    }
    assert (
        update_kernel("edit", changes={"python": "/usr/bin/python3"}, site=site).display_name
        == "Edited"
    )
    on_disk = json.loads(Path(kernel.resource_dir, "kernel.json").read_text())
    assert on_disk["argv"][0] == "/usr/bin/python3", "argv follows the spec's python"
    with pytest.raises(SpecError, match=r"^spec\.gpu"):
        update_kernel("edit", changes={"gpu": "yes"}, site=site)
    with pytest.raises(PolicyError, match="allow"):
        update_kernel("edit", changes={"image": "/usr/lib"}, site=site)
    with pytest.raises(NotFoundError, match="'nosuch'.*edit"):
        update_kernel("nosuch", "x", site=site)


def test_system_kernels_are_not_editable(outside_image: str, site: SiteConfig) -> None:
    install(outside_image, site, name="admin", scope="system")
    with pytest.raises(PolicyError, match="system kernel"):
        update_kernel("admin", "Mine now", site=site)
    with pytest.raises(PolicyError, match="--system"):
        remove_kernel("admin")
    assert remove_kernel("admin", "system").endswith("/admin")
    assert list_kernels(site) == []


def test_remove_and_not_found(test_image: str, site: SiteConfig) -> None:
    kernel = install(test_image, site, name="gone")
    install(test_image, site, name="kept")
    assert remove_kernel("gone") == kernel.resource_dir and not Path(kernel.resource_dir).exists()
    with pytest.raises(NotFoundError) as info:
        get_kernel("gone", site)
    assert "'gone'" in str(info.value) and "kept" in str(info.value)
    with pytest.raises(NotFoundError, match="not a container kernel"):
        get_kernel("python3", site)
    with pytest.raises(NotFoundError, match="sys-prefix"):
        remove_kernel("kept", "sys-prefix")


def test_listing_runs_no_process(
    test_image: str, site: SiteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    install(test_image, site, name="probed", probe=True)
    missing = tmp_path / "images" / "missing.sif"
    missing.parent.mkdir()
    missing.write_text("x")
    install(str(missing), site, name="missing", scope="system")
    missing.unlink()

    def no_process(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"listing started a process: {args}")

    monkeypatch.setattr(subprocess.Popen, "__init__", no_process)
    monkeypatch.setattr(asyncio, "create_subprocess_exec", no_process)
    kernels = {k.name: k for k in list_kernels(site)}
    assert kernels["probed"].image_present is True and kernels["probed"].probe.cached is True
    assert kernels["missing"].image_present is False and kernels["missing"].probe is None


def test_a_broken_kernel_json_does_not_break_the_listing(
    test_image: str, site: SiteConfig, make_container_kernel: Any, jp_kernel_dir: Path
) -> None:
    install(test_image, site, name="good")
    make_container_kernel("bad-spec", {"image": test_image, "gpu": "tpu"})
    (jp_kernel_dir / "bad-json").mkdir()
    (jp_kernel_dir / "bad-json" / "kernel.json").write_text("{not json")
    assert [k.name for k in list_kernels(site)] == ["good"]
    broken = {k.name: k.error for k in kernelspecs.broken_kernels(site)}
    assert set(broken) == {"bad-spec", "bad-json"} and "'tpu'" in broken["bad-spec"]
    with pytest.raises(SpecError, match="tpu"):
        get_kernel("bad-spec", site)
    assert remove_kernel("bad-spec").endswith("bad-spec"), "a broken kernel can still be removed"


def test_the_site_logo_is_used(test_image: str, image_root: str, tmp_path: Path) -> None:
    logo = tmp_path / "site.svg"
    logo.write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    site = SiteConfig(default_runtime="charliecloud", default_logo=str(logo))
    kernel = install(test_image, site, name="logo")
    files = {p.name: p.read_text() for p in Path(kernel.resource_dir).glob("logo*")}
    assert files == {"logo-svg.svg": logo.read_text()}
    assert KernelSpecManager().get_all_specs()["logo"]["resource_dir"] == kernel.resource_dir


def test_kernels_dir_scopes(tmp_path: Path) -> None:
    assert kernels_dir("prefix", str(tmp_path)) == tmp_path / "share" / "jupyter" / "kernels"
    with pytest.raises(SpecError, match="--prefix"):
        kernels_dir("prefix")
    with pytest.raises(SpecError, match="'global' is not one of"):
        kernels_dir("global")
