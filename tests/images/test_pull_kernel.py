"""End to end: a ``docker save`` tarball of the test image (two layers: the image, then a layer
that adds a marker file and deletes one with a whiteout) pulled into the store runs a real
Charliecloud kernel through jupyter_client."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from jupyter_container_kernels.images.sources import parse_source
from jupyter_container_kernels.images.store import ImageStore, ProgressEvent
from tests.kernels.test_provisioner import config_for, kernel, run_json

from .dockersave import Entry, save

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
