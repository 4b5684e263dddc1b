"""Batch jobs: the same notebook, in the same container, as a Slurm job.

``resources`` (validated sbatch resources) -> ``script`` (pure sbatch rendering) ->
``service`` (prepare/submit/list/get/cancel, used by the CLI and the server) -> ``slurm``
(the Slurm commands) and ``jobs`` (records on disk + the one watcher). On the node,
``python -m jupyter_container_kernels.batch run`` (``execute``) runs the notebook.
"""

from .resources import Resources
from .service import BatchService, SubmitRequest

__all__ = ["BatchService", "Resources", "SubmitRequest"]
