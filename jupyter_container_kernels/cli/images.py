"""``jupyter container-kernels pull``: a registry's image (``docker://``), a ``docker save``
tarball or an OCI layout into the image store.

Thin: parse SOURCE (:mod:`..images.sources`), pull through :class:`..images.store.ImageStore`,
print progress on stderr (one line per phase; JSON lines with ``--json``) and the stored
image's path on stdout.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, ClassVar

from traitlets import Bool

from ..images.store import ImageStore, ProgressEvent
from ..site import SiteConfig
from .base import JSON_FLAG, Text, Verb


def progress_printer(*, json_lines: bool = False) -> Callable[[ProgressEvent], None]:
    """A pull's progress on stderr: one line per finished phase, or every event as a JSON line."""
    started: dict[str, float] = {}

    def progress(event: ProgressEvent) -> None:
        started.setdefault(event.phase, time.monotonic())
        if json_lines:
            print(json.dumps({"event": "progress", **asdict(event)}), file=sys.stderr, flush=True)
        elif event.finished:
            took = time.monotonic() - started[event.phase]
            size = f"{event.done} of {event.total} bytes " if event.total else ""  # 0: unknown
            print(f"{event.phase}: {size}in {took:.1f} s", file=sys.stderr, flush=True)

    return progress


def pull_source(
    text: str,
    site: SiteConfig,
    *,
    runtime: str = "charliecloud",
    name: str | None = None,
    json_lines: bool = False,
) -> str:
    """``install``'s first step for an archive or ``docker://`` SOURCE: pull it for
    ``runtime``, return what the kernel's ``image`` names (a path, or Podman's reference)."""
    from ..images.registry import site_options
    from ..images.sources import parse_source

    stored = image_store(site).pull(
        parse_source(text),
        runtime=runtime,
        name=name,
        progress=progress_printer(json_lines=json_lines),
        options=site_options(site),
    )
    return stored.path


def image_store(site: SiteConfig) -> ImageStore:
    from ..images.store import ImageStore

    return ImageStore.for_site(site)


class PullApp(Verb):
    """Pull an image from a registry or an archive into the image store."""

    name = "jupyter-container-kernels-pull"
    description = (
        "Pull SOURCE (docker://REF, docker-archive:PATH, oci:DIR[:REF], oci-archive:PATH[:REF], "
        "or the path of a `docker save` tarball or an OCI layout directory) into the "
        "image store (SiteConfig.image_store) as a directory image Charliecloud runs, and print "
        "its path; with --runtime podman, load or pull it into Podman's storage and print its "
        "reference. An image of the same digest already stored is reused. docker:// needs "
        "skopeo (or Podman)."
    )
    examples = (
        "jupyter container-kernels pull docker://docker.io/library/python:3.12 --name py312\n"
        "jupyter container-kernels pull docker://registry.example.org:5000/team/tool:1.2 "
        "--cert-dir /etc/pki/registry --authfile ~/auth.json\n"
        "jupyter container-kernels pull docker-archive:pytorch.tar --name pytorch\n"
        "jupyter container-kernels pull images.tar --image myorg/tool:1.2 --json\n"
        "jupyter container-kernels pull oci:./tool-layout:1.2 --name tool"
    )
    positional = (1, 1)
    usage_args = "one SOURCE"
    runtime = Text(
        "charliecloud", config=True, help="Runtime the image is pulled for: charliecloud, podman."
    )
    image_name = Text(config=True, help="Name in the store (default: from the image's tag).").tag(
        flag="name"
    )
    image = Text(
        config=True,
        help="The image to take from an archive holding several (a RepoTag, "
        "or an OCI reference name).",
    )
    refresh = Bool(
        False, config=True, help="Unpack again even when an image of this digest is stored."
    )
    cert_dir = Text(
        config=True,
        help="docker://: directory holding the registry's CA certificate (ca.crt), for a "
        "private CA (default: SiteConfig.registry_cert_dir).",
    )
    authfile = Text(
        config=True,
        help="docker://: credentials file written by `skopeo login --authfile FILE` (default: "
        "SiteConfig.registry_authfile, else skopeo's own).",
    )
    store = Text(
        config=True,
        help="Store to pull into (default: SiteConfig.image_store, per user). Admins fill a "
        "shared store with it (listed in SiteConfig.shared_image_stores, whose images users' "
        "pulls of the same digest then use).",
    )
    aliases: ClassVar[dict[str, Any]] = {
        "runtime": "PullApp.runtime", "name": "PullApp.image_name", "image": "PullApp.image",
        "cert-dir": "PullApp.cert_dir", "authfile": "PullApp.authfile", "store": "PullApp.store",
    }  # fmt: skip
    flags: ClassVar[dict[str, Any]] = {
        **JSON_FLAG,
        "refresh": ({"PullApp": {"refresh": True}}, "Unpack again even if stored."),
    }

    def run(self) -> None:
        from ..images.registry import site_options
        from ..images.sources import parse_source

        site = self.site()
        source = parse_source(self.extra_args[0])
        options = site_options(site, cert_dir=self.cert_dir, authfile=self.authfile)
        store = image_store(site)
        if self.store:  # filling a store: never answered from another one
            store = ImageStore(self.store, runtime_paths=dict(site.runtime_paths))
        stored = store.pull(
            source,
            options=options,
            runtime=self.runtime,
            name=self.image_name,
            image_ref=self.image,
            refresh=self.refresh,
            progress=progress_printer(json_lines=self.json),
        )
        if self.json:
            return self.emit({"path": stored.path, "reused": stored.reused, **stored.metadata})
        if stored.reused:
            print(f"reused: {stored.metadata['digest']} is already stored", file=sys.stderr)
        print(stored.path)
