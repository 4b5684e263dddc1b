"""End to end: a ``docker save`` tarball of the test image (two layers: the image, then a layer
that adds a marker file and deletes one with a whiteout), and an OCI layout of the same layers,
pulled into the store run a real Charliecloud kernel through jupyter_client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jupyter_core.paths
import pytest

from jupyter_container_kernels.images.sources import parse_source
from jupyter_container_kernels.images.store import ImageStore, ProgressEvent
from tests.kernels.test_provisioner import config_for, kernel, run_json

from .dockersave import Entry, save
from .ocilayout import write

JUPYTER = str(Path(sys.executable).parent / "jupyter")
__all__ = ["kernel"]  # the fixture, shared with the provisioner's tests


@pytest.fixture(scope="module")
def image_tarball(test_image: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tarball") / "pulled.tar"
    upper = [Entry("etc/jck-pulled", b"from the tarball\n"), Entry("etc/.wh.jck-test-image")]
    save(path, [(["localhost/jck/pulled:1"], [Path(test_image), upper])])
    return path


async def test_a_pulled_tarball_runs_a_charliecloud_kernel(
    image_tarball: Path, tmp_path: Path, kernel: Any
) -> None:
    store = ImageStore(str(tmp_path / "store"))
    events: list[ProgressEvent] = []
    pulled = store.pull(parse_source(f"docker-archive:{image_tarball}"), progress=events.append)
    assert Path(pulled.path).name == "pulled-1" and not pulled.reused
    assert [e.phase for e in events if e.finished] == ["read", "unpack"]

    async with kernel(config_for("charliecloud", pulled.path)) as (_km, kc):
        seen = await run_json(
            kc,
            "{'pulled': open('/etc/jck-pulled').read(), "
            "'whited_out': os.path.exists('/etc/jck-test-image'), "
            "'mnt': sorted(os.listdir('/mnt'))}",
        )
    assert seen == {
        "pulled": "from the tarball\n",
        "whited_out": False,
        "mnt": [str(i) for i in range(10)],
    }

    start = time.monotonic()
    again = store.pull(parse_source(str(image_tarball)), progress=events.append)
    assert again.reused and again.path == pulled.path
    assert time.monotonic() - start < 1.0  # reads manifest.json and the config, unpacks nothing


async def test_a_pulled_oci_layout_runs_a_charliecloud_kernel(
    test_image: str, tmp_path: Path, kernel: Any
) -> None:
    """The same two layers as an OCI layout: gzipped, behind a nested index, picked by ref."""
    layout = tmp_path / "layout"
    upper = [Entry("etc/jck-pulled", b"from the layout\n"), Entry("etc/.wh.jck-test-image")]
    write(layout, [("1", [Path(test_image), upper])], gzip_layers=True, nested=True)
    store = ImageStore(str(tmp_path / "store"))
    pulled = store.pull(parse_source(f"oci:{layout}:1"))
    assert Path(pulled.path).name == "layout-1" and not pulled.reused

    async with kernel(config_for("charliecloud", pulled.path)) as (_km, kc):
        seen = await run_json(
            kc,
            "{'pulled': open('/etc/jck-pulled').read(), "
            "'whited_out': os.path.exists('/etc/jck-test-image')}",
        )
    assert seen == {"pulled": "from the layout\n", "whited_out": False}


def test_install_pulls_an_archive_first(
    image_tarball: Path, lmod_env: dict[str, str], jp_environ: None
) -> None:
    """``install docker-archive:TAR`` pulls into the store, probes the stored image with
    Charliecloud and registers it; a second install reuses the stored image."""
    store = Path(jupyter_core.paths.jupyter_data_dir(), "container-kernels", "images")
    done = jck("install", f"docker-archive:{image_tarball}", "--name", "pulled", env=lmod_env)
    assert done.returncode == 0, done.stderr
    assert [line.split(":")[0] for line in done.stderr.splitlines()] == ["read", "unpack"]
    assert done.stdout.startswith("Installed pulled (pulled (container)) in ")
    assert "ipykernel" in done.stdout
    spec = json.loads(
        Path(jupyter_core.paths.jupyter_data_dir(), "kernels", "pulled", "kernel.json").read_text()
    )
    config = spec["metadata"]["kernel_provisioner"]["config"]
    assert (config["image"], config["runtime"]) == (str(store / "pulled"), "charliecloud")

    done = jck("install", str(image_tarball), "--name", "pulled", "--force", env=lmod_env)
    assert done.returncode == 0 and done.stderr == "", done.stderr  # reused: nothing to report
    done = jck("install", str(image_tarball), "--runtime", "shifter", env=lmod_env)
    assert done.returncode == 2
    assert done.stderr.startswith(
        "Error: --runtime shifter: pulled images run with charliecloud, podman, apptainer, "
        "singularity only"
    )


def jck(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [JUPYTER, "container-kernels", *args], capture_output=True, text=True, timeout=300,
        env={**env, **os.environ}, check=False,
    )  # fmt: skip
