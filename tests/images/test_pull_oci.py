"""Pulling OCI image layouts (``oci:DIR[:REF]``, a layout directory's path,
``oci-archive:PATH[:REF]``) into the image store: the same flattener as ``docker save``
tarballs, every blob checked against its digest, a reference picked by its annotation.

The layouts are written by :mod:`.ocilayout` (json, tarfile, gzip), never by a registry.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from jupyter_container_kernels.errors import ImageError, SpecError
from jupyter_container_kernels.images.archive import ArchiveError
from jupyter_container_kernels.images.sources import is_archive, parse_source
from jupyter_container_kernels.images.store import ImageStore

from .dockersave import Entry
from .ocilayout import write
from .test_pull import LOWER, UPPER, entries, jck


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(str(tmp_path / "store"))


@pytest.mark.parametrize("gzip_layers", [False, True], ids=["plain", "gzip"])
def test_a_layout_is_flattened_with_whiteouts(
    store: ImageStore, tmp_path: Path, gzip_layers: bool
) -> None:
    layout = tmp_path / "layered"
    written = write(layout, [("1.0", [LOWER, UPPER])], gzip_layers=gzip_layers)
    assert is_archive(str(layout)) and is_archive(f"oci:{layout}")
    pulled = store.pull(parse_source(str(layout)))  # a layout directory's path works too
    root = Path(pulled.path)
    assert root.name == "layered-1.0" and not pulled.reused
    assert (root / "a/keep").read_bytes() == b"keep" and not (root / "a/gone").exists()
    assert sorted(os.listdir(root / "opq")) == ["new"]
    assert (root / "a/hard").stat().st_ino == (root / "a/keep").stat().st_ino
    assert stat.S_IMODE((root / "bin/tool").stat().st_mode) == 0o755
    assert not (root / "dev/null").exists() and not any(".wh." in e for e in entries(root))
    meta = json.loads(Path(pulled.path + ".json").read_text())
    assert meta["digest"] == written.digests[0] and meta["repo_tags"] == ["1.0"]
    assert meta["manifest_digest"].startswith("sha256:") and "tarball_sha256" not in meta
    assert (meta["layers"], meta["skipped_devices"]) == (2, 1)
    again = store.pull(parse_source(f"oci:{layout}:1.0"))
    assert again.reused and again.path == pulled.path


def test_a_two_ref_index_needs_a_ref(store: ImageStore, tmp_path: Path) -> None:
    layout = tmp_path / "two"
    written = write(
        layout,
        [("one", [[Entry("which", b"one")]]), ("two", [[Entry("which", b"two")]])],
        nested=True,  # behind nested indexes, each also listing another platform's manifest
    )
    with pytest.raises(ArchiveError) as info:
        store.pull(parse_source(f"oci:{layout}"))
    assert str(info.value) == f"{layout} holds 2 images; choose one with --image: one, two"
    with pytest.raises(ArchiveError, match=r"holds no image 'three'; it holds: one, two"):
        store.pull(parse_source(f"oci:{layout}:three"))
    pulled = store.pull(parse_source(f"oci:{layout}:two"))
    assert Path(pulled.path, "which").read_text() == "two" and pulled.path.endswith("/two-two")
    assert pulled.metadata["digest"] == written.digests[1]
    by_flag = store.pull(parse_source(str(layout)), image_ref="one", name="first")
    assert Path(by_flag.path, "which").read_text() == "one"
    with pytest.raises(SpecError, match=r"image: 'one' differs from 'two', which 'oci:"):
        store.pull(parse_source(f"oci:{layout}:two"), image_ref="one")


def test_a_corrupted_layer_is_refused_naming_it(store: ImageStore, tmp_path: Path) -> None:
    layout = tmp_path / "bad"
    written = write(layout, [("1", [[Entry("first", b"ok")], [Entry("x", b"original")]])])
    first, second = written.layers[0]
    blob = layout / "blobs/sha256" / second.removeprefix("sha256:")
    blob.write_bytes(blob.read_bytes().replace(b"original", b"altered!"))
    with pytest.raises(ArchiveError) as info:
        store.pull(parse_source(f"oci:{layout}"))
    assert str(info.value).startswith(
        f"{layout}: layer {second} does not match its digest (the manifest says {second}, "
        "its content hashes to sha256:"
    )
    assert str(info.value).endswith("); the blob is corrupt or altered, refusing the pull")
    assert sorted(os.listdir(store.root)) == [".locks"]  # nothing left, not even layer one

    (layout / "blobs/sha256" / first.removeprefix("sha256:")).unlink()
    with pytest.raises(ArchiveError, match=r"blobs/sha256/[0-9a-f]{64} is missing \(sha256:"):
        store.pull(parse_source(f"oci:{layout}"))


def test_a_hostile_digest_is_not_a_path(store: ImageStore, tmp_path: Path) -> None:
    layout = tmp_path / "hostile"
    write(layout, [("1", [[Entry("x", b"x")]])])
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0]["digest"] = "sha256:../../../etc/passwd"
    (layout / "index.json").write_text(json.dumps(index))
    with pytest.raises(ArchiveError) as info:
        store.pull(parse_source(f"oci:{layout}"))
    assert str(info.value) == (
        f"{layout}: index.json manifest 0 has the digest 'sha256:../../../etc/passwd'; only "
        "sha256:<64 hex digits> digests are supported"
    )


def test_a_hostile_member_in_a_gzipped_layer_is_refused(store: ImageStore, tmp_path: Path) -> None:
    layout = tmp_path / "evil"
    write(layout, [("1", [[Entry("../x", b"out")]])], gzip_layers=True)
    with pytest.raises(ArchiveError, match=r"has a member '../x' outside the image; refusing"):
        store.pull(parse_source(str(layout)))
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("prefixed", [True, False], ids=["oci-archive", "path"])
def test_an_oci_archive(store: ImageStore, tmp_path: Path, prefixed: bool) -> None:
    path = tmp_path / "tool.tar"
    written = write(path, [("2.1", [LOWER, UPPER])], gzip_layers=True, tarball=True)
    text = f"oci-archive:{path}:2.1" if prefixed else str(path)
    source = parse_source(text)
    assert source.kind == "oci-archive" and is_archive(text)
    pulled = store.pull(source)
    assert Path(pulled.path).name == "tool-2.1" and pulled.metadata["digest"] == written.digests[0]
    assert Path(pulled.path, "a/keep").read_bytes() == b"keep"
    assert pulled.metadata["tarball_sha256"].startswith("sha256:")


def test_what_is_not_a_layout(tmp_path: Path) -> None:
    (tmp_path / "rootfs").mkdir()
    assert not is_archive(str(tmp_path / "rootfs"))  # a directory image runs as it is
    with pytest.raises(ImageError, match=r"is a directory without oci-layout and index.json"):
        parse_source(str(tmp_path / "rootfs"))
    with pytest.raises(ImageError, match=r"has no oci-layout and index.json: not an OCI layout"):
        parse_source(f"oci:{tmp_path / 'rootfs'}")
    with pytest.raises(ImageError, match=r"'oci:/nonexistent': no such directory"):
        parse_source("oci:/nonexistent")
    with pytest.raises(ImageError, match=r"no such file"):
        parse_source("oci-archive:/nonexistent.tar:1")


def test_pull_verb_with_an_oci_layout(tmp_path: Path, jp_environ: None) -> None:
    layout = tmp_path / "tool"
    written = write(layout, [("1.2", [[Entry("which", b"tool")]])], gzip_layers=True)
    config = Path(os.environ["JUPYTER_CONFIG_DIR"], "jupyter_container_kernels_config.json")
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"SiteConfig": {"image_store": str(tmp_path / "cli-store")}}))
    done = jck("pull", f"oci:{layout}:1.2", "--json", env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["path"], result["digest"]) == (
        f"{tmp_path}/cli-store/tool-1.2",
        written.digests[0],
    )
    done = jck("pull", f"oci:{layout}:9", env=dict(os.environ))
    assert (done.returncode, done.stderr) == (
        1, f"Error: {layout} holds no image '9'; it holds: 1.2\n"
    )  # fmt: skip
