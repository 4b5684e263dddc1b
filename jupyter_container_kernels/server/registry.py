"""The kernel operations the REST API offers, bound to the server's site config.

A thin holder of :mod:`..kernelspecs` and :mod:`..probe` (the same functions the CLI calls), so
a site or a test swaps it with ``c.ContainerKernelsApp.kernel_registry_class`` instead of
patching. The REST API acts for the server's user: it installs into the ``user`` scope only,
under the site's allowed image roots, and probes only images it could register.
"""

from __future__ import annotations

from typing import Any

from traitlets.config import LoggingConfigurable

from ..errors import PolicyError
from ..registry import kernelspecs
from ..registry.kernelspecs import ContainerKernel
from ..registry.probe import ProbeResult, probe_image
from ..site import SiteConfig
from ..spec import ContainerSpec


class KernelRegistry(LoggingConfigurable):
    """List, get, install, update and remove user container kernels; probe images."""

    def __init__(self, site: SiteConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.site = site

    def list(self) -> list[ContainerKernel]:
        """Every container kernel on the Jupyter path (reads files only)."""
        return kernelspecs.list_kernels(self.site)

    def get(self, name: str) -> ContainerKernel:
        return kernelspecs.get_kernel(name, self.site)

    def api(self, kernel: ContainerKernel) -> dict[str, Any]:
        """The REST ``Kernel``: :meth:`ContainerKernel.to_dict` plus ``probe_refusal``, why
        :meth:`probe` would refuse this kernel's image (None when it would not), so the panel
        never re-implements the site's policy."""
        try:
            self.site.check_image_allowed(kernel.spec.image)
            refusal = None
        except PolicyError as exc:
            refusal = str(exc)
        return {**kernel.to_dict(), "probe_refusal": refusal}

    async def install(
        self,
        spec: ContainerSpec,
        *,
        name: str | None,
        display_name: str | None,
        probe: bool,
        slurm: dict[str, Any] | None = None,
    ) -> ContainerKernel:
        """A new user kernel (policy and probe as ``jupyter container-kernels install``);
        ``slurm`` makes it a node kernel."""
        kernel = await kernelspecs.install_kernel(
            spec,
            name=name,
            display_name=display_name,
            scope="user",
            probe=probe,
            site=self.site,
            slurm=slurm,
        )
        self.log.info("Registered container kernel %s (%s)", kernel.name, spec.image)
        return kernel

    def update(
        self,
        name: str,
        display_name: str | None,
        changes: dict[str, Any] | None,
        slurm: Any = kernelspecs.UNCHANGED,
    ) -> ContainerKernel:
        return kernelspecs.update_kernel(name, display_name, changes, site=self.site, slurm=slurm)

    def remove(self, name: str) -> None:
        """Remove a kernel this user may remove (never a system or catalog-managed one)."""
        directory = kernelspecs.remove_kernel(name, site=self.site)
        self.log.info("Removed container kernel %s (%s)", name, directory)

    async def probe(self, spec: ContainerSpec) -> ProbeResult:
        """What ``spec``'s image contains (cached); only images a user may register."""
        self.site.check_image_allowed(spec.image)
        return await probe_image(spec, site=self.site)
