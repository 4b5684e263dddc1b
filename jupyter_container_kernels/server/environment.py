"""What this node offers, for the UI's forms: runtimes, GPU, module system, Slurm, site defaults.

The report is cached for :attr:`EnvironmentReport.ttl` seconds and computed once however many
clients ask at the same time, so opening ten tabs runs ``sinfo`` once. Nothing here blocks the
event loop: the only processes (``module load`` of the site's default modules, ``sinfo``) run
through :mod:`.._process`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from .. import modules
from ..errors import ContainerKernelError, RuntimeNotFoundError
from ..gpu import node_gpu
from ..launch import find_runtime
from ..runtimes import get_runtime
from ..site import SiteConfig
from ..spec import RUNTIMES

log = logging.getLogger(__name__)

#: ``async () -> {"available": bool, "message": str | None, "partitions": [{"name", "default",
#: "state", "gres"}]}`` (``BatchService.slurm_status``); never raises for Slurm being down.
SlurmStatusFn = Callable[[], Awaitable[Mapping[str, Any]]]


class EnvironmentReport:
    """The ``GET environment`` document, cached and computed once per :attr:`ttl`."""

    def __init__(
        self,
        site: SiteConfig,
        slurm_status: SlurmStatusFn,
        *,
        ttl: float = 30.0,
        root_dir: str | None = None,
    ) -> None:
        """``root_dir``: the server's root as an absolute path (the file picker makes picked
        paths absolute with it; jupyter_server itself may report ``~/…``)."""
        self.site = site
        self.root_dir = root_dir
        self.slurm_status = slurm_status
        self.ttl = ttl
        self._value: dict[str, Any] | None = None
        self._expires = 0.0
        self._pending: asyncio.Future[dict[str, Any]] | None = None

    async def get(self) -> dict[str, Any]:
        """The cached report, or a fresh one (concurrent callers share a single computation)."""
        if self._value is not None and time.monotonic() < self._expires:
            return self._value
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._compute())
            self._pending.add_done_callback(self._computed)
        return await asyncio.shield(self._pending)

    def clear(self) -> None:
        """Forget the cached report (the next :meth:`get` computes it again)."""
        self._value = None

    def _computed(self, future: asyncio.Future[dict[str, Any]]) -> None:
        self._pending = None
        if not future.cancelled() and future.exception() is None:
            self._value = future.result()
            self._expires = time.monotonic() + self.ttl

    async def _compute(self) -> dict[str, Any]:
        runtimes, slurm = await asyncio.gather(self._runtimes(), self._slurm())
        site = self.site
        return {
            "runtimes": runtimes,
            "gpu": node_gpu(site.node_gpu) or "none",
            "module_system": _module_system(site),
            "slurm": slurm,
            "server_root": self.root_dir,
            "defaults": {
                "runtime": site.default_runtime,
                "binds": list(site.default_binds),
                "modules": list(site.default_modules),
                "cleanenv": site.default_cleanenv,
                "allowed_image_roots": list(site.allowed_image_roots),
            },
        }

    async def _runtimes(self) -> list[dict[str, Any]]:
        """Each runtime's executable: the site's path, else PATH after the default modules."""
        env: Mapping[str, str] = os.environ
        if self.site.default_modules:
            try:
                env = await modules.module_environment(
                    self.site.default_modules, os.environ, self.site
                )
            except ContainerKernelError:
                env = os.environ  # kernels will report the module error when they start
        out = []
        for name in RUNTIMES:
            runtime = get_runtime(name)
            try:
                executable: str | None = find_runtime(runtime, env, self.site)
            except RuntimeNotFoundError:
                executable = None
            out.append(
                {
                    "name": name,
                    "executable": executable
                    or self.site.runtime_paths.get(name, runtime.executable),
                    "found": executable is not None,
                }
            )
        return out

    async def _slurm(self) -> dict[str, Any]:
        try:
            return dict(await self.slurm_status())
        except ContainerKernelError as exc:
            return {"available": False, "message": str(exc), "partitions": []}


def _module_system(site: SiteConfig) -> str | None:
    """The module system, or None (logged) when ``c.SiteConfig.module_init`` is unusable: the
    rest of the report (runtimes, partitions) still fills the forms."""
    try:
        return modules.module_system(os.environ, site)
    except ContainerKernelError as exc:
        log.warning("No module system: %s", exc)
        return None
