"""Node-side entry point: ``python -m jupyter_container_kernels.batch run …``.

Kept free of server and traitlets-application imports so a job starts quickly::

    python -m jupyter_container_kernels.batch run --notebook NB.ipynb --kernel NAME \\
        --output OUT-%j.ipynb [--parameters-file F.json --task-index N]

``%j``, ``%A`` and ``%a`` in ``--output`` are Slurm's job id, array job id and task index.
Exit status: 0 completed, 1 a cell raised (error notebook written), 2 the kernel did not start.
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
    from .execute import main as run_main

    return run_main(args)


if __name__ == "__main__":
    sys.exit(main())
