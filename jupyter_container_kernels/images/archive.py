"""Read a ``docker save`` tarball, and flatten an image's layers into one directory (the one
flattener, fed by this module's reader and by :mod:`.oci`'s).

The layout: ``manifest.json`` lists images, each with ``Config`` (the image config, whose
sha256 is the image ID), ``RepoTags`` and ``Layers`` (tar members, lowest first; each an
uncompressed or gzipped tar). Flattening applies the layers in order with OCI whiteouts: a
member ``dir/.wh.NAME`` deletes ``dir/NAME`` from the layers below, ``dir/.wh..wh..opq`` empties
``dir`` of them. (``ch-image import`` of such a tarball instead yields an image holding the layer
tarballs.)

Every member is checked before anything is written: absolute names, ``..`` and names that
would pass through a symbolic link are refused (:class:`ArchiveError`). Device nodes are
skipped (a container gets its own ``/dev``) and counted. Symbolic links, hard links, modes and
times are kept; owners too when running as root.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import stat
import tarfile
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from ..errors import CancelledError, ImageError

NO_MANIFEST = "no manifest.json inside: not a `docker save` tarball, or a truncated one"
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

#: ``progress(done_bytes, total_bytes)`` while unpacking.
ByteProgress = Callable[[int, int], None]


class ArchiveError(ImageError):
    """The archive is not a readable image (``docker save`` or OCI), or holds a hostile member."""


@dataclass(frozen=True)
class ArchiveImage:
    """One image of an archive: a ``docker save`` tarball or an OCI layout (:mod:`.oci`, where
    ``config`` and ``layers`` are blob digests and ``repo_tags`` the reference name)."""

    config: str  # member name of the config JSON
    repo_tags: tuple[str, ...]
    layers: tuple[str, ...]  # member names, lowest first
    digest: str = ""  # sha256:… of the config (the image ID)
    layer_bytes: int = 0  # sum of the layer members' sizes
    config_data: dict[str, Any] = field(default_factory=dict, compare=False)
    manifest_digest: str = ""  # sha256:… of the OCI manifest (OCI layouts only)


class DockerArchive:
    """A ``docker save`` tarball opened for a pull: :meth:`images`, then :meth:`layers` of one."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.tar = open_tarball(path)

    def images(self) -> list[ArchiveImage]:
        return read_images(self.tar, self.path)

    def layers(self, image: ArchiveImage) -> list[Blob]:
        return layer_blobs(self.tar, image, self.path)

    def close(self) -> None:
        self.tar.close()


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise :class:`CancelledError` when ``cancel`` is set (checked between members/chunks)."""
    if cancel is not None and cancel.is_set():
        raise CancelledError("the pull was cancelled; nothing was stored")


def open_tarball(path: str) -> tarfile.TarFile:
    """``path`` opened as an uncompressed tar (what ``docker save`` writes)."""
    try:
        return tarfile.open(path, "r:")
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise ArchiveError(f"{path} is not a readable tarball ({exc})") from None


def read_images(tar: tarfile.TarFile, path: str) -> list[ArchiveImage]:
    """Every image ``manifest.json`` lists, with its digest and layer sizes."""
    try:
        return _read_images(tar, path)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise ArchiveError(
            f"{path} cannot be read ({exc}); the tarball is truncated or corrupt"
        ) from None


def _read_images(tar: tarfile.TarFile, path: str) -> list[ArchiveImage]:
    if "manifest.json" not in tar.getnames():
        raise ArchiveError(f"{path}: {NO_MANIFEST}")
    manifest = _json_member(tar, "manifest.json", path)
    if not isinstance(manifest, list) or not manifest:
        raise ArchiveError(f"{path}: manifest.json lists no images")
    images = []
    for i, entry in enumerate(manifest):
        try:
            config = str(entry["Config"])
            layers = tuple(str(layer) for layer in entry["Layers"])
            tags = tuple(str(tag) for tag in (entry.get("RepoTags") or ()))
        except (TypeError, KeyError) as exc:
            raise ArchiveError(f"{path}: manifest.json entry {i} lacks {exc}") from None
        raw = _member_bytes(tar, config, path)
        sizes = 0
        for layer in layers:
            sizes += _member(tar, layer, path).size
        try:
            data = json.loads(raw)
        except ValueError:
            raise ArchiveError(f"{path}: the image config {config} is not JSON") from None
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        images.append(ArchiveImage(config, tags, layers, digest, sizes, data))
    return images


def select(images: list[ArchiveImage], ref: str | None, path: str) -> ArchiveImage:
    """The image ``ref`` names (a RepoTag, or an ID prefix), or the only one."""
    if ref is None:
        if len(images) == 1:
            return images[0]
        raise ArchiveError(
            f"{path} holds {len(images)} images; choose one with --image: {_tags(images)}"
        )
    for image in images:
        bare = image.digest.removeprefix("sha256:")
        if ref in image.repo_tags or (
            len(ref) >= 12 and bare.startswith(ref.removeprefix("sha256:"))
        ):
            return image
    raise ArchiveError(f"{path} holds no image {ref!r}; it holds: {_tags(images)}")


def _tags(images: list[ArchiveImage]) -> str:
    return ", ".join(
        ", ".join(image.repo_tags) or image.digest.removeprefix("sha256:")[:12] for image in images
    )


@dataclass(frozen=True)
class Blob:
    """One layer to apply, whatever holds it: ``name`` as messages name it, ``size`` in bytes,
    ``open()`` a seekable binary stream of the layer (a plain or gzipped tar), ``digest`` the
    ``sha256:…`` it must hash to (checked before anything is unpacked from it; empty: none)."""

    name: str
    size: int
    open: Callable[[], IO[bytes]]
    digest: str = ""


def layer_blobs(tar: tarfile.TarFile, image: ArchiveImage, path: str) -> list[Blob]:
    """The layers of a ``docker save`` image, lowest first."""
    blobs = []
    for layer in image.layers:
        member = _member(tar, layer, path)

        def open_member(member: tarfile.TarInfo = member, layer: str = layer) -> IO[bytes]:
            stream = tar.extractfile(member)
            if stream is None:
                raise ArchiveError(f"{path}: layer {layer} is not a file")
            return stream

        blobs.append(Blob(layer, member.size, open_member))
    return blobs


def flatten(
    blobs: list[Blob],
    dest: str,
    progress: ByteProgress | None = None,
    path: str = "",
    cancel: threading.Event | None = None,
) -> dict[str, int]:
    """Apply the layers ``blobs``, lowest first, into the directory ``dest`` (which exists).
    Returns counts: ``files`` written, ``whiteouts`` applied, ``devices`` skipped. Once
    ``cancel`` is set, :class:`CancelledError` is raised before the next member."""
    counts = {"files": 0, "whiteouts": 0, "devices": 0}
    dirs: dict[str, tarfile.TarInfo] = {}
    done = 0
    total = sum(blob.size for blob in blobs)
    for blob in blobs:
        layer = blob.name
        try:
            with blob.open() as stream:
                if blob.digest:
                    _verify(stream, blob, path)
                with tarfile.open(fileobj=stream, mode=_tar_mode(stream, layer, path)) as inner:
                    _apply(inner, dest, layer, path, counts, dirs, cancel)
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise ArchiveError(f"{path}: layer {layer} cannot be read ({exc}); the tarball "
                               "is truncated or corrupt") from None  # fmt: skip
        done += blob.size
        if progress:
            progress(done, total)
    # Directory modes last (deepest first), so a read-only directory did not block its content.
    for name in sorted(dirs, key=len, reverse=True):
        target = os.path.join(dest, name)
        if os.path.isdir(target) and not os.path.islink(target):  # else a whiteout removed it
            _attrs(target, dirs[name])
    return counts


def _apply(
    inner: tarfile.TarFile,
    dest: str,
    layer: str,
    path: str,
    counts: dict[str, int],
    dirs: dict[str, tarfile.TarInfo],
    cancel: threading.Event | None = None,
) -> None:
    members = inner.getmembers()
    # Whiteouts hide what lower layers hold, never this layer's own entries.
    for m in members:
        name = safe_name(m.name, layer, path)
        base = os.path.basename(name)
        if base == OPAQUE:
            _empty(dest, os.path.dirname(name), layer, path)
            counts["whiteouts"] += 1
        elif base.startswith(WHITEOUT):
            hidden = os.path.join(os.path.dirname(name), base[len(WHITEOUT) :])
            _remove(_target(dest, hidden, layer, path))
            counts["whiteouts"] += 1
    for m in members:
        name = safe_name(m.name, layer, path)
        if not name or os.path.basename(name).startswith(WHITEOUT):
            continue
        check_cancel(cancel)
        if m.ischr() or m.isblk():
            counts["devices"] += 1
            continue
        _write(inner, m, name, dest, layer, path, dirs)
        counts["files"] += 1


def _verify(stream: IO[bytes], blob: Blob, path: str) -> None:
    """Hash the whole of ``stream`` and rewind it; a mismatch refuses the pull."""
    digest = hashlib.sha256()
    while chunk := stream.read(1 << 20):
        digest.update(chunk)
    got = "sha256:" + digest.hexdigest()
    if got != blob.digest:
        raise ArchiveError(
            f"{path}: layer {blob.name} does not match its digest (the manifest says "
            f"{blob.digest}, its content hashes to {got}); the blob is corrupt or altered, "
            "refusing the pull"
        )
    stream.seek(0)


def _tar_mode(stream: IO[bytes], layer: str, path: str) -> str:
    """``r:gz`` or ``r:`` by the layer's first bytes; zstd is refused by name."""
    magic = stream.read(4)
    stream.seek(0)
    if magic.startswith(GZIP_MAGIC):
        return "r:gz"
    if magic == ZSTD_MAGIC:
        raise ArchiveError(
            f"{path}: layer {layer} is zstd-compressed, which this version cannot unpack; "
            "convert the image with gzip or uncompressed layers"
        )
    return "r:"


def safe_name(name: str, layer: str, path: str) -> str:
    """A member name, normalised (``./a//b`` -> ``a/b``); absolute names and ``..`` refused."""
    if name.startswith("/") or ".." in name.split("/"):
        raise ArchiveError(
            f"{path}: layer {layer} has a member {name!r} outside the image; refusing the tarball"
        )
    return os.path.normpath(name).lstrip("/") if name.strip("./") else ""


def _target(dest: str, name: str, layer: str, path: str) -> str:
    """``dest/name``, refused when a parent directory in ``dest`` is a symbolic link (a member
    must never be written through a link, wherever the link points)."""
    parent = dest
    for part in name.split("/")[:-1]:
        parent = os.path.join(parent, part)
        if os.path.islink(parent):
            raise ArchiveError(
                f"{path}: layer {layer} has a member {name!r} below the symbolic link "
                f"{os.path.relpath(parent, dest)!r}; refusing the tarball"
            )
    return os.path.join(dest, name)


def _remove(target: str) -> None:
    if os.path.islink(target) or (os.path.lexists(target) and not os.path.isdir(target)):
        os.unlink(target)
    elif os.path.isdir(target):
        shutil.rmtree(target)


def _empty(dest: str, name: str, layer: str, path: str) -> None:
    folder = os.path.dirname(_target(dest, os.path.join(name, "x"), layer, path))
    if os.path.isdir(folder) and not os.path.islink(folder):
        for entry in os.listdir(folder):
            _remove(os.path.join(folder, entry))


def _write(
    tar: tarfile.TarFile,
    m: tarfile.TarInfo,
    name: str,
    dest: str,
    layer: str,
    path: str,
    dirs: dict[str, tarfile.TarInfo],
) -> None:
    target = _target(dest, name, layer, path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if m.isdir():
        if os.path.lexists(target) and (os.path.islink(target) or not os.path.isdir(target)):
            os.unlink(target)
        os.makedirs(target, exist_ok=True)
        os.chmod(target, 0o700)  # writable until the end; the real mode is set last
        dirs[name] = m
        return
    _remove(target)  # never write through what a lower layer left here
    if m.isreg():
        source = tar.extractfile(m)
        assert source is not None
        with open(target, "xb") as out:
            _copy(source, out)
    elif m.issym():
        os.symlink(m.linkname, target)
        return  # a link's own mode and times are not kept
    elif m.islnk():
        linked = _target(dest, safe_name(m.linkname, layer, path), layer, path)
        os.link(linked, target, follow_symlinks=False)
        return
    elif m.isfifo():
        os.mkfifo(target)
    else:
        raise ArchiveError(f"{path}: layer {layer} has a member {name!r} of unknown type")
    _attrs(target, m)


def _copy(source: IO[bytes], out: IO[bytes]) -> None:
    shutil.copyfileobj(source, out, 1 << 20)


def _attrs(target: str, m: tarfile.TarInfo) -> None:
    if os.geteuid() == 0:
        os.chown(target, m.uid, m.gid, follow_symlinks=False)
    mode = stat.S_IMODE(m.mode)
    if not m.isdir():
        # The store is a host directory: a setuid-root file from an image would be one on the
        # host (unprivileged runtimes cannot use it inside anyway).
        mode &= ~(stat.S_ISUID | stat.S_ISGID)
    os.chmod(target, mode)
    os.utime(target, (m.mtime, m.mtime))


def _member(tar: tarfile.TarFile, name: str, path: str, hops: int = 0) -> tarfile.TarInfo:
    """The file member ``name``; a link (``<id>/layer.tar -> ../<digest>.tar``, as
    containers/image writes) is followed inside the tarball."""
    try:
        member = tar.getmember(name)
    except KeyError:
        raise ArchiveError(f"{path}: manifest.json names {name}, which the tarball lacks") from None
    if (member.issym() or member.islnk()) and hops < 8:
        base = os.path.dirname(name) if member.issym() else ""
        return _member(tar, os.path.normpath(os.path.join(base, member.linkname)), path, hops + 1)
    return member


def _member_bytes(tar: tarfile.TarFile, name: str, path: str) -> bytes:
    stream = tar.extractfile(_member(tar, name, path))
    if stream is None:
        raise ArchiveError(f"{path}: {name} is not a file")
    return stream.read()


def _json_member(tar: tarfile.TarFile, name: str, path: str) -> Any:
    try:
        return json.loads(_member_bytes(tar, name, path))
    except ValueError:
        raise ArchiveError(f"{path}: {name} is not JSON") from None
