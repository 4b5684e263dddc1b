"""The image store: images pulled from archives (``docker save`` tarballs, OCI layouts) and
registries (``docker://``, through :mod:`.registry`), one directory each, with a metadata
sidecar.

Layout of the store (``SiteConfig.image_store``, default
``{jupyter_data_dir}/container-kernels/images``)::

    NAME/           the directory image (what Charliecloud's ``ch-run NAME`` runs)
    NAME.json       its metadata: source, digest (the image config's sha256, i.e. the image
                    ID), an OCI manifest's digest, a tarball's sha256, the registry's digest
                    of a ``docker://`` reference, tool and version, date, what was skipped
    .locks/NAME     a lock (fcntl) held while NAME is pulled: a second pull of NAME waits,
                    then finds the first one's image
    .tmp-NAME-*     a pull in progress; renamed into place when complete, removed on failure

A stored image whose digest matches is reused (no unpacking; for a registry, no download: the
manifest alone is read) unless ``refresh`` is asked for.
Whatever goes wrong (a truncated tarball, a full disk, Ctrl-C, a cancel), nothing new is left
behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ImageError, SpecError
from . import archive, registry, sif
from .oci import DIGEST, OciLayout
from .registry import RegistryOptions
from .sources import Source

#: What :meth:`ImageStore.pull` reads an image from.
Reader = archive.DockerArchive | OciLayout

#: Runtimes whose images can be pulled: into the store (Charliecloud's directory images,
#: Apptainer's and Singularity's SIF files, :mod:`.sif`), or into the runtime's own storage
#: (Podman, :mod:`.podman`).
PULL_RUNTIMES = ("charliecloud", "podman", "apptainer", "singularity")
SIF_RUNTIMES = ("apptainer", "singularity")
#: Unpacked images need about this much more than the layers' bytes (directories, blocks).
SPACE_FACTOR = 1.2
#: A registry pull needs the compressed layers (downloaded) and the image unpacked from them,
#: about three times their size for gzip.
REMOTE_SPACE_FACTOR = 4.0
#: Bind destinations made in every Charliecloud image: ch-run binds only onto directories that
#: exist in the image (tests/support/build_image.sh makes the same).
BIND_DIRS = tuple(f"mnt/{i}" for i in range(10))
#: A sidecar is a few hundred bytes; more than this is not one of ours.
SIDECAR_LIMIT = 64 * 1024


@dataclass(frozen=True)
class ProgressEvent:
    """``phase`` is ``download`` (from a registry), ``read`` (hashing a tarball), ``unpack``
    (applying layers) or ``load`` (``podman load``); ``done`` and ``total`` are bytes (for
    Podman, blobs; ``total`` 0 when unknown); ``finished`` is true on a phase's last event."""

    phase: str
    done: int
    total: int
    finished: bool = False


Progress = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class StoredImage:
    """A pulled image: ``path`` is what a kernel's ``image`` names; ``reused`` when no unpack
    was needed."""

    path: str
    metadata: dict[str, Any]
    reused: bool


def default_store() -> str:
    import jupyter_core.paths

    return os.path.join(jupyter_core.paths.jupyter_data_dir(), "container-kernels", "images")


class ImageStore:
    """Pull images into ``root`` (created on first use), or into Podman's storage for
    ``runtime="podman"``; ``runtime_paths`` (``SiteConfig.runtime_paths``) name the runtimes'
    executables (default: found on PATH)."""

    def __init__(
        self,
        root: str | None = None,
        *,
        runtime_paths: dict[str, str] | None = None,
        shared: tuple[str, ...] | list[str] = (),
    ):
        self.root = os.path.abspath(os.path.expanduser(root or default_store()))
        self.runtime_paths = dict(runtime_paths or {})
        #: Read-only stores (``SiteConfig.shared_image_stores``): an image of the same digest
        #: there is used instead of pulling it into :attr:`root`.
        self.shared = tuple(os.path.abspath(p) for p in shared)

    @classmethod
    def for_site(cls, site: Any) -> ImageStore:
        """The store ``site`` (a :class:`~..site.SiteConfig`) configures."""
        return cls(
            site.image_store or None,
            runtime_paths=dict(site.runtime_paths),
            shared=tuple(site.shared_image_stores),
        )

    def find_shared(self, digest: str, runtime: str) -> StoredImage | None:
        """An image of ``digest`` for ``runtime`` in a shared store (a directory image, or a
        SIF for Apptainer/Singularity; sidecar written by this tool, image present), or None.
        Reads the stores' sidecars only."""
        for root in self.shared:
            for sidecar in sorted(Path(root).glob("*.json")):
                image = str(sidecar)[: -len(".json")]
                try:
                    with open(sidecar, "rb") as f:
                        data = json.loads(f.read(SIDECAR_LIMIT))
                except (OSError, ValueError):
                    continue
                if (
                    isinstance(data, dict)
                    and data.get("tool") == "jupyter_container_kernels"
                    and data.get("digest") == digest
                    and data.get("runtime", "charliecloud") == runtime
                    and (os.path.isfile if runtime in SIF_RUNTIMES else os.path.isdir)(image)
                ):
                    return StoredImage(image, data, reused=True)
        return None

    def executable(self, runtime: str) -> str:
        return self.runtime_paths.get(runtime) or runtime

    def pull(
        self,
        source: Source,
        *,
        runtime: str = "charliecloud",
        name: str | None = None,
        image_ref: str | None = None,
        refresh: bool = False,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        options: RegistryOptions | None = None,
    ) -> StoredImage:
        """Store the image ``source`` holds (``image_ref`` picks one of several) as ``name``
        (default: from its tag), or reuse the stored one of the same digest. Setting ``cancel``
        (from another thread) stops the pull with :class:`CancelledError`, leaving nothing.
        ``options`` say how to reach a ``docker://`` source's registry. For Podman, ``path`` is
        the image's reference in Podman's storage and nothing is written to ``root``."""
        if runtime not in PULL_RUNTIMES:
            raise SpecError(
                "runtime", f"{runtime!r}: pulled images run with {', '.join(PULL_RUNTIMES)} only"
            )
        report = progress or (lambda event: None)
        if runtime == "podman":
            from . import podman

            if name:
                check_name(name)
            path, metadata, reused = podman.pull(
                source, name=name, image_ref=image_ref, cancel=cancel,
                report=lambda *event: report(ProgressEvent(*event)),
                options=options or RegistryOptions(), executable=self.executable("podman"),
            )  # fmt: skip
            return StoredImage(path, metadata, reused)
        if runtime in SIF_RUNTIMES:
            return sif.pull(self, source, name=name, runtime=runtime, image_ref=image_ref,
                            refresh=refresh, report=report, cancel=cancel,
                            options=options or RegistryOptions())  # fmt: skip
        if source.kind == "oras":
            raise SpecError("runtime", f"{runtime!r}: oras:// images are SIF files; pull them "
                            "with --runtime apptainer (or singularity)")  # fmt: skip
        if source.kind == "docker":
            if image_ref:
                raise SpecError("image", f"{image_ref!r}: a docker:// reference names one image; "
                                "--image picks one of an archive's")  # fmt: skip
            return self._pull_remote(source, name, runtime, refresh, report, cancel,
                                     options or RegistryOptions())  # fmt: skip
        if image_ref and source.ref and image_ref != source.ref:
            raise SpecError(
                "image", f"{image_ref!r} differs from {source.ref!r}, which {source.text!r} names"
            )
        reader = open_reader(source)
        try:
            image = archive.select(reader.images(), image_ref or source.ref, source.path)
            name = check_name(name) if name else default_name(image, source)
            shared = None if refresh else self.find_shared(image.digest, runtime)
            if shared is not None:
                return shared
            with self._lock(name):
                stored = self.find(name)
                if stored and stored.get("digest") == image.digest and not refresh:
                    return StoredImage(self.image_path(name), stored, reused=True)
                archive.check_cancel(cancel)
                return self._unpack(reader, image, source, name, runtime, report, cancel)
        finally:
            reader.close()

    def _pull_remote(
        self,
        source: Source,
        name: str | None,
        runtime: str,
        refresh: bool,
        report: Progress,
        cancel: threading.Event | None,
        options: RegistryOptions,
    ) -> StoredImage:
        """A ``docker://`` source: its manifest decides reuse; otherwise its layers are
        downloaded (skopeo) into an OCI layout in the pull's temporary directory, then unpacked
        by the same flattener as any archive."""
        reference = registry.parse_reference(source.text)
        remote = registry.resolve(reference, options)
        name = check_name(name) if name else _clean_name(reference.name, remote.config_digest)
        shared = None if refresh else self.find_shared(remote.config_digest, runtime)
        if shared is not None:
            return shared
        with self._lock(name):
            stored = self.find(name)
            if stored and stored.get("digest") == remote.config_digest and not refresh:
                return StoredImage(self.image_path(name), stored, reused=True)
            archive.check_cancel(cancel)
            work = self._work_dir(name, int(remote.layer_bytes * REMOTE_SPACE_FACTOR))
            try:
                layout = os.path.join(work, "layout")
                total = remote.layer_bytes
                ref_name = registry.fetch(
                    remote,
                    layout,
                    options,
                    lambda done, total: report(ProgressEvent("download", done, total)),
                    cancel,
                )
                report(ProgressEvent("download", total, total, True))
                reader = OciLayout(layout)
                image = archive.select(reader.images(), ref_name, source.text)
            except BaseException:
                shutil.rmtree(work, ignore_errors=True)
                raise
            extra = {
                "repo_tags": [reference.text],
                "registry_digest": remote.registry_digest,
                "manifest_digest": remote.manifest_digest,
            }
            return self._unpack(reader, image, source, name, runtime, report, cancel, work, extra)

    @contextlib.contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        """Hold the store's lock on ``name`` (a second pull of it waits here)."""
        os.makedirs(os.path.join(self.root, ".locks"), exist_ok=True)
        with open(os.path.join(self.root, ".locks", name), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            yield

    def _work_dir(self, name: str, need: int) -> str:
        """A new temporary directory for a pull of ``name`` (the lock held), once the leftovers
        of killed pulls are gone and ``need`` bytes are free."""
        for stale in Path(self.root).glob(f".tmp-{name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        free = shutil.disk_usage(self.root).free
        if need > free:
            raise ImageError(
                f"not enough space in {self.root}: the pull needs about {_mb(need)}, "
                f"{_mb(free)} free; free some space or set SiteConfig.image_store elsewhere"
            )
        return tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=self.root)

    def image_path(self, name: str) -> str:
        return os.path.join(self.root, name)

    def find(self, name: str) -> dict[str, Any] | None:
        """The metadata of the stored image ``name``, or None (missing, or half there)."""
        try:
            with open(self.image_path(name) + ".json") as f:
                data = json.load(f)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and os.path.isdir(self.image_path(name)) else None

    def _unpack(
        self,
        reader: Reader,
        image: archive.ArchiveImage,
        source: Source,
        name: str,
        runtime: str,
        report: Progress,
        cancel: threading.Event | None = None,
        work: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> StoredImage:
        """Flatten ``image`` into ``work`` (new unless given) and move it into place as
        ``name``; ``work`` is removed in every case. ``extra`` goes into the metadata."""
        if work is None:
            work = self._work_dir(name, int(image.layer_bytes * SPACE_FACTOR))
        try:
            # A layout directory (and a registry's) has no one file to hash; the manifest
            # digest says it all.
            hashed = source.kind in ("docker-archive", "oci-archive")
            tarball_sha = _sha256(source.path, report, cancel) if hashed else None
            rootfs = os.path.join(work, "rootfs")
            os.mkdir(rootfs, 0o755)
            counts = archive.flatten(
                reader.layers(image),
                rootfs,
                lambda done, total: report(ProgressEvent("unpack", done, total, done >= total)),
                source.path,
                cancel,
            )
            archive.check_cancel(cancel)
            if not image.layers:
                report(ProgressEvent("unpack", 0, 0, True))
            _finish_charliecloud(rootfs)
            metadata = {
                "name": name,
                "source": source.text,
                **({"source_path": source.path} if source.kind != "docker" else {}),
                "repo_tags": list(image.repo_tags),
                "digest": image.digest,
                **({"manifest_digest": image.manifest_digest} if image.manifest_digest else {}),
                **({"tarball_sha256": tarball_sha} if tarball_sha else {}),
                **(extra or {}),
                "runtime": runtime,
                "layers": len(image.layers),
                "skipped_devices": counts["devices"],
                "tool": "jupyter_container_kernels",
                "tool_version": __version__,
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            target = self.image_path(name)
            sidecar = target + ".json"
            if os.path.lexists(sidecar):
                os.unlink(sidecar)  # the old image is no longer described once it moves
            if os.path.lexists(target):
                os.rename(target, os.path.join(work, "old"))
            os.rename(rootfs, target)
            _write_json(sidecar, metadata, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return StoredImage(target, metadata, reused=False)


def stored_digest(image: str) -> str | None:
    """The digest (``sha256:…``, the image ID) the store recorded for the directory image
    ``image``: its sidecar ``IMAGE.json``, if there is one written by this tool. One small file
    read, no hashing, so listing kernels stays fast; None for any other image."""
    try:
        with open(image.rstrip("/") + ".json", "rb") as f:
            data = json.loads(f.read(SIDECAR_LIMIT))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("tool") != "jupyter_container_kernels":
        return None
    digest = data.get("digest")
    return digest if isinstance(digest, str) and DIGEST.fullmatch(digest) else None


def _finish_charliecloud(rootfs: str) -> None:
    """Directories and files ch-run needs in an image: bind destinations and mount points."""
    for folder in (*BIND_DIRS, "dev", "proc", "sys", "home", "tmp", "etc"):
        path = os.path.join(rootfs, folder)
        if not os.path.lexists(path):
            os.makedirs(path, mode=0o755)
    tmp = os.path.join(rootfs, "tmp")
    if os.path.isdir(tmp) and not os.path.islink(tmp):
        os.chmod(tmp, 0o1777)
    for file in ("etc/hosts", "etc/resolv.conf"):  # ch-run binds the host's onto these
        path = os.path.join(rootfs, file)
        if not os.path.lexists(path):
            open(path, "x").close()


def open_reader(source: Source) -> Reader:
    """The archive ``source`` names, opened: a ``docker save`` tarball or an OCI layout."""
    if source.kind == "docker-archive":
        return archive.DockerArchive(source.path)
    return OciLayout(source.path, tarball=source.kind == "oci-archive")


def default_name(image: archive.ArchiveImage, source: Source) -> str:
    """``repo:tag`` -> ``repo-tag`` (last path part), else the archive's name, else the ID; an
    OCI reference name that is a bare tag (``1.0``) follows the archive's name (``torch-1.0``)."""
    base = os.path.basename(source.path.rstrip("/")).split(".")[0]
    if image.repo_tags:
        text = image.repo_tags[0].rsplit("/", 1)[-1].replace(":", "-")
        if source.kind != "docker-archive" and ":" not in image.repo_tags[0] and base:
            text = f"{base}-{text}"
    else:
        text = base
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-")
    return text or "image-" + image.digest.removeprefix("sha256:")[:12]


def _clean_name(text: str, digest: str) -> str:
    text = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-")
    return text[:128] or "image-" + digest.removeprefix("sha256:")[:12]


def check_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) or len(name) > 128:
        raise SpecError(
            "name",
            f"{name!r}: use letters, digits, '.', '_' and '-', starting with a letter or digit",
        )
    return name


def _sha256(path: str, report: Progress, cancel: threading.Event | None = None) -> str:
    total = os.path.getsize(path)
    digest = hashlib.sha256()
    done = 0
    last = 0.0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            archive.check_cancel(cancel)
            digest.update(chunk)
            done += len(chunk)
            now = time.monotonic()
            if now - last > 0.5:
                report(ProgressEvent("read", done, total))
                last = now
    report(ProgressEvent("read", done, total, True))
    return "sha256:" + digest.hexdigest()


def _write_json(path: str, data: dict[str, Any], work: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=work, suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"
