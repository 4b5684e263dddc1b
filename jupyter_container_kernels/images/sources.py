"""What a SOURCE names: ``docker-archive:PATH`` or the path of a ``docker save`` tarball, an OCI
layout (``oci:DIR[:REF]`` or the directory's path) or one tarred (``oci-archive:PATH[:REF]``),
or an image in a registry (``docker://REF``; ``oras://REF``, a SIF stored in a registry, for
Apptainer).

Other transports (``library://``…) are refused with a message that says what is
supported, so a user never waits for a pull that cannot happen.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass

from ..errors import ImageError, SpecError
from .archive import NO_MANIFEST
from .oci import is_layout
from .registry import parse_reference

OCI_FILES = ("oci-layout", "index.json")

#: What this version can pull, as the messages list it.
SUPPORTED = ("docker://REF, oras://REF, docker-archive:PATH, oci:DIR[:REF], oci-archive:PATH[:REF], or the "
             "path of a `docker save` tarball or of an OCI layout directory")  # fmt: skip

#: Transports that name images elsewhere: refused for now (not a typo for a path).
NOT_YET = ("library://", "shub://",
           "docker-daemon:", "containers-storage:", "dir:")  # fmt: skip
ARCHIVE_KINDS = ("docker-archive", "oci", "oci-archive")
KINDS = (*ARCHIVE_KINDS, "docker", "oras")


@dataclass(frozen=True)
class Source:
    """A parsed SOURCE: ``kind`` is one of :data:`KINDS`; ``path`` is absolute (for
    ``docker`` and ``oras``, the reference without its scheme); ``ref`` the image an OCI source names
    after its path (None: the only one)."""

    kind: str
    path: str
    text: str
    ref: str | None = None


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
    if text.startswith(("docker://", "oras://")):
        reference = parse_reference(text)
        return Source(reference.scheme, reference.text, text)
    if text.startswith("docker-archive:"):
        path = text[len("docker-archive:") :]
        if not path:
            raise SpecError("source", f"{text!r} names no file; give docker-archive:PATH")
        return Source("docker-archive", _tarball(path, text), text)
    for kind in ("oci", "oci-archive"):
        if text.startswith(kind + ":"):
            return _oci(kind, text)
    if os.path.isdir(os.path.expanduser(text)):
        path = os.path.abspath(os.path.expanduser(text))
        if not is_layout(path):
            raise ImageError(
                f"{text!r} is a directory without oci-layout and index.json: not an OCI layout; "
                f"give {SUPPORTED}"
            )
        return Source("oci", path, text)
    path = _tarball(text, text)
    if _has_manifest(path):
        return Source("docker-archive", path, text)
    if _has_manifest(path, OCI_FILES):
        return Source("oci-archive", path, text)
    raise ImageError(f"{text!r}: {NO_MANIFEST}; give {SUPPORTED}")


def is_archive(text: str) -> bool:
    """Whether ``text`` names an archive to pull (``docker-archive:…``, ``oci:…``,
    ``oci-archive:…``, a tarball's path with a manifest.json or index.json, an OCI layout
    directory), rather than an image a runtime runs as it is (a path, ``docker://…``)."""
    if text.startswith(tuple(kind + ":" for kind in ARCHIVE_KINDS)):
        return True
    path = os.path.expanduser(text)
    if os.path.isdir(path):
        return is_layout(path)
    return (
        os.path.isfile(path)
        and tarfile.is_tarfile(path)
        and (_has_manifest(path) or _has_manifest(path, OCI_FILES))
    )


def _oci(kind: str, text: str) -> Source:
    """``oci:DIR[:REF]`` or ``oci-archive:PATH[:REF]``: a path that exists as it is wins over a
    ``:REF`` split off its end."""
    rest = text[len(kind) + 1 :]
    if not rest:
        raise SpecError("source", f"{text!r} names no path; give {kind}:PATH[:REF]")
    path, ref = rest, None
    if not os.path.exists(os.path.expanduser(rest)) and ":" in rest:
        path, ref = rest.rsplit(":", 1)
        ref = ref or None
    if kind == "oci-archive":
        return Source(kind, _tarball(path, text), text, ref)
    full = os.path.abspath(os.path.expanduser(path))
    if not os.path.isdir(full):
        raise ImageError(f"{text!r}: no such directory; give oci:DIR[:REF]")
    if not is_layout(full):
        raise ImageError(f"{text!r}: {full} has no oci-layout and index.json: not an OCI layout")
    return Source(kind, full, text, ref)


def _tarball(path: str, text: str) -> str:
    path = os.path.abspath(os.path.expanduser(path))
    if not os.path.exists(path):
        raise ImageError(f"{text!r}: no such file; give {SUPPORTED}")
    if not os.path.isfile(path):
        raise ImageError(f"{text!r} is not a file; give {SUPPORTED}")
    return path


def _has_manifest(path: str, names: tuple[str, ...] = ("manifest.json",)) -> bool:
    """Whether the tarball holds all of ``names`` (a docker save's, or an OCI layout's)."""
    wanted = set(names)
    try:
        with tarfile.open(path, "r:") as tar:
            for member in tar:
                wanted.discard(member.name.removeprefix("./"))
                if not wanted:
                    return True
    except (tarfile.TarError, EOFError):
        return False
    return False
