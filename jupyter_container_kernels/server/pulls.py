"""Pulls as long-running operations: ``POST images/pulls`` starts one, the client polls it.

:meth:`ImageStore.pull <..images.store.ImageStore.pull>` is blocking, so each pull runs in a
worker thread and records its progress into a :class:`PullOperation`; the request answers at
once (202) and the pull goes on when the browser tab closes. ``DELETE images/pulls/{id}`` sets
the operation's cancel event, which the store checks between chunks and tar members (a cancelled
pull leaves nothing in the store). With ``install``, the kernel is registered through the same
:class:`.registry.KernelRegistry` as ``POST kernels``, only once the pull succeeded.

Operations live in this server's memory: a restart forgets them (the stored images remain).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ClassVar

from traitlets import Int
from traitlets.config import LoggingConfigurable

from ..errors import CancelledError, ContainerKernelError, ImageError, NotFoundError, SpecError
from ..images.registry import site_options
from ..images.sources import Source, parse_source
from ..images.store import PULL_RUNTIMES, ImageStore, ProgressEvent, check_name
from ..nodes.settings import NodeSettings
from ..site import SiteConfig
from .registry import KernelRegistry

STATES = ("running", "succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class PullRequest:
    """A validated ``POST images/pulls`` body. ``source`` is parsed (its file exists and is a
    tarball); a relative path is relative to the server's root. ``runtime`` is the runtime the
    image is pulled for (one of :data:`PULL_RUNTIMES`; Charliecloud by default). ``install`` is
    the ``POST kernels`` body less the image: ``display_name`` (required), ``name``, ``probe``
    and ``spec`` (settings other than ``image`` and ``runtime``, which the pull sets)."""

    KEYS: ClassVar[tuple[str, ...]] = (
        "source", "name", "image", "refresh", "runtime", "install",
    )  # fmt: skip
    INSTALL_KEYS: ClassVar[tuple[str, ...]] = ("name", "display_name", "spec", "probe", "slurm")

    text: str
    source: Source
    name: str | None = None
    image: str | None = None
    refresh: bool = False
    install: dict[str, Any] | None = None
    runtime: str = PULL_RUNTIMES[0]

    @classmethod
    def from_body(cls, body: dict[str, Any], root_dir: str, site: SiteConfig) -> PullRequest:
        text = body.get("source")
        if not isinstance(text, str):
            raise SpecError("source", f"expected a string, got {text!r}.")
        name = _optional_string(body, "name")
        if name is not None:
            check_name(name)
        refresh = body.get("refresh", False)
        if not isinstance(refresh, bool):
            raise SpecError("refresh", f"expected true or false, got {refresh!r}.")
        runtime = body.get("runtime", PULL_RUNTIMES[0])
        if runtime not in PULL_RUNTIMES:
            raise SpecError(
                "runtime",
                f"{runtime!r}: images are pulled for {', '.join(PULL_RUNTIMES)} only; "
                "give one of them (or leave it out for charliecloud).",
            )
        install = body.get("install")
        if install is not None:
            install = _install(install, site, runtime)
        try:  # a relative path's message shows where it was looked for
            source = parse_source(_under_root(text, root_dir))
        except ImageError as exc:
            raise SpecError("source", str(exc)) from None
        return cls(
            text,
            source,
            name,
            _optional_string(body, "image"),
            refresh,
            install,
            runtime,
        )


def _optional_string(body: dict[str, Any], key: str, where: str = "") -> str | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise SpecError(where + key, f"expected a non-empty string, got {value!r}.")
    return value


def _install(install: Any, site: SiteConfig, runtime: str) -> dict[str, Any]:
    if not isinstance(install, dict):
        raise SpecError("install", f"expected an object, got {install!r}.")
    unknown = sorted(set(install) - set(PullRequest.INSTALL_KEYS))
    if unknown:
        raise SpecError(
            f"install.{unknown[0]}",
            f"unknown field; the fields are: {', '.join(PullRequest.INSTALL_KEYS)}.",
        )
    if _optional_string(install, "display_name", "install.") is None:
        raise SpecError("install.display_name", "is required.")
    _optional_string(install, "name", "install.")
    if not isinstance(install.get("probe", True), bool):
        raise SpecError("install.probe", f"expected true or false, got {install['probe']!r}.")
    spec = install.get("spec", {})
    if not isinstance(spec, dict):
        raise SpecError("install.spec", f"expected an object of settings, got {spec!r}.")
    for key in ("image", "runtime"):
        if key in spec:
            raise SpecError(
                f"install.spec.{key}",
                "is set by the pull (the stored image, the body's runtime); leave it out.",
            )
    # Every other setting, checked now (against the runtime's rules, e.g. its runtime_args).
    site.build_spec(_spec(spec, "/", runtime), where="install.spec")
    if install.get("slurm") is not None:  # a node kernel: checked now, not after the pull
        NodeSettings.from_dict(install["slurm"], where="install.slurm")
    return install


def _spec(settings: dict[str, Any], image: str, runtime: str) -> dict[str, Any]:
    return {**settings, "runtime": runtime, "image": image}


def _under_root(text: str, root_dir: str) -> str:
    """A relative tarball path resolved against the server's root (not its working directory)."""
    prefix = "docker-archive:" if text.startswith("docker-archive:") else ""
    path = text[len(prefix) :]
    if path and not os.path.isabs(path) and not path.startswith("~") and "://" not in path:
        return prefix + os.path.join(root_dir, path)
    return text


@dataclass
class PullOperation:
    """One pull, as ``GET images/pulls/{id}`` shows it. The worker thread writes the progress
    fields; the event loop reads them (single attribute writes, so no lock is needed)."""

    id: str
    source: str
    runtime: str = PULL_RUNTIMES[0]
    state: str = "running"
    phase: str | None = None
    done: int = 0
    total: int = 0
    error: str | None = None
    image_path: str | None = None
    digest: str | None = None
    kernel: str | None = None
    created: float = field(default_factory=time.time)
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "runtime": self.runtime,
            "state": self.state,
            "phase": self.phase,
            "done": self.done,
            "total": self.total,
            "error": self.error,
            "image_path": self.image_path,
            "digest": self.digest,
            "kernel": self.kernel,
        }


class PullOperations(LoggingConfigurable):
    """Start, list, get and cancel pulls into the site's image store."""

    max_workers = Int(
        2,
        config=True,
        help="Pulls unpacked at the same time; further pulls wait (state running, no phase yet).",
    )
    history = Int(
        50,
        config=True,
        help="Finished operations remembered (the oldest are forgotten first); running ones "
        "are always kept.",
    )

    def __init__(
        self, site: SiteConfig, kernels: KernelRegistry, root_dir: str, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.site = site
        self.kernels = kernels
        self.root_dir = root_dir
        self.store = ImageStore.for_site(site)
        self._operations: dict[str, PullOperation] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._executor = ThreadPoolExecutor(self.max_workers, thread_name_prefix="jck-pull")

    def request(self, body: dict[str, Any]) -> PullRequest:
        """``body`` validated (:class:`SpecError` naming the field); with ``install``, the
        store must be where the site allows images (:class:`PolicyError`), checked up front
        (Podman's images live in its own storage, checked when the kernel is registered)."""
        request = PullRequest.from_body(body, self.root_dir, self.site)
        if request.install is not None and request.runtime != "podman":
            self.site.check_image_allowed(self.store.root)
        return request

    def start(self, request: PullRequest) -> PullOperation:
        """A new running operation; the pull goes on in a worker thread."""
        op = PullOperation(uuid.uuid4().hex, request.text, request.runtime)
        self._operations[op.id] = op
        self._forget_old()
        task = asyncio.get_running_loop().create_task(self._run(op, request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.log.info("Pull %s started: %s", op.id, request.text)
        return op

    def list(self) -> list[PullOperation]:
        """This server's operations, newest first."""
        return sorted(self._operations.values(), key=lambda op: op.created, reverse=True)

    def get(self, op_id: str) -> PullOperation:
        try:
            return self._operations[op_id]
        except KeyError:
            raise NotFoundError(
                f"No pull {op_id!r} on this server; GET images/pulls lists them "
                "(a server restart forgets them)."
            ) from None

    def cancel(self, op_id: str) -> PullOperation:
        """Ask a running pull to stop; it turns ``cancelled`` once the worker notices (between
        tar members). A finished one is returned as it is."""
        op = self.get(op_id)
        if op.state == "running":
            op.cancel.set()
        return op

    def record(self, op: PullOperation, event: ProgressEvent) -> None:
        """The store's progress callback (runs in the worker thread)."""
        op.phase, op.done, op.total = event.phase, event.done, event.total

    async def stop(self) -> None:
        """Cancel running pulls and wait for their workers (the server is shutting down)."""
        for op in self._operations.values():
            op.cancel.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self, op: PullOperation, request: PullRequest) -> None:
        loop = asyncio.get_running_loop()
        try:
            stored = await loop.run_in_executor(self._executor, self._pull, op, request)
            op.image_path, op.digest = stored.path, stored.metadata.get("digest")
            if request.install is not None:
                install = request.install
                if install.get("probe", True):  # a one-shot run of the image, seconds
                    op.phase, op.done, op.total = "probe", 0, 0
                settings = install.get("spec", {})
                spec = self.site.build_spec(_spec(settings, stored.path, request.runtime))
                kernel = await self.kernels.install(
                    spec,
                    name=install.get("name"),
                    display_name=install["display_name"],
                    probe=install.get("probe", True),
                    slurm=install.get("slurm"),
                )
                op.kernel = kernel.name
            op.state = "succeeded"
        except CancelledError as exc:
            op.state, op.error = "cancelled", str(exc)
        except ContainerKernelError as exc:
            op.state, op.error = "failed", _failure(op, exc)
        except Exception as exc:
            self.log.exception("Pull %s failed", op.id)
            op.state = "failed"
            op.error = _failure(op, exc, f"Internal error ({type(exc).__name__}: {exc})")
        self.log.info("Pull %s %s%s", op.id, op.state, f": {op.error}" if op.error else "")

    def _pull(self, op: PullOperation, request: PullRequest) -> Any:
        if op.cancel.is_set():  # cancelled while waiting for a worker
            raise CancelledError("the pull was cancelled; nothing was stored")
        return self.store.pull(
            request.source,
            runtime=request.runtime,
            name=request.name,
            image_ref=request.image,
            refresh=request.refresh,
            progress=lambda event: self.record(op, event),
            cancel=op.cancel,
            options=site_options(self.site),
        )

    def _forget_old(self) -> None:
        finished = [op for op in self.list() if op.state != "running"]
        for op in finished[self.history :]:
            del self._operations[op.id]


def _failure(op: PullOperation, exc: BaseException, text: str | None = None) -> str:
    message = text or str(exc)
    if op.image_path:  # the pull succeeded; registering the kernel did not
        message = (
            f"{message} (the image was pulled to {op.image_path}; register it with POST kernels)"
        )
    return message
