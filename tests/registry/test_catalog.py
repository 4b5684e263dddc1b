"""A site catalog: one TOML file that creates, updates and removes exactly the kernels it
manages, idempotently, and refuses invalid entries naming the entry and field."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.kernelspec import KernelSpecManager

from jupyter_container_kernels.errors import ConflictError, ImageError, SpecError
from jupyter_container_kernels.registry.catalog import sync
from jupyter_container_kernels.registry.kernelspecs import install_kernel, kernels_dir, list_kernels
from jupyter_container_kernels.site import SiteConfig


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def run_sync(catalog: str, site: SiteConfig, **kwargs: Any) -> dict[str, str]:
    changes = asyncio.run(sync(catalog, site=site, **kwargs))
    return {c.name: c.action for c in changes}


@pytest.fixture
def catalog(tmp_path: Path, test_image: str, bare_image: str) -> Path:
    path = tmp_path / "site-kernels.toml"
    path.write_text(f"""
[defaults]
runtime = "charliecloud"
binds = ["/scratch"]

[kernels.pytorch-2-7]
display_name = "PyTorch 2.7 (container)"
image = "{test_image}"
gpu = "auto"
modules = ["cuda/12.4"]

[kernels.plain]
image = "{bare_image}"
""")
    return path


def test_sync_creates_updates_and_removes_its_kernels_idempotently(
    catalog: Path, site: SiteConfig, test_image: str
) -> None:
    assert run_sync(str(catalog), site) == {"plain": "created", "pytorch-2-7": "created"}
    kernels = {k.name: k for k in list_kernels(site)}
    torch = kernels["pytorch-2-7"]
    assert torch.display_name == "PyTorch 2.7 (container)" and torch.managed and not torch.editable
    assert torch.spec.to_dict() == {
        "image": test_image,
        "runtime": "charliecloud",
        "gpu": "auto",
        "binds": ["/scratch"],
        "modules": ["cuda/12.4"],
        "cleanenv": False,
    }
    assert kernels["plain"].display_name == "plain (container)"
    assert set(KernelSpecManager().find_kernel_specs()) >= {"pytorch-2-7", "plain"}

    before = {p: p.stat().st_mtime_ns for p in kernels_dir("user").rglob("*")}
    assert run_sync(str(catalog), site) == {"plain": "unchanged", "pytorch-2-7": "unchanged"}
    assert {p: p.stat().st_mtime_ns for p in kernels_dir("user").rglob("*")} == before, (
        "nothing rewritten"
    )

    text = catalog.read_text().replace('gpu = "auto"', 'gpu = "none"')
    catalog.write_text(text[: text.index("[kernels.plain]")])
    changes = {c.name: c for c in asyncio.run(sync(str(catalog), site=site))}
    assert {n: c.action for n, c in changes.items()} == {
        "plain": "removed",
        "pytorch-2-7": "updated",
    }
    assert "gpu" in changes["pytorch-2-7"].detail
    assert [(k.name, k.spec.gpu) for k in list_kernels(site)] == [("pytorch-2-7", "none")]


def test_a_dry_run_changes_nothing(catalog: Path, site: SiteConfig) -> None:
    assert run_sync(str(catalog), site, dry_run=True) == {
        "plain": "created",
        "pytorch-2-7": "created",
    }
    assert list_kernels(site) == []


def test_kernels_it_did_not_create_are_never_touched(
    catalog: Path, site: SiteConfig, test_image: str, tmp_path: Path
) -> None:
    asyncio.run(install_kernel({"image": test_image}, name="mine", site=site, probe=False))
    other = write(
        tmp_path / "other.toml",
        f'[kernels.theirs]\nimage = "{test_image}"\nruntime = "charliecloud"\n',
    )
    assert run_sync(other, site) == {"theirs": "created"}
    assert run_sync(str(catalog), site) == {"plain": "created", "pytorch-2-7": "created"}
    catalog.write_text("")  # an empty catalog removes only its own kernels
    assert run_sync(str(catalog), site) == {"plain": "removed", "pytorch-2-7": "removed"}
    assert [k.name for k in list_kernels(site)] == ["mine", "theirs"]


def test_a_name_taken_by_an_unmanaged_kernel_is_refused_before_any_change(
    catalog: Path, site: SiteConfig, test_image: str
) -> None:
    mine = asyncio.run(
        install_kernel(
            {"image": test_image}, name="plain", display_name="Mine", site=site, probe=False
        )
    )
    with pytest.raises(ConflictError, match="kernels.plain: .* not created by this catalog"):
        run_sync(str(catalog), site)
    assert [(k.name, k.display_name) for k in list_kernels(site)] == [("plain", "Mine")]
    assert json.loads(Path(mine.resource_dir, "kernel.json").read_text())["display_name"] == "Mine"


@pytest.mark.parametrize("scope", ["sys-prefix", "system", "prefix"])
def test_sync_into_admin_scopes(
    catalog: Path, site: SiteConfig, scope: str, tmp_path: Path
) -> None:
    prefix = str(tmp_path / "prefix") if scope == "prefix" else None
    assert run_sync(str(catalog), site, scope=scope, prefix=prefix)["plain"] == "created"
    assert (kernels_dir(scope, prefix) / "plain" / "kernel.json").is_file()
    assert run_sync(str(catalog), site, scope=scope, prefix=prefix)["plain"] == "unchanged"


def test_probe_refuses_images_without_ipykernel(
    site: SiteConfig, test_image: str, bare_image: str, tmp_path: Path
) -> None:
    catalog = write(
        tmp_path / "probed.toml",
        f"""
[defaults]
runtime = "charliecloud"
[kernels.good]
image = "{test_image}"
[kernels.plain]
image = "{bare_image}"
""",
    )
    with pytest.raises(ImageError, match="kernels.plain: .*pip install ipykernel") as info:
        run_sync(catalog, site, probe=True)
    assert "kernels.good" not in str(info.value)
    assert list_kernels(site) == [], "a refused probe changes nothing"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            '[kernels.torch]\nimage = "/i.sif"\ngpu = "yes"\n',
            "kernels.torch.gpu: 'yes' is not one of",
        ),
        (
            '[kernels.torch]\nimage = "/i.sif"\ncolour = "red"\n',
            "kernels.torch.colour: unknown key",
        ),
        ('[kernels.torch]\ndisplay_name = "T"\n', "kernels.torch.image: is required"),
        (
            '[kernels.torch]\nimage = "i.sif"\n',
            "kernels.torch.image: 'i.sif' is not an absolute path",
        ),
        (
            '[kernels.Torch]\nimage = "/i.sif"\n',
            "kernels.Torch: 'Torch' is not a valid kernel name",
        ),
        (
            '[kernels.torch]\nimage = "/i.sif"\nbinds = "/scratch"\n',
            "kernels.torch.binds: expected a list",
        ),
        (
            '[kernels.a]\nimage = "/i.sif"\nruntime_args = ["--home"]\n'
            '[kernels.b]\nimage = "/i.sif"\ngpu = "yes"\n',
            "kernels.a.runtime_args",
        ),
        (
            '[kernels.a]\nimage = "/i.sif"\nruntime_args = ["--home"]\n'
            '[kernels.b]\nimage = "/i.sif"\ngpu = "yes"\n',
            "kernels.b.gpu: 'yes' is not one of",
        ),
        ('[defaults]\nimage_dir = "/x"\n', "defaults.image_dir: unknown key"),
        ("[kernel.torch]\n", "kernel: unknown key"),
        ("[kernels.torch\n", "is not valid TOML"),
    ],
)
def test_invalid_catalogs_name_the_entry_and_field(
    toml: str, message: str, tmp_path: Path, site: SiteConfig
) -> None:
    with pytest.raises(SpecError) as info:
        run_sync(write(tmp_path / "bad.toml", toml), site)
    assert message in str(info.value)
    assert list_kernels(site) == []
