"""Batch jobs: the same notebook, in the same container, as a Slurm job.

``resources`` (validated sbatch resources) -> ``script`` (pure sbatch rendering) ->
``service`` (prepare/submit/list/get/cancel, used by the CLI and the server) -> ``slurm``
(the Slurm commands) and ``jobs`` (records on disk + the one watcher). On the node,
``python -m jupyter_container_kernels.batch run`` (``execute``) runs the notebook.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BatchService", "Resources", "SubmitRequest"]


def __getattr__(name: str) -> Any:
    """Imported on first use: ``batch.resources`` alone (node kernels' settings, the registry)
    must not pull in the service and everything it imports."""
    if name == "Resources":
        from .resources import Resources

        return Resources
    if name in ("BatchService", "SubmitRequest"):
        from . import service

        return getattr(service, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
