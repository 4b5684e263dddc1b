"""SIF images for Apptainer, made by the runtime's own ``apptainer build`` / ``apptainer pull``.

NOT a real Apptainer: these run the test stand-in (tests/support/bin/apptainer, whose ``pull``
and ``build`` are tests/support/apptainer_pull.py: skopeo, umoci and mksquashfs underneath, a
SquashFS file where Apptainer writes a SIF). They prove what this package does around the
runtime: the command lines, the progress phases read from its INFO lines, its FATAL lines
turned into errors naming the fix, the store's sidecar, reuse, and that the stored image runs a
kernel through the Apptainer runtime.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from jupyter_container_kernels.errors import ImageError, RegistryError
from jupyter_container_kernels.images.registry import RegistryOptions
from jupyter_container_kernels.images.sources import parse_source
from jupyter_container_kernels.images.store import ImageStore, ProgressEvent
from tests.kernels.test_provisioner import config_for, kernel, run_json

from .dockersave import Entry, save
from .registry import Registry
from .test_pull_kernel import jck

__all__ = ["kernel"]  # the fixture, shared with the provisioner's tests


@pytest.fixture
def store(tmp_path: Path, apptainer_standin: str) -> ImageStore:
    return ImageStore(str(tmp_path / "store"), runtime_paths={"apptainer": apptainer_standin})


@pytest.fixture(scope="module")
def sif_tarball(test_image: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sif") / "tool.tar"
    upper = [Entry("etc/jck-pulled", b"built by apptainer\n"), Entry("etc/.wh.jck-test-image")]
    save(path, [(["localhost/jck/tool:3"], [Path(test_image), upper])])
    return path


def sha256(path: str) -> str:
    with open(path, "rb") as f:
        return "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()


async def test_a_tarball_becomes_a_sif_that_runs_an_apptainer_kernel(
    store: ImageStore, sif_tarball: Path, kernel: Any
) -> None:
    events: list[ProgressEvent] = []
    pulled = store.pull(parse_source(str(sif_tarball)), runtime="apptainer", progress=events.append)
    assert pulled.path == os.path.join(store.root, "tool-3.sif") and not pulled.reused
    assert [e.phase for e in events if e.finished] == ["read", "download", "unpack", "convert"]
    meta = json.loads(Path(pulled.path + ".json").read_text())
    assert meta["sif_sha256"] == sha256(pulled.path)
    assert meta["tarball_sha256"] == sha256(str(sif_tarball))
    assert (meta["runtime"], meta["runtime_version"]) == ("apptainer", "1.3.4-standin")
    assert sorted(os.listdir(store.root)) == [".locks", "tool-3.sif", "tool-3.sif.json"]

    async with kernel(config_for("apptainer", pulled.path)) as (_km, kc):
        seen = await run_json(
            kc,
            "{'pulled': open('/etc/jck-pulled').read(), "
            "'whited_out': os.path.exists('/etc/jck-test-image')}",
        )
    assert seen == {"pulled": "built by apptainer\n", "whited_out": False}

    again = store.pull(parse_source(f"docker-archive:{sif_tarball}"), runtime="apptainer")
    assert again.reused and again.path == pulled.path

    # a user whose site lists this store as shared gets that SIF, not a copy
    user = ImageStore(str(store.root) + "-user", shared=[store.root],
                      runtime_paths=store.runtime_paths)  # fmt: skip
    found = user.pull(parse_source(str(sif_tarball)), runtime="apptainer")
    assert found.reused and found.path == pulled.path and not os.path.exists(user.root)


def test_a_registry_image_is_pulled_as_a_sif_and_oras_fetches_one(
    store: ImageStore, oci_registry: Registry
) -> None:
    """docker:// through ``apptainer pull`` (the CA given to Apptainer as SSL_CERT_DIR); that SIF
    pushed as an ORAS artifact comes back unchanged through ``oras://``."""
    options = RegistryOptions(cert_dir=str(oci_registry.cert_dir))
    ref = f"docker://{oci_registry.host}/jck/tiny:1"
    events: list[ProgressEvent] = []
    pulled = store.pull(parse_source(ref), runtime="apptainer", options=options,
                        progress=events.append)  # fmt: skip
    assert pulled.path.endswith("/tiny-1.sif")
    assert [e.phase for e in events if e.finished] == ["download", "unpack", "convert"]
    shown = subprocess.run(
        ["unsquashfs", "-cat", pulled.path, "etc/tiny"], capture_output=True, text=True, timeout=60
    )  # fmt: skip (the stand-in's SIF is SquashFS)
    assert shown.stdout == "tiny\n", shown.stderr
    assert store.pull(parse_source(ref), runtime="apptainer", options=options).reused

    oci_registry.push_sif(Path(pulled.path), "jck/tiny-sif:1")
    fetched = store.pull(parse_source(f"oras://{oci_registry.host}/jck/tiny-sif:1"),
                         runtime="apptainer", options=options)  # fmt: skip
    assert fetched.path.endswith("/tiny-sif-1.sif")
    assert sha256(fetched.path) == sha256(pulled.path) == fetched.metadata["digest"]


def test_apptainers_fatal_lines_become_errors_naming_the_fix(
    store: ImageStore, oci_registry: Registry, tmp_path: Path
) -> None:
    options = RegistryOptions(cert_dir=str(oci_registry.cert_dir))
    with pytest.raises(RegistryError) as info:
        store.pull(parse_source(f"docker://{oci_registry.host}/jck/tiny:2"), runtime="apptainer",
                   options=options)  # fmt: skip
    assert info.value.kind == "not-found" and "(manifest unknown)" in str(info.value)
    with pytest.raises(RegistryError) as info:
        store.pull(parse_source(f"oras://{oci_registry.host}/jck/tiny:1"), runtime="apptainer")
    assert info.value.kind == "tls" and str(info.value).startswith(f"oras://{oci_registry.host}")

    broken = tmp_path / "broken.tar"
    save(broken, [(["x:1"], [b"not a tar"])])
    with pytest.raises(ImageError, match=r"^`.*apptainer build` of .*broken.tar failed: "):
        store.pull(parse_source(str(broken)), runtime="apptainer")
    assert sorted(os.listdir(store.root)) == [".locks"]  # no SIF, no temporary directory


def test_install_builds_a_sif_and_registers_it(
    sif_tarball: Path, apptainer_standin: str, lmod_env: dict[str, str], jp_environ: None
) -> None:
    config = Path(os.environ["JUPYTER_CONFIG_DIR"], "jupyter_container_kernels_config.json")
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        json.dumps({"SiteConfig": {"runtime_paths": {"apptainer": apptainer_standin}}})
    )
    done = jck("install", f"docker-archive:{sif_tarball}", "--runtime", "apptainer", "--name",
               "built", env=lmod_env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [line.split(":")[0] for line in done.stderr.splitlines()] == [
        "read", "download", "unpack", "convert",
    ]  # fmt: skip
    kernel_json = Path(os.environ["JUPYTER_DATA_DIR"], "kernels", "built", "kernel.json")
    spec = json.loads(kernel_json.read_text())["metadata"]["kernel_provisioner"]["config"]
    assert spec["runtime"] == "apptainer" and spec["image"].endswith("/images/built.sif")
    assert "ipykernel" in done.stdout  # probed: the SIF runs


def test_a_sif_build_without_mksquashfs_says_to_install_it_and_leaves_nothing(
    store: ImageStore, sif_tarball: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Apptainer writes a SIF with mksquashfs (squashfs-tools): a site without it gets the
    package to install, not Apptainer's `exec: "mksquashfs": executable file not found`."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("skopeo", "umoci"):  # what the build uses besides mksquashfs
        found = shutil.which(name)
        assert found, name
        (tools / name).symlink_to(found)
    monkeypatch.setenv("PATH", str(tools))
    with pytest.raises(ImageError) as caught:
        store.pull(parse_source(str(sif_tarball)), runtime="apptainer")
    assert "squashfs-tools" in str(caught.value) and "\n" not in str(caught.value)
    assert sorted(os.listdir(store.root)) == [".locks"]
