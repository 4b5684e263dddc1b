"""The jupyter_server extension: routes under ``{base_url}container-kernels/``, shared services.

Enabled on install by ``jupyter-config/jupyter_server_config.d/jupyter_container_kernels.json``.
Every collaborator is a ``Type`` trait, so a site (or a test) swaps one through config instead
of patching::

    # jupyter_server_config.py (or jupyter_container_kernels_config.py)
    c.ContainerKernelsApp.batch_service_class = "mysite.batch.PBSBatchService"
    c.BatchService.jobs_dir = "/scratch/$USER/.jobs"

One :class:`~..batch.service.BatchService` (and so one job watcher, one Slurm query per interval
however many browser tabs poll) serves every request; the watcher starts with the server's event
loop and stops with the server.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Type, default

from ..batch.service import BatchService
from ..nodes.provisioner import node_kernel_dir
from ..nodes.tracker import NodeKernels, sweep
from ..site import CONFIG_FILE_NAME, SiteConfig, load_site_config
from .environment import EnvironmentReport
from .handlers import ROUTES
from .pulls import PullOperations
from .registry import KernelRegistry

#: URL prefix of every route, below the server's base URL.
URL_PREFIX = "container-kernels"


class ContainerKernelsApp(ExtensionApp):
    """Container kernels and Slurm batch jobs over REST, for the JupyterLab extension."""

    name = "jupyter_container_kernels"
    description = __doc__
    load_other_extensions = True

    batch_service_class = Type(
        default_value=BatchService,
        klass=BatchService,
        config=True,
        help="Class of the batch-job service (submit, preview, list, get, cancel, and the job "
        "watcher). It is created once with root_dir (the server's root), restrict_to_root=True, allow_hidden "
        "(the contents manager's), "
        "site and parent=this app; its own settings are c.BatchService.* (jobs_dir, "
        "poll_interval, extra_directives…).",
    )
    kernel_registry_class = Type(
        default_value=KernelRegistry,
        klass=KernelRegistry,
        config=True,
        help="Class holding the kernel operations of the REST API (list, get, install into the "
        "user scope, update, remove, probe). Created once with (site, parent=this app).",
    )
    pull_operations_class = Type(
        default_value=PullOperations,
        klass=PullOperations,
        config=True,
        help="Class running image pulls as long-running operations (start, list, get, cancel; "
        "each pull in a worker thread). Created once with (site, kernel registry, root_dir, "
        "parent=this app); its own settings are c.PullOperations.* (max_workers, history).",
    )
    environment_report_class = Type(
        default_value=EnvironmentReport,
        klass=EnvironmentReport,
        config=True,
        help="Class computing GET environment (runtimes, GPU, module system, Slurm, defaults). "
        "Created with (site, slurm_status, ttl=environment_ttl).",
    )
    environment_ttl = Float(
        30.0,
        config=True,
        help="Seconds GET environment answers from its cache: runtime lookups and `sinfo` run at "
        "most once per interval, however many clients ask.",
    )

    @default("config_file_name")
    def _config_file_name_default(self) -> str:
        # The same file as the site policy: c.SiteConfig and c.ContainerKernelsApp side by side.
        return CONFIG_FILE_NAME

    # Set by initialize_settings(); typed here for the handlers.
    site: SiteConfig
    batch: BatchService
    kernels: KernelRegistry
    pulls: PullOperations
    environment: EnvironmentReport
    node_kernels: NodeKernels

    def initialize_settings(self) -> None:
        """Build the shared services from the server's config (called once, before routes)."""
        serverapp = self.serverapp
        assert serverapp is not None
        contents = serverapp.contents_manager
        root_dir = getattr(contents, "root_dir", None) or serverapp.root_dir
        self.site = load_site_config(parent=self)
        self.batch = self.batch_service_class(
            root_dir=root_dir,
            restrict_to_root=True,
            allow_hidden=bool(getattr(contents, "allow_hidden", False)),
            site=self.site,
            parent=self,
        )
        self.kernels = self.kernel_registry_class(self.site, parent=self)
        self.pulls = self.pull_operations_class(
            self.site, self.kernels, str(self.batch.paths.real_root), parent=self
        )
        self.environment = self.environment_report_class(
            self.site,
            self._slurm_status,
            ttl=self.environment_ttl,
            root_dir=str(self.batch.paths.real_root),
        )
        # Node kernels' jobs ride along in the batch watcher's rounds (one squeue for all).
        self.node_kernels = NodeKernels.instance()
        self.node_kernels.attach(self.batch.watcher)
        self._guard_shutdown(serverapp.kernel_manager)
        self.log.info(
            "Container kernels: REST API under %s%s/, job records in %s",
            serverapp.base_url,
            URL_PREFIX,
            self.batch.jobs_dir,
        )

    def initialize_handlers(self) -> None:
        self.handlers.extend((f"/{URL_PREFIX}/{path}", handler) for path, handler in ROUTES)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        """Start the shared job watcher once the server's event loop runs, and cancel the jobs
        node kernels of earlier servers on this host left behind."""
        self.batch.watcher.start()
        try:
            stale = await sweep(node_kernel_dir(self.site.node_kernel_dir), self.batch.slurm)
        except Exception:  # never keep the server from starting
            self.log.exception("Sweeping stale node kernel jobs failed")
            stale = []
        if stale:
            self.log.warning(
                "Container kernels: cancelled %d node kernel job(s) of a server that is gone: %s",
                len(stale),
                ", ".join(stale),
            )

    def _guard_shutdown(self, kernel_manager: Any) -> None:
        """Two things jupyter_client's shutdown of a kernel gets wrong for kernels that are
        still starting, or failed to:

        * with ``use_pending_kernels`` it waits for the start to end: for a node kernel in the
          queue that could be hours. Its job is cancelled first, so the start fails at once;
        * a failed start stays in ``_pending_kernels``, so ``shutdown_all`` (the server's own
          shutdown) asks jupyter_server to shut down a kernel it does not know: a 404 that
          aborts the server's clean-up, leaving the other kernels (and their jobs) running.
          Such a kernel is forgotten instead (there is nothing left of it to shut down).

        Both names are wrapped on the instance: ``shutdown_all`` calls
        ``_async_shutdown_kernel`` directly (pinned in tests/test_upstream_contracts.py)."""
        original = kernel_manager._async_shutdown_kernel
        nodes = self.node_kernels

        async def shutdown_kernel(kernel_id: str, *args: Any, **kwargs: Any) -> Any:
            await nodes.cancel_waiting(kernel_id)
            pending = getattr(kernel_manager, "_pending_kernels", {})
            task = pending.get(kernel_id)
            if kernel_id not in kernel_manager and task is not None and task.done():
                pending.pop(kernel_id, None)  # a start that failed: nothing to shut down
                return None
            return await original(kernel_id, *args, **kwargs)

        kernel_manager._async_shutdown_kernel = shutdown_kernel
        kernel_manager.shutdown_kernel = shutdown_kernel

    async def stop_extension(self) -> None:
        """Stop the job watcher, cancel running pulls and the jobs of node kernels still in
        the queue (running ones end with their kernels' shutdown, which the server does)."""
        nodes = getattr(self, "node_kernels", None)
        if nodes is not None:
            await nodes.cancel_waiting()
        pulls = getattr(self, "pulls", None)
        if pulls is not None:
            await pulls.stop()
        batch = getattr(self, "batch", None)
        if batch is not None:
            await batch.watcher.stop()

    async def _slurm_status(self) -> dict[str, Any]:
        return await self.batch.slurm_status(max_age=self.environment_ttl)
