"""Images for Podman: loaded into (or pulled into) Podman's own local storage, not the store.

``docker-archive`` and ``oci-archive`` tarballs go through ``podman load -i``, an OCI layout
directory and a ``docker://`` reference through ``podman pull`` (with the same
:class:`.registry.RegistryOptions` as skopeo, and the same error messages). What a kernel's
``image`` then names is the image's reference in Podman's storage (``localhost/NAME:latest``
with ``--name``). Podman reads its own configuration (``CONTAINERS_CONF``,
``CONTAINERS_STORAGE_CONF``, ``/etc/containers/``) from the environment this runs in.

Progress: Podman prints no byte counts without a terminal, so its events count blobs (``done``
blobs copied, ``total`` 0: unknown), then one finished event (``load`` or ``download``).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

from .. import __version__, _process
from ..errors import CommandNotFoundError, ImageError, ProcessError
from . import archive, registry
from .registry import RegistryOptions
from .sources import Source

PODMAN = "podman"
#: Seconds ``podman load`` / ``podman pull`` may take (large images, slow disks).
TIMEOUT = 6 * 3600.0
#: Podman's summary line(s) after a load.
LOADED = re.compile(r"^Loaded image(?:\(s\))?: (.+)$")


#: ``report(phase, done, total, finished)``.
Report = Callable[[str, int, int, bool], None]


def pull(
    source: Source,
    *,
    name: str | None,
    image_ref: str | None,
    report: Report,
    cancel: threading.Event | None,
    options: RegistryOptions,
    executable: str = PODMAN,
) -> tuple[str, dict[str, Any], bool]:
    """Load or pull ``source`` into Podman's storage; returns the image reference a kernel
    names, the metadata, and whether Podman already had that image (same ID)."""
    if source.kind == "docker":
        expected: str | None = registry.parse_reference(source.text).text
    else:
        expected = _archive_tag(source, image_ref)
    before = _image_id(expected, executable) if expected else None
    if source.kind in ("docker-archive", "oci-archive"):
        reference = _load(source, expected, executable, report, cancel)
        phase = "load"
    else:
        reference = _pull(source, image_ref, executable, options, report, cancel)
        phase = "download"
    image_id = _image_id(reference, executable)
    if image_id is None:
        raise ImageError(f"{source.text}: Podman reported {reference!r}, which it cannot find")
    if name:
        target = f"localhost/{name}:latest"
        before = _image_id(target, executable)
        _run([executable, "tag", reference, target], executable)
        reference = target
    metadata = {
        "name": name or reference,
        "source": source.text,
        "image": reference,
        "digest": image_id,
        "runtime": "podman",
        "tool": "jupyter_container_kernels",
        "tool_version": __version__,
        "podman_version": _version(executable),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    report(phase, 0, 0, True)
    return reference, metadata, before == image_id


def _archive_tag(source: Source, image_ref: str | None) -> str | None:
    """The tag ``podman load`` will give the image a ``docker save`` tarball holds (our reader
    picks it, so that several images are listed in the message as for Charliecloud)."""
    if source.kind != "docker-archive":
        return image_ref or source.ref
    reader = archive.DockerArchive(source.path)
    try:
        image = archive.select(reader.images(), image_ref, source.path)
    finally:
        reader.close()
    return image.repo_tags[0] if image.repo_tags else image.digest


def _load(
    source: Source,
    wanted: str | None,
    executable: str,
    report: Report,
    cancel: threading.Event | None,
) -> str:
    """``podman load -i``: the reference Podman gives the ``wanted`` image (or the only one)."""
    done = _run([executable, "load", "-i", source.path], executable, _blob_counter("load", report),
                cancel)  # fmt: skip
    loaded = [m[1].strip() for line in done.stdout.splitlines() if (m := LOADED.match(line))]
    names = [n.strip() for line in loaded for n in line.split(",") if n.strip()]
    if wanted:
        bare = wanted.removeprefix("sha256:")
        for loaded_name in names:
            if loaded_name == wanted or loaded_name.endswith(("/" + wanted, bare)):
                return loaded_name
        if wanted.startswith("sha256:"):  # an untagged image: Podman names it by its ID
            return bare
    if len(names) == 1:
        return names[0]
    raise ImageError(
        f"{source.text}: podman loaded {', '.join(names) or 'nothing it named'}; choose one "
        "with --image"
    )


def _pull(
    source: Source,
    image_ref: str | None,
    executable: str,
    options: RegistryOptions,
    report: Report,
    cancel: threading.Event | None,
) -> str:
    """``podman pull`` of a ``docker://`` reference or an ``oci:`` layout directory; registry
    errors are classified as for skopeo (Podman uses the same library and words)."""
    reference = None
    if source.kind == "docker":
        reference = registry.parse_reference(source.text)
        transport = f"docker://{reference.text}"
    else:
        ref = image_ref or source.ref
        transport = f"oci:{source.path}" + (f":{ref}" if ref else "")
    argv = [executable, "pull", *options.args(), transport]
    done = _run(argv, executable, _blob_counter("download", report), cancel, check=False)
    if done.returncode != 0:
        if reference is not None:
            raise registry.classify(done.stderr, reference, "Podman's storage")
        raise ProcessError(argv, done.returncode, _process.tail(done.stderr))
    if reference is not None:
        return reference.text
    return done.stdout.strip().splitlines()[-1]  # the image ID


def _blob_counter(phase: str, report: Report) -> Callable[[str], None]:
    blobs = 0

    def on_line(line: str) -> None:
        nonlocal blobs
        if line.startswith("Copying blob"):
            blobs += 1
            report(phase, blobs, 0, False)

    return on_line


def _image_id(reference: str, executable: str) -> str | None:
    """``sha256:`` + the image's ID (its config's digest), or None when Podman lacks it."""
    done = _run([executable, "image", "inspect", "--format", "{{.Id}}", reference], executable,
                check=False)  # fmt: skip
    if done.returncode != 0 or not done.stdout.strip():
        return None
    return "sha256:" + done.stdout.strip().removeprefix("sha256:")


def _version(executable: str) -> str:
    done = _run([executable, "--version"], executable, check=False)
    return done.stdout.strip().rsplit(" ", 1)[-1]


def _run(
    argv: list[str],
    executable: str,
    on_line: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
    check: bool = True,
) -> _process.Completed:
    try:
        return _process.run_sync(argv, timeout=TIMEOUT, check=check, on_line=on_line,
                                 cancel=cancel)  # fmt: skip
    except CommandNotFoundError:
        raise CommandNotFoundError(
            f"`{executable}` is needed to pull images for Podman and cannot be run; install it "
            "or set c.SiteConfig.runtime_paths['podman']"
        ) from None
