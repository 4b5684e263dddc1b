"""Node-side entry point: ``python -m jupyter_container_kernels.batch run …``.

Kept free of server and traitlets-application imports so a job starts quickly::

    python -m jupyter_container_kernels.batch run --notebook NB.ipynb --kernel NAME \\
        --output OUT-%j.ipynb [--parameters-file F.json --task-index N]

``%j``, ``%A`` and ``%a`` in ``--output`` are Slurm's job id, array job id and task index.
Exit status: 0 completed; 1 a cell raised or exceeded --cell-timeout (error notebook written);
2 the run could not start (the kernel, the notebook, the parameters: one line on stderr, never a
traceback); 128 + N interrupted by signal N (143: scancel or the time limit's SIGTERM).
"""

from __future__ import annotations

import argparse
import sys


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m jupyter_container_kernels.batch")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute a notebook with a (container) kernel")
    run.add_argument("--notebook", required=True, help="the notebook to execute")
    run.add_argument("--kernel", required=True, help="kernelspec name of the container kernel")
    run.add_argument("--output", required=True, help="output notebook (%%j %%A %%a patterns)")
    run.add_argument("--parameters-file", help="JSON {'tasks': [parameters, ...]}")
    run.add_argument("--task-index", type=int, default=None, help="which task of the file")
    run.add_argument(
        "--cell-timeout",
        type=int,
        default=None,
        help="seconds one cell may run (default: no limit but the job's)",
    )
    run.add_argument(
        "--startup-timeout", type=int, default=300, help="seconds the kernel may take to start"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from ..errors import ContainerKernelError
    from .execute import EXIT_START_ERROR
    from .execute import main as run_main

    try:
        return run_main(args)
    except (ContainerKernelError, OSError, ValueError) as exc:
        text = " ".join(str(exc).split())  # OSError's names the file: [Errno 2] ...: 'x.ipynb'
        if not isinstance(exc, ContainerKernelError):
            text = f"{type(exc).__name__}: {text}"
        print(f"jupyter-container-kernels: {text}", file=sys.stderr)
        return EXIT_START_ERROR


if __name__ == "__main__":
    sys.exit(main())
