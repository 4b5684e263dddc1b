"""SIF images for Apptainer and Singularity, made by the runtime itself.

``docker://`` and ``oras://`` references go through ``apptainer pull --force OUT.sif SOURCE``;
``docker save`` and OCI tarballs through ``apptainer build --force OUT.sif
docker-archive://PATH`` (``oci-archive://PATH``). ``OUT`` lies in the store's temporary
directory for the pull; the store renames it into place.

Registry options map onto Apptainer's: ``authfile`` is ``--authfile``; ``cert_dir`` becomes
``SSL_CERT_DIR`` in Apptainer's environment (Go's TLS reads the CA certificates there, in place
of the system's); ``tls_verify=False`` is ``--no-https`` (a registry without TLS).

Progress follows Apptainer's output lines: ``Copying blob …`` / ``Downloading …`` (download,
counted in blobs), ``Extracting OCI image`` (unpack), ``Creating SIF file`` (convert). A
failure's ``FATAL:`` line becomes the error: classified like skopeo's for registries.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import __version__, _process
from ..errors import CommandNotFoundError, ContainerKernelError, ImageError, SpecError
from . import archive, registry
from .registry import RegistryOptions
from .sources import Source

if TYPE_CHECKING:
    from .store import ImageStore, ProgressEvent, StoredImage

#: Seconds a pull or build may take (large images, slow file systems).
TIMEOUT = 6 * 3600.0
#: ``report(phase, done, total, finished)``.
Report = Callable[[str, int, int, bool], None]
#: Apptainer's output line (its start) -> the phase that begins.
PHASES = (("Copying blob", "download"), ("INFO:    Downloading", "download"),
          ("INFO:    Extracting OCI image", "unpack"), ("INFO:    Creating SIF file", "convert"))  # fmt: skip


#: A SIF build needs the layers, the unpacked image and the SIF: about three times the
#: compressed size.
SPACE_FACTOR = 3.0


def pull(
    store: ImageStore,
    source: Source,
    *,
    name: str | None,
    runtime: str,
    image_ref: str | None,
    refresh: bool,
    report: Callable[[ProgressEvent], None],
    cancel: threading.Event | None,
    options: RegistryOptions,
) -> StoredImage:
    """``NAME.sif`` in ``store``, written by the runtime's own ``pull``/``build``. Reuse:
    the same config digest (a registry's manifest read with skopeo, when it is installed;
    a tarball's manifest), else the same tarball sha256; an ``oras://`` SIF is fetched
    again (Apptainer's cache makes that cheap)."""
    from .store import (
        SIDECAR_LIMIT,
        ProgressEvent,
        StoredImage,
        _clean_name,
        _sha256,
        _write_json,
        check_name,
        default_name,
        open_reader,
    )

    digest, need, tarball_sha = None, 0, None
    if source.kind in ("docker", "oras"):
        reference = registry.parse_reference(source.text)
        default = reference.name
        if source.kind == "docker" and shutil.which(registry.SKOPEO):
            remote = registry.resolve(reference, options)
            digest, need = remote.config_digest, remote.layer_bytes
    elif source.kind in ("docker-archive", "oci-archive"):
        reader = open_reader(source)
        try:
            images = reader.images()
        finally:
            reader.close()
        if len(images) > 1:
            raise SpecError("source", f"{source.text} holds {len(images)} images; Apptainer "
                            "builds from an archive of one: save that image alone")  # fmt: skip
        image = archive.select(images, image_ref or source.ref, source.path)
        digest, need, default = image.digest, image.layer_bytes, default_name(image, source)
    else:
        default = os.path.basename(source.path.rstrip("/"))
    name = check_name(name) if name else _clean_name(default, digest or "")
    shared = store.find_shared(digest, runtime) if digest and not refresh else None
    if shared is not None:
        return shared
    with store._lock(name):
        target = store.image_path(name) + ".sif"
        stored = _read_sidecar(target, SIDECAR_LIMIT)
        same = stored is not None and digest is not None and stored.get("digest") == digest
        if same and not refresh and os.path.isfile(target):
            return StoredImage(target, stored, reused=True)
        archive.check_cancel(cancel)
        work = store._work_dir(name, int(need * SPACE_FACTOR))
        try:
            if source.kind in ("docker-archive", "oci-archive"):
                tarball_sha = _sha256(source.path, report, cancel)
            out = os.path.join(work, name + ".sif")
            make(
                source,
                out,
                executable=store.executable(runtime),
                options=options,
                report=lambda *event: report(ProgressEvent(*event)),
                cancel=cancel,
            )
            sif_sha = _sha256(out, lambda event: None, cancel)
            metadata = {
                "name": name,
                "source": source.text,
                "digest": digest or sif_sha,
                "sif_sha256": sif_sha,
                **({"tarball_sha256": tarball_sha} if tarball_sha else {}),
                "runtime": runtime,
                "tool": "jupyter_container_kernels",
                "tool_version": __version__,
                "runtime_version": _runtime_version(store.executable(runtime)),
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            if os.path.lexists(target + ".json"):
                os.unlink(target + ".json")
            os.chmod(out, 0o644)
            os.replace(out, target)
            _write_json(target + ".json", metadata, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return StoredImage(target, metadata, reused=False)


def argv(source: Source, out: str, executable: str, options: RegistryOptions) -> list[str]:
    """The ``pull`` or ``build`` command writing ``source`` to ``out``."""
    auth = [f"--authfile={options.authfile}"] if options.authfile else []
    auth += [] if options.tls_verify else ["--no-https"]
    if source.kind in ("docker", "oras"):
        return [executable, "pull", "--force", *auth, out, source.text]
    if source.kind in ("docker-archive", "oci-archive"):
        return [executable, "build", "--force", *auth, out, f"{source.kind}://{source.path}"]
    raise ImageError(
        f"{source.text}: Apptainer builds SIF images from docker://, oras://, docker-archive "
        "and oci-archive sources; tar an OCI layout directory (oci-archive) first"
    )


def make(
    source: Source,
    out: str,
    *,
    executable: str,
    options: RegistryOptions,
    report: Report,
    cancel: threading.Event | None = None,
) -> None:
    """Write the SIF of ``source`` at ``out`` with the runtime's own ``pull``/``build``."""
    command = argv(source, out, executable, options)
    env = dict(os.environ)
    if options.cert_dir:
        env["SSL_CERT_DIR"] = options.cert_dir
    phase: list[str] = []
    blobs = 0

    def on_line(line: str) -> None:
        nonlocal blobs
        for start, name in PHASES:
            if line.startswith(start):
                if phase and phase[-1] != name:
                    report(phase[-1], 0, 0, True)
                if not phase or phase[-1] != name:
                    phase.append(name)
                if name == "download":
                    blobs += 1
                    report(name, blobs, 0, False)
                return

    try:
        done = _process.run_sync(command, env=env, timeout=TIMEOUT, check=False,
                                 on_line=on_line, cancel=cancel)  # fmt: skip
    except CommandNotFoundError:
        raise CommandNotFoundError(
            f"`{executable}` is needed to pull images for Apptainer and cannot be run; load "
            "its module, install it, or set c.SiteConfig.runtime_paths"
        ) from None
    if done.returncode != 0:
        fatal = _fatal(done.stderr)
        if "mksquashfs" in fatal and ("not found" in fatal or "no such file" in fatal.lower()):
            raise ImageError(
                f"`{command[0]} {command[1]}` needs mksquashfs (package squashfs-tools) to "
                "write a SIF, and it is missing where Apptainer runs: install squashfs-tools "
                "(or set `mksquashfs path` in apptainer.conf), or pull a ready SIF (oras://)"
            )
        if source.kind in ("docker", "oras"):
            raise registry.classify(fatal, registry.parse_reference(source.text), out)
        raise ImageError(f"`{command[0]} {command[1]}` of {source.text} failed: {fatal}")
    if phase:
        report(phase[-1], 0, 0, True)


def _fatal(stderr: str) -> str:
    """Apptainer's last ``FATAL:`` message, else the last line it wrote."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("FATAL:"):
            return line.removeprefix("FATAL:").strip()
    return lines[-1] if lines else "(no output on stderr)"


def _read_sidecar(image: str, limit: int) -> dict[str, Any] | None:
    try:
        with open(image + ".json", "rb") as f:
            data = json.loads(f.read(limit))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _runtime_version(executable: str) -> str:
    try:
        done = _process.run_sync([executable, "--version"], timeout=30, check=False)
    except ContainerKernelError:
        return ""
    return done.stdout.strip().rsplit(" ", 1)[-1]
