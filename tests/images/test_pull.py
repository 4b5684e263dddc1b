"""Pulling ``docker save`` tarballs into the image store: layers flattened with whiteouts, hostile
members refused, reuse by digest, nothing left behind on failure, the ``pull`` verb.

The tarballs are written by :mod:`.dockersave` (Python's tarfile, Docker's layout), never by a
registry.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from jupyter_container_kernels import __version__
from jupyter_container_kernels.errors import ImageError, SpecError
from jupyter_container_kernels.images import store as store_module
from jupyter_container_kernels.images.archive import ArchiveError
from jupyter_container_kernels.images.sources import parse_source
from jupyter_container_kernels.images.store import ImageStore, ProgressEvent
from tests.conftest import require_executable

from .dockersave import Entry, layer_bytes, save

JUPYTER = str(Path(sys.executable).parent / "jupyter")

LOWER = [
    Entry("a", kind="dir"),
    Entry("a/keep", b"keep"),
    Entry("a/gone", b"deleted in layer 2"),
    Entry("opq", kind="dir"),
    Entry("opq/old", b"hidden by the opaque dir"),
    Entry("opq/sub", kind="dir"),
    Entry("opq/sub/old2", b"hidden too"),
    Entry("bin", kind="dir"),
    Entry("bin/tool", b"#!/bin/sh\n", mode=0o755),
    Entry("link", kind="sym", target="a/keep"),
    Entry("abs", kind="sym", target="/etc/hostname"),
    Entry("dev", kind="dir"),
    Entry("dev/null", kind="chr"),
]
UPPER = [
    Entry("a/.wh.gone"),
    Entry("opq", kind="dir"),
    Entry("opq/.wh..wh..opq"),
    Entry("opq/new", b"layer 2"),
    Entry("a/hard", kind="hard", target="a/keep"),
]


def entries(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(str(tmp_path / "store"))


@pytest.fixture
def layered(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "layered.tar"
    (digest,) = save(path, [(["example.org/team/layered:1.0"], [LOWER, UPPER])])
    return path, digest


def test_layers_are_flattened_with_whiteouts_and_opaque_dirs(
    store: ImageStore, layered: tuple[Path, str]
) -> None:
    path, digest = layered
    events: list[ProgressEvent] = []
    pulled = store.pull(parse_source(f"docker-archive:{path}"), progress=events.append)
    root = Path(pulled.path)
    assert pulled.path == os.path.join(store.root, "layered-1.0") and not pulled.reused
    assert (root / "a/keep").read_bytes() == b"keep"
    assert not (root / "a/gone").exists()
    assert sorted(os.listdir(root / "opq")) == ["new"]
    assert os.readlink(root / "link") == "a/keep" and os.readlink(root / "abs") == "/etc/hostname"
    assert stat.S_IMODE((root / "bin/tool").stat().st_mode) == 0o755
    assert (root / "a/hard").stat().st_ino == (root / "a/keep").stat().st_ino
    assert not (root / "dev/null").exists()  # device nodes are skipped, not made
    assert not any(".wh." in e for e in entries(root))
    for i in range(10):  # Charliecloud binds only onto directories the image has
        assert (root / f"mnt/{i}").is_dir()
    assert (root / "etc/hosts").is_file() and (root / "etc/resolv.conf").is_file()

    meta = json.loads(Path(pulled.path + ".json").read_text())
    assert meta == pulled.metadata
    assert meta["digest"] == digest and meta["source"] == f"docker-archive:{path}"
    assert meta["repo_tags"] == ["example.org/team/layered:1.0"]
    assert meta["tarball_sha256"].startswith("sha256:") and len(meta["tarball_sha256"]) == 71
    assert (meta["tool"], meta["tool_version"], meta["skipped_devices"]) == (
        "jupyter_container_kernels",
        __version__,
        1,
    )
    phases = [(e.phase, e.finished) for e in events if e.finished]
    assert phases == [("read", True), ("unpack", True)]
    assert events[-1].done == events[-1].total > 0
    assert sorted(os.listdir(store.root)) == [".locks", "layered-1.0", "layered-1.0.json"]


def test_setuid_and_setgid_bits_do_not_reach_the_host(store: ImageStore, tmp_path: Path) -> None:
    """The store is a host directory: a setuid-root file from an image must not be one there."""
    path = tmp_path / "suid.tar"
    save(path, [(["suid:1"], [[Entry("bin", kind="dir"), Entry("bin/su", b"x", mode=0o6755)]])])
    root = Path(store.pull(parse_source(str(path))).path)
    assert stat.S_IMODE((root / "bin/su").stat().st_mode) == 0o755


def test_a_stored_digest_is_reused_unless_refresh(
    store: ImageStore, layered: tuple[Path, str]
) -> None:
    path, _ = layered
    source = parse_source(str(path))  # a plain path works too
    first = store.pull(source)
    (Path(first.path) / "touched").write_text("x")
    events: list[ProgressEvent] = []
    again = store.pull(source, progress=events.append)
    assert again.reused and again.path == first.path and events == []
    assert (Path(again.path) / "touched").exists()
    fresh = store.pull(source, refresh=True)
    assert not fresh.reused and not (Path(fresh.path) / "touched").exists()
    assert sorted(os.listdir(store.root)) == [".locks", "layered-1.0", "layered-1.0.json"]


def test_an_image_in_a_shared_store_is_used_instead_of_a_copy(
    tmp_path: Path, layered: tuple[Path, str]
) -> None:
    path, digest = layered
    source = parse_source(f"docker-archive:{path}")
    shared = ImageStore(str(tmp_path / "shared")).pull(source)  # what an admin filled
    user = ImageStore(str(tmp_path / "mine"), shared=[str(tmp_path / "shared")])
    found = user.pull(source)
    assert found.reused and found.path == shared.path and found.metadata["digest"] == digest
    assert not os.path.exists(user.root), "nothing was copied into the user's store"
    other_runtime = user.find_shared(digest, "apptainer")
    assert other_runtime is None, "a directory image does not serve another runtime"
    refreshed = user.pull(source, refresh=True)
    assert not refreshed.reused and refreshed.path.startswith(user.root)


def test_two_pulls_of_one_target_unpack_once(store: ImageStore, layered: tuple[Path, str]) -> None:
    source = parse_source(str(layered[0]))
    results = []
    threads = [threading.Thread(target=lambda: results.append(store.pull(source))) for _ in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.reused for r in results) == [False, True]


def test_a_tarball_of_two_images_needs_image(store: ImageStore, tmp_path: Path) -> None:
    path = tmp_path / "two.tar"
    ids = save(
        path,
        [
            (["one:1"], [[Entry("which", b"one")]]),
            (["two:2", "two:latest"], [[Entry("which", b"two")]]),
        ],
    )
    source = parse_source(str(path))
    with pytest.raises(ArchiveError) as info:
        store.pull(source)
    assert str(info.value) == (
        f"{path} holds 2 images; choose one with --image: one:1, two:2, two:latest"
    )
    with pytest.raises(ArchiveError, match=r"holds no image 'three:3'; it holds: one:1, two:2"):
        store.pull(source, image_ref="three:3")
    pulled = store.pull(source, image_ref="two:latest")
    assert Path(pulled.path, "which").read_text() == "two" and pulled.path.endswith("/two-2")
    assert pulled.metadata["digest"] == ids[1]
    by_id = store.pull(source, image_ref=ids[0].removeprefix("sha256:")[:12], name="first")
    assert Path(by_id.path, "which").read_text() == "one"


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ([[Entry("../x", b"out")]], "has a member '../x' outside the image; refusing the tarball"),
        ([[Entry("/etc/x", b"out")]], "has a member '/etc/x' outside the image; refusing"),
        ([[Entry("a/../../x", b"out")]], "has a member 'a/../../x' outside the image"),
        (
            [[Entry("esc", kind="sym", target="/tmp")], [Entry("esc/pwned", b"out")]],
            "has a member 'esc/pwned' below the symbolic link 'esc'; refusing the tarball",
        ),
        ([[Entry("l", kind="hard", target="../x")]], "has a member '../x' outside the image"),
    ],
)
def test_hostile_members_are_refused_and_nothing_is_left(
    store: ImageStore, tmp_path: Path, layers: list[list[Entry]], message: str
) -> None:
    path = tmp_path / "hostile.tar"
    save(path, [(["hostile:1"], layers)])
    with pytest.raises(ArchiveError, match=message.replace("(", r"\(")):
        store.pull(parse_source(str(path)))
    assert not (tmp_path / "x").exists() and not Path("/tmp/pwned").exists()
    assert os.listdir(store.root) == [".locks"] and os.listdir(Path(store.root, ".locks")) == [
        "hostile-1"
    ]


def test_a_truncated_tarball_leaves_nothing(store: ImageStore, tmp_path: Path) -> None:
    path = tmp_path / "big.tar"
    save(path, [(["big:1"], [[Entry("blob", os.urandom(4 << 20))]])], manifest_first=True)
    cut = tmp_path / "cut.tar"
    cut.write_bytes(path.read_bytes()[: 3 << 20])  # a copy that stopped in the layer
    with pytest.raises(ArchiveError) as info:
        store.pull(parse_source(str(cut)))
    assert str(info.value) == (
        f"{cut} cannot be read (unexpected end of data); the tarball is truncated or corrupt"
    )
    assert not os.path.exists(store.root)

    # A layer that breaks off after the first one was unpacked.
    broken = layer_bytes([Entry("blob", os.urandom(1 << 20))])[: 1 << 19]
    save(path, [(["big:1"], [[Entry("first", b"unpacked")], broken])])
    with pytest.raises(ArchiveError) as info:
        store.pull(parse_source(str(path)))
    layer = hashlib.sha256(broken).hexdigest()
    assert str(info.value) == (
        f"{path}: layer {layer}/layer.tar cannot be read (unexpected end of data); the tarball "
        "is truncated or corrupt"
    )
    assert sorted(os.listdir(store.root)) == [".locks"]

    save(path, [(["big:1"], [[Entry("blob", b"x")]])])  # as docker save: manifest.json last
    data = path.read_bytes()
    cut.write_bytes(data[: data.rindex(b"manifest.json")])  # stopped before manifest.json
    with pytest.raises(
        ImageError,
        match=r"cut.tar': no manifest.json inside: not a `docker save` tarball, or a truncated one; give",
    ):
        parse_source(str(cut))
    with pytest.raises(ArchiveError, match=r"cut.tar: no manifest.json inside"):
        store.pull(parse_source(f"docker-archive:{cut}"))


def test_not_enough_space_is_one_line_naming_the_store(
    store: ImageStore, layered: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    free = SimpleNamespace(free=1000)
    monkeypatch.setattr(store_module.shutil, "disk_usage", lambda path: free)
    with pytest.raises(ImageError) as info:
        store.pull(parse_source(str(layered[0])))
    assert str(info.value).startswith(f"not enough space in {store.root}: the pull needs about ")
    assert str(info.value).endswith(
        ", 0.0 MB free; free some space or set SiteConfig.image_store elsewhere"
    )
    assert sorted(os.listdir(store.root)) == [".locks"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("docker://Ubuntu 24.04", "source: 'docker://Ubuntu 24.04' is not an image reference; give docker://HOST[:PORT]/PATH[:TAG|@sha256:…], e.g. docker://docker.io/library/debian:12"),
        ("library://x/y:1", "source: 'library://x/y:1': library sources are not yet supported; give docker://REF, oras://REF, docker-archive:PATH, oci:DIR[:REF], oci-archive:PATH[:REF], or the path of a `docker save` tarball or of an OCI layout directory"),
        ("oci:", "source: 'oci:' names no path; give oci:PATH[:REF]"),
        ("docker-archive:", "source: 'docker-archive:' names no file; give docker-archive:PATH"),
    ],
)  # fmt: skip
def test_unsupported_sources_say_what_is_supported(text: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_source(text)
    assert str(info.value).startswith(message)


def test_paths_that_are_not_docker_save_tarballs(tmp_path: Path) -> None:
    with pytest.raises(
        ImageError,
        match=r"'/nonexistent.tar': no such file; give docker://REF, oras://REF, docker-archive:",
    ):
        parse_source("/nonexistent.tar")
    import tarfile

    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as tar:
        tar.add(__file__, arcname="x.py")
    with pytest.raises(
        ImageError, match=r"plain.tar': no manifest.json inside: not a `docker save` tarball, or a"
    ):
        parse_source(str(plain))


def jck(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [JUPYTER, "container-kernels", *args], capture_output=True, text=True, timeout=120,
        env=env, check=False,
    )  # fmt: skip


def test_pull_verb(layered: tuple[Path, str], tmp_path: Path, jp_environ: None) -> None:
    path, digest = layered
    store = tmp_path / "cli-store"
    config = Path(os.environ["JUPYTER_CONFIG_DIR"], "jupyter_container_kernels_config.json")
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"SiteConfig": {"image_store": str(store)}}))
    env = dict(os.environ)
    done = jck("pull", str(path), "--name", "mine", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{store}/mine\n"
    lines = done.stderr.splitlines()
    assert [line.split(":")[0] for line in lines] == ["read", "unpack"]
    assert lines[1].startswith("unpack: ") and " bytes in " in lines[1]

    done = jck("pull", f"docker-archive:{path}", "--name", "mine", "--json", env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["path"], result["reused"], result["digest"]) == (f"{store}/mine", True, digest)

    done = jck("pull", "library://x/y:1", env=env)
    assert done.returncode == 1 and done.stderr.startswith(
        "Error: source: 'library://x/y:1': library sources are not yet supported"
    )
    done = jck("pull", "oras://x/y:1", env=env)
    assert done.returncode == 1 and done.stderr.startswith(
        "Error: runtime: 'charliecloud': oras:// images are SIF files; pull them with --runtime "
        "apptainer"
    )
    done = jck("pull", str(path), "--runtime", "shifter", env=env)
    assert done.returncode == 1
    assert done.stderr == (
        "Error: runtime: 'shifter': pulled images run with charliecloud, podman, apptainer, "
        "singularity only\n"
    )


def test_a_cancelled_pull_leaves_nothing_and_keeps_the_stored_image(
    store: ImageStore, layered: tuple[Path, str]
) -> None:
    source = parse_source(str(layered[0]))

    def cancel(event: ProgressEvent) -> None:
        if event.phase == "unpack":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.pull(source, progress=cancel)
    assert sorted(os.listdir(store.root)) == [".locks"]
    first = store.pull(source)
    with pytest.raises(KeyboardInterrupt):
        store.pull(source, refresh=True, progress=cancel)
    assert sorted(os.listdir(store.root)) == [".locks", "layered-1.0", "layered-1.0.json"]
    assert store.pull(source).metadata == first.metadata  # still there, still reused


def test_a_tarball_written_by_buildah(store: ImageStore, tmp_path: Path) -> None:
    """containers/image's docker-archive layout (Layers named ``<digest>.tar``, with
    ``<id>/layer.tar`` links to them): two layers, made by buildah from scratch (no registry)."""
    buildah = [
        require_executable("buildah"),
        "--storage-driver", "vfs", "--root", str(tmp_path / "storage"),
        "--runroot", str(tmp_path / "run"),
    ]  # fmt: skip
    context = tmp_path / "context"
    (context / "etc").mkdir(parents=True)
    (context / "etc/first").write_text("layer 1\n")

    def sh(*args: str) -> str:
        done = subprocess.run([*buildah, *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    box = sh("from", "scratch")
    sh("copy", box, str(context), "/")
    sh("commit", "-q", box, "jck-one")
    box = sh("from", "localhost/jck-one")
    sh("copy", box, str(context / "etc/first"), "/etc/second")
    sh("commit", "-q", box, "jck-two")
    tarball = tmp_path / "two-layers.tar"
    sh("push", "-q", "localhost/jck-two", f"docker-archive:{tarball}:localhost/jck/two:1")

    pulled = store.pull(parse_source(str(tarball)))
    root = Path(pulled.path)
    assert root.name == "two-1" and pulled.metadata["repo_tags"][0] == "localhost/jck/two:1"
    assert (root / "etc/first").read_text() == (root / "etc/second").read_text() == "layer 1\n"
    assert pulled.metadata["layers"] == 2 and not list(root.rglob("*.tar"))
