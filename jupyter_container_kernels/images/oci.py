"""Read an OCI image layout: a directory (``oci:DIR``) or the same layout tarred
(``oci-archive:PATH``).

The layout: ``oci-layout``, ``index.json`` (descriptors of manifests, or of nested indexes, each
``org.opencontainers.image.ref.name``-annotated or not) and ``blobs/sha256/HEX``. A manifest
names its config (whose digest is the image's digest) and its layers, lowest first, each a
plain or gzipped tar. Every blob read is checked against the digest that names it: a manifest
or config that does not match is refused here, a layer by :func:`.archive.flatten` before
anything is unpacked from it. Descriptors for another platform (a multi-platform index) are
skipped. The layers go to the same flattener as a ``docker save`` tarball's.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import tarfile
import zlib
from typing import IO, Any

from .archive import ArchiveError, ArchiveImage, Blob, open_tarball

REF_NAME = "org.opencontainers.image.ref.name"
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")  # fmt: skip
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")  # fmt: skip
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
#: ``platform.machine()`` -> the OCI architecture.
ARCH = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64", "ppc64le": "ppc64le",
        "s390x": "s390x", "riscv64": "riscv64"}  # fmt: skip
MAX_DEPTH = 4


class OciLayout:
    """An OCI layout opened for a pull: :meth:`images`, then :meth:`layers` of one.
    ``tarball``: ``path`` is the layout tarred (``oci-archive``), else a directory."""

    def __init__(self, path: str, *, tarball: bool = False) -> None:
        self.path = path
        self.tar: tarfile.TarFile | None = None
        self.members: dict[str, tarfile.TarInfo] = {}
        if tarball:
            self.tar = open_tarball(path)
            try:
                self.members = {m.name.removeprefix("./"): m for m in self.tar.getmembers()}
            except (tarfile.TarError, EOFError, zlib.error) as exc:
                self.tar.close()
                raise ArchiveError(
                    f"{path} cannot be read ({exc}); the tarball is truncated or corrupt"
                ) from None

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()

    def images(self) -> list[ArchiveImage]:
        """Every image index.json leads to, for this machine's platform."""
        index = self._json(self._read("index.json", "the layout"), "index.json")
        images: list[ArchiveImage] = []
        self._collect(index, "index.json", "", images, 0)
        if not images:
            raise ArchiveError(f"{self.path}: index.json lists no image for {_host()}")
        return images

    def layers(self, image: ArchiveImage) -> list[Blob]:
        """The layers of ``image``, lowest first, each to be checked against its digest."""
        blobs = []
        for digest in image.layers:
            size = self._size(digest, image.manifest_digest)

            def open_blob(digest: str = digest) -> IO[bytes]:
                return self._open(digest, "")

            blobs.append(Blob(digest, size, open_blob, digest))
        return blobs

    def _collect(
        self, index: Any, where: str, ref: str, images: list[ArchiveImage], depth: int
    ) -> None:
        manifests = index.get("manifests") if isinstance(index, dict) else None
        if not isinstance(manifests, list):
            raise ArchiveError(f"{self.path}: {where} has no list of manifests")
        for i, descriptor in enumerate(manifests):
            if not isinstance(descriptor, dict):
                raise ArchiveError(f"{self.path}: {where} manifest {i} is not an object")
            if not _for_host(descriptor.get("platform")):
                continue
            digest = self._digest(descriptor.get("digest"), f"{where} manifest {i}")
            name = str((descriptor.get("annotations") or {}).get(REF_NAME) or ref)
            media = descriptor.get("mediaType")
            if media in INDEX_TYPES:
                if depth >= MAX_DEPTH:
                    raise ArchiveError(f"{self.path}: indexes nest deeper than {MAX_DEPTH}")
                nested = self._json(self._verified(digest, where), digest)
                self._collect(nested, digest, name, images, depth + 1)
            elif media in MANIFEST_TYPES or media is None:
                images.append(self._image(digest, name, where))

    def _image(self, digest: str, name: str, where: str) -> ArchiveImage:
        manifest = self._json(self._verified(digest, where), digest)
        try:
            config = self._digest(manifest["config"]["digest"], f"manifest {digest} config")
            layers = tuple(
                self._digest(layer["digest"], f"manifest {digest} layer {i}")
                for i, layer in enumerate(manifest["layers"])
            )
        except (TypeError, KeyError) as exc:
            raise ArchiveError(f"{self.path}: manifest {digest} lacks {exc}") from None
        raw = self._verified(config, digest)
        data = self._json(raw, config)
        sizes = sum(self._size(layer, digest) for layer in layers)
        tags = (name,) if name else ()
        return ArchiveImage(config, tags, layers, config, sizes, data, digest)

    def _digest(self, value: Any, where: str) -> str:
        """A descriptor's digest; only ``sha256:`` and 64 hex digits (it becomes a path)."""
        if not isinstance(value, str) or not DIGEST.fullmatch(value):
            raise ArchiveError(
                f"{self.path}: {where} has the digest {value!r}; only sha256:<64 hex digits> "
                "digests are supported"
            )
        return value

    def _verified(self, digest: str, where: str) -> bytes:
        raw = self._read(_blob(digest), where)
        got = "sha256:" + hashlib.sha256(raw).hexdigest()
        if got != digest:
            raise ArchiveError(
                f"{self.path}: blob {digest} does not match its digest (its content hashes to "
                f"{got}); the blob is corrupt or altered, refusing the pull"
            )
        return raw

    def _read(self, name: str, where: str) -> bytes:
        with self._open_name(name, where) as stream:
            return stream.read()

    def _open(self, digest: str, where: str) -> IO[bytes]:
        return self._open_name(_blob(digest), where)

    def _open_name(self, name: str, where: str) -> IO[bytes]:
        if self.tar is None:
            try:
                return open(os.path.join(self.path, name), "rb")
            except FileNotFoundError:
                raise self._missing(name, where) from None
        member = self.members.get(name)
        stream = self.tar.extractfile(member) if member else None
        if stream is None:
            raise self._missing(name, where)
        return stream

    def _size(self, digest: str, where: str) -> int:
        name = _blob(digest)
        if self.tar is None:
            try:
                return os.path.getsize(os.path.join(self.path, name))
            except OSError:
                raise self._missing(name, where) from None
        if name not in self.members:
            raise self._missing(name, where)
        return self.members[name].size

    def _missing(self, name: str, where: str) -> ArchiveError:
        named = f" ({where} names it)" if where else ""
        return ArchiveError(f"{self.path}: {name} is missing{named}; the layout is incomplete")

    def _json(self, raw: bytes, name: str) -> Any:
        try:
            return json.loads(raw)
        except ValueError:
            raise ArchiveError(f"{self.path}: {name} is not JSON") from None


def is_layout(path: str) -> bool:
    """Whether the directory ``path`` is an OCI layout (``oci-layout`` and ``index.json``)."""
    return all(os.path.isfile(os.path.join(path, name)) for name in ("oci-layout", "index.json"))


def _blob(digest: str) -> str:
    return "blobs/sha256/" + digest.removeprefix("sha256:")


def _host() -> str:
    return "linux/" + ARCH.get(platform.machine(), platform.machine())


def _for_host(described: Any) -> bool:
    """Whether a descriptor's ``platform`` (none: any) is this machine's."""
    if not isinstance(described, dict):
        return True
    arch = ARCH.get(platform.machine(), platform.machine())
    return described.get("os", "linux") == "linux" and described.get("architecture", arch) == arch
