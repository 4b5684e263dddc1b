"""What a SOURCE names: ``docker-archive:PATH`` or the path of a ``docker save`` tarball.

Registries (``docker://``, ``oras://``…) and OCI layouts are refused with a message that says
what is supported, so a user never waits for a pull that cannot happen.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass

from ..errors import ImageError, SpecError
from .archive import NO_MANIFEST

#: What this version can pull, as the messages list it.
SUPPORTED = "docker-archive:PATH or the path of a `docker save` tarball"

#: Transports that name images elsewhere: refused for now (not a typo for a path).
NOT_YET = ("docker://", "oras://", "oci:", "oci-archive:", "library://", "shub://",
           "docker-daemon:", "containers-storage:", "dir:")  # fmt: skip


@dataclass(frozen=True)
class Source:
    """A parsed SOURCE: ``kind`` is ``docker-archive``; ``path`` is absolute."""

    kind: str
    path: str
    text: str


def parse_source(text: str) -> Source:
    """The source ``text`` names; :class:`SpecError` (field ``source``) for a transport this
    version cannot pull, :class:`ImageError` for a path that is missing or not a tarball."""
    if not text.strip():
        raise SpecError("source", f"is empty; give {SUPPORTED}")
    for prefix in NOT_YET:
        if text.startswith(prefix):
            raise SpecError(
                "source",
                f"{text!r}: {prefix.rstrip(':/')} sources are not yet supported; give {SUPPORTED}",
            )
    if text.startswith("docker-archive:"):
        path = text[len("docker-archive:") :]
        if not path:
            raise SpecError("source", f"{text!r} names no file; give docker-archive:PATH")
        return Source("docker-archive", _tarball(path, text), text)
    path = _tarball(text, text)
    if not _has_manifest(path):
        raise ImageError(f"{text!r}: {NO_MANIFEST}; give {SUPPORTED}")
    return Source("docker-archive", path, text)


def is_archive(text: str) -> bool:
    """Whether ``text`` names an archive to pull (``docker-archive:…`` or a tarball's path with
    a manifest.json), rather than an image a runtime runs as it is (a path, ``docker://…``)."""
    if text.startswith("docker-archive:"):
        return True
    path = os.path.expanduser(text)
    return os.path.isfile(path) and tarfile.is_tarfile(path) and _has_manifest(path)


def _tarball(path: str, text: str) -> str:
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.exists(path):
        raise ImageError(f"{text!r}: no such file; give {SUPPORTED}")
    if not os.path.isfile(path):
        raise ImageError(f"{text!r} is not a file; give {SUPPORTED}")
    return path


def _has_manifest(path: str) -> bool:
    try:
        with tarfile.open(path, "r:") as tar:
            for member in tar:
                if member.name.removeprefix("./") == "manifest.json":
                    return True
    except (tarfile.TarError, EOFError):
        return False
    return False
