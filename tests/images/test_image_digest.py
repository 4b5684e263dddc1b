"""The stored image's digest where users look: ``show``, ``list --json`` (``image_digest``, read
from the store's sidecar, no hashing) and the batch provenance's image identity."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from jupyter_container_kernels.batch.provenance import image_identity
from jupyter_container_kernels.images.sources import parse_source
from jupyter_container_kernels.images.store import ImageStore, StoredImage, stored_digest

from .dockersave import Entry, save
from .test_pull import jck


@pytest.fixture
def pulled(tmp_path: Path) -> StoredImage:
    path = tmp_path / "tool.tar"
    save(path, [(["tool:1"], [[Entry("etc", kind="dir"), Entry("etc/tool", b"x")]])])
    return ImageStore(str(tmp_path / "store")).pull(parse_source(str(path)))


def test_stored_digest_reads_only_the_stores_sidecar(pulled: StoredImage, tmp_path: Path) -> None:
    digest = pulled.metadata["digest"]
    assert stored_digest(pulled.path) == stored_digest(pulled.path + "/") == digest
    other = tmp_path / "other"
    other.mkdir()
    assert stored_digest(str(other)) is None  # no sidecar
    Path(f"{other}.json").write_text(json.dumps({"digest": digest}))  # not written by the store
    assert stored_digest(str(other)) is None
    Path(f"{other}.json").write_text("not json")
    assert stored_digest(str(other)) is None
    Path(f"{other}.json").write_text(json.dumps({"tool": "jupyter_container_kernels",
                                                 "digest": "sha256:../x"}))  # fmt: skip
    assert stored_digest(str(other)) is None


def test_provenance_records_the_stored_digest(pulled: StoredImage, tmp_path: Path) -> None:
    identity = image_identity(pulled.path)
    assert identity["kind"] == "directory"
    assert identity["image_digest"] == pulled.metadata["digest"]
    (tmp_path / "plain").mkdir()
    assert "image_digest" not in image_identity(str(tmp_path / "plain"))


def test_show_and_list_give_the_digest(
    pulled: StoredImage, tmp_path: Path, jp_environ: None
) -> None:
    env = dict(os.environ)
    digest = pulled.metadata["digest"]
    plain = tmp_path / "plain"
    plain.mkdir()
    for name, image in (("pulled", pulled.path), ("plain", str(plain))):
        done = jck("install", image, "--runtime", "charliecloud", "--no-probe", "--name", name,
                   env=env)  # fmt: skip
        assert done.returncode == 0, done.stderr
    shown = json.loads(jck("show", "pulled", "--json", env=env).stdout)
    assert shown["image_digest"] == digest
    assert f"  image digest: {digest}\n" in jck("show", "pulled", env=env).stdout
    assert "image digest" not in jck("show", "plain", env=env).stdout
    listed = json.loads(jck("list", "--json", env=env).stdout)["kernels"]
    by_name = {k["name"]: k for k in listed}
    assert by_name["pulled"]["image_digest"] == digest
    assert "image_digest" not in by_name["plain"]


def test_the_probe_gives_the_digest(test_image: str, tmp_path: Path, jp_environ: None) -> None:
    path = tmp_path / "probe.tar"
    save(path, [(["jck/probe:1"], [Path(test_image)])])
    pulled = ImageStore(str(tmp_path / "store")).pull(parse_source(str(path)))
    env = dict(os.environ)
    done = jck("probe", pulled.path, "--runtime", "charliecloud", "--json", env=env)
    answer = json.loads(done.stdout)
    assert answer["ok"] and answer["image_digest"] == pulled.metadata["digest"]
    text = jck("probe", pulled.path, "--runtime", "charliecloud", env=env).stdout
    assert f"image digest: {pulled.metadata['digest']}" in text
