"""``jupyter container-kernels``: the root command; every action is a verb in :mod:`.kernels`
(install, list, show, remove, sync, probe), :mod:`.images` (pull) or :mod:`.batch` (export, submit, jobs, cancel).

The verbs are thin faces of the package's functions, sharing one base class and one error
boundary (:mod:`.base`). Subcommands load lazily: ``list`` never imports the batch machinery.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

from jupyter_core.application import JupyterApp
from traitlets.config import Application

from .. import __version__

_VERBS: dict[str, tuple[str, str]] = {
    "install": ("kernels.InstallApp", "Install an image as a Jupyter kernel."),
    "list": ("kernels.ListApp", "List the container kernels Jupyter sees."),
    "show": ("kernels.ShowApp", "Show one container kernel's settings and probe."),
    "remove": ("kernels.RemoveApp", "Remove a container kernel."),
    "sync": ("kernels.SyncApp", "Make the installed kernels match a catalog file."),
    "probe": ("kernels.ProbeApp", "Report an image's Python, ipykernel and frameworks."),
    "pull": (
        "images.PullApp",
        "Unpack a `docker save` tarball or an OCI layout into the image store.",
    ),
    "export": ("batch.ExportApp", "Print the sbatch script that runs a notebook."),
    "submit": ("batch.SubmitApp", "Submit a notebook as a Slurm job."),
    "jobs": ("batch.JobsApp", "List the batch jobs submitted from here."),
    "cancel": ("batch.CancelApp", "Cancel a batch job."),
}


class ContainerKernelsApp(JupyterApp):
    """The root command; every action is a subcommand."""

    name = "jupyter-container-kernels"
    version = __version__
    description = (
        "Container images as Jupyter kernels on HPC clusters, and notebooks as Slurm jobs."
    )
    examples = "jupyter container-kernels install IMAGE --name NAME\njupyter container-kernels list"
    subcommands: ClassVar[dict[str, Any]] = {
        verb: (f"{__name__}.{target}", help) for verb, (target, help) in _VERBS.items()
    }

    def start(self) -> None:
        super().start()  # runs the subcommand (and raises NoStart) when one was given
        verbs = ", ".join(self.subcommands)
        if self.extra_args:
            print(
                f"Error: unknown command {self.extra_args[0]!r}; the commands are: {verbs}.",
                file=sys.stderr,
            )
        else:
            print(f"Error: give a command: {verbs} (--help for more).", file=sys.stderr)
        self.exit(2)


def main(argv: list[str] | None = None) -> None:
    """Console script ``jupyter-container-kernels``."""
    # Applications are singletons; a second run in one process (tests) starts from none.
    if Application.initialized():
        type(Application.instance()).clear_instance()
    ContainerKernelsApp.clear_instance()
    ContainerKernelsApp.launch_instance(argv)


if __name__ == "__main__":
    main()
