"""Podman for real (Debian's Podman 4.3, as root, runc; see ``podman_env``): an image loaded
from a ``docker save`` tarball runs a ``runtime: podman`` kernel through jupyter_client, which
is interrupted, restarted and shut down with no container left behind."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from jupyter_container_kernels.images.sources import parse_source
from jupyter_container_kernels.images.store import ImageStore, ProgressEvent
from tests.images.dockersave import Entry, save

from .test_provisioner import KERNEL_INFO_TIMEOUT, kernel, run, run_json

__all__ = ["kernel"]  # the fixture, shared with the provisioner's tests


@pytest.fixture(scope="module")
def podman_tarball(test_image: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("podman") / "pulled.tar"
    upper = [Entry("etc/jck-pulled", b"loaded by podman\n")]
    save(path, [(["localhost/jck/podman:1"], [Path(test_image), upper])])
    return path


def containers() -> str:
    return subprocess.run(
        ["podman", "ps", "-a", "--format", "{{.Names}} {{.Status}}"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip


def test_pull_for_podman_loads_a_tarball_into_podmans_storage(
    podman_env: dict[str, str], podman_tarball: Path, tmp_path: Path
) -> None:
    store = ImageStore(str(tmp_path / "store"))
    events: list[ProgressEvent] = []
    pulled = store.pull(
        parse_source(f"docker-archive:{podman_tarball}"), runtime="podman", progress=events.append
    )
    assert pulled.path == "localhost/jck/podman:1"
    assert [e.phase for e in events if e.finished] == ["load"]
    inspect = subprocess.run(
        ["podman", "image", "inspect", pulled.path], capture_output=True, text=True, check=True
    )
    assert "sha256:" + json.loads(inspect.stdout)[0]["Id"] == pulled.metadata["digest"]
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())

    again = store.pull(parse_source(str(podman_tarball)), runtime="podman", name="mine")
    assert (
        again.path == "localhost/mine:latest"
        and again.metadata["digest"] == pulled.metadata["digest"]
    )


async def test_a_podman_kernel_runs_inside_the_image_and_leaves_no_container(
    podman_env: dict[str, str], podman_tarball: Path, tmp_path: Path, kernel: Any
) -> None:
    image = (
        ImageStore(str(tmp_path / "store"))
        .pull(parse_source(str(podman_tarball)), runtime="podman")
        .path
    )
    async with kernel({"image": image, "runtime": "podman"}) as (km, kc):
        seen = await run_json(
            kc,
            "{'marker': open('/etc/jck-test-image').read().strip(), "
            "'pulled': open('/etc/jck-pulled').read(), 'podman': os.path.exists('/run/.containerenv')}",
        )
        assert seen == {"marker": "py-ipykernel", "pulled": "loaded by podman\n", "podman": True}
        assert len(containers().splitlines()) == 1

        msg_id = kc.execute("import time\nprint('sleeping', flush=True)\ntime.sleep(60)")
        while True:  # wait until the cell really runs
            msg = await kc.get_iopub_msg(timeout=30)
            if msg["msg_type"] == "stream" and "sleeping" in msg["content"]["text"]:
                break
        await km.interrupt_kernel()
        reply = await kc.get_shell_msg(timeout=20)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert (reply["content"]["status"], reply["content"]["ename"]) == (
            "error",
            "KeyboardInterrupt",
        )
        for _ in range(20):  # ipykernel aborts requests right after an error: retry
            stdout, content = await run(kc, "x = 6 * 7; print(x)")
            if content["status"] != "aborted":
                break
            await asyncio.sleep(0.1)
        assert (stdout, content["status"]) == ("42\n", "ok")

        await km.restart_kernel(now=False)
        await kc.wait_for_ready(timeout=KERNEL_INFO_TIMEOUT)
        stdout, _ = await run(kc, "print('x' in dir())")
        assert stdout == "False\n"  # a new kernel, in a new container
        assert len(containers().splitlines()) == 1

        await km.shutdown_kernel(now=False)
        assert not km.has_kernel
    for _ in range(50):  # `podman run --rm` removes the container as it exits
        if containers() == "":
            break
        await asyncio.sleep(0.2)
    assert containers() == ""


async def test_a_killed_podman_kernel_leaves_no_container(
    podman_env: dict[str, str], podman_tarball: Path, tmp_path: Path, kernel: Any
) -> None:
    """``shutdown_kernel(now=True)`` (and a restart with ``now=True``) kill the ``podman run``
    client; the container must not outlive it."""
    image = (
        ImageStore(str(tmp_path / "store"))
        .pull(parse_source(str(podman_tarball)), runtime="podman")
        .path
    )
    async with kernel({"image": image, "runtime": "podman"}) as (km, kc):
        await run(kc, "x = 1")
        await km.restart_kernel(now=True)
        await kc.wait_for_ready(timeout=KERNEL_INFO_TIMEOUT)
        stdout, _ = await run(kc, "print('x' in dir())")
        assert stdout == "False\n"
        await km.shutdown_kernel(now=True)
    for _ in range(50):
        if containers() == "":
            break
        await asyncio.sleep(0.2)
    assert containers() == ""
