"""``--runtime podman``: images go into Podman's own storage (``podman load`` / ``podman
pull``), and ``install`` registers a kernel on the image's reference there. Real Podman (see
``podman_env``) and the real test registry."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from jupyter_container_kernels.errors import RegistryError
from jupyter_container_kernels.images.registry import RegistryOptions
from jupyter_container_kernels.images.sources import parse_source
from jupyter_container_kernels.images.store import ImageStore, ProgressEvent

from .dockersave import Entry, save
from .registry import Registry
from .test_pull_kernel import jck


def podman_id(reference: str) -> str:
    done = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}}", reference],
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    return "sha256:" + done.stdout.strip()


def test_a_registry_image_is_pulled_into_podman(
    podman_env: dict[str, str], oci_registry: Registry, tmp_path: Path
) -> None:
    store = ImageStore(str(tmp_path / "store"))
    events: list[ProgressEvent] = []
    ref = f"{oci_registry.host}/jck/tiny:1"
    options = RegistryOptions(cert_dir=str(oci_registry.cert_dir))
    pulled = store.pull(parse_source(f"docker://{ref}"), runtime="podman", options=options,
                        progress=events.append)  # fmt: skip
    assert pulled.path == ref and pulled.metadata["digest"] == podman_id(ref)
    assert [e.phase for e in events if e.finished] == ["download"]
    assert [e.done for e in events if not e.finished] == [1]  # one blob copied
    assert not os.path.exists(store.root)  # nothing in the store: Podman keeps it

    with pytest.raises(RegistryError) as info:  # Podman's errors get the same messages
        store.pull(parse_source(f"docker://{oci_registry.host}/jck/tiny:2"), runtime="podman",
                   options=options)  # fmt: skip
    assert info.value.kind == "not-found"
    with pytest.raises(RegistryError) as info:
        store.pull(parse_source(f"docker://{ref}"), runtime="podman")
    assert info.value.kind == "tls" and "--cert-dir" in str(info.value)


def test_install_a_tarball_for_podman_registers_its_reference(
    podman_env: dict[str, str], lmod_env: dict[str, str], jp_environ: None, tmp_path: Path,
    test_image: str,
) -> None:  # fmt: skip
    tarball = tmp_path / "tool.tar"
    save(tarball, [(["localhost/jck/tool:2"], [Path(test_image), [Entry("etc/tool", b"2\n")]])])
    done = jck("install", f"docker-archive:{tarball}", "--runtime", "podman", "--name", "tool",
               env=lmod_env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("load: ")
    assert done.stdout.startswith("Installed tool (tool (container)) in ") and "ipykernel" in (
        done.stdout
    )
    kernel_json = Path(os.environ["JUPYTER_DATA_DIR"], "kernels", "tool", "kernel.json")
    config = json.loads(kernel_json.read_text())["metadata"]["kernel_provisioner"]["config"]
    assert (config["runtime"], config["image"]) == ("podman", "localhost/tool:latest")
    assert podman_id("localhost/tool:latest") == podman_id("localhost/jck/tool:2")
