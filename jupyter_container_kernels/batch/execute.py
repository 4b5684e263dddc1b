"""The notebook executor that runs on the compute node (``python -m jupyter_container_kernels.batch
run``).

It executes the notebook with nbclient and the *container kernel* named on the command line, so
the kernel starts through the container provisioner exactly as it does interactively (same
image, binds, modules, env and GPU flags). The output notebook is rewritten atomically after
every cell, so progress is visible while the job runs. On a failure it leaves an error notebook
(a banner at the top linking to the failing cell, whose error output is kept) and returns a
non-zero status. ``metadata.container_kernels.provenance`` records what ran where.

Slurm stops a job (``scancel``, the time limit) with SIGTERM, and SIGKILL ``KillWait`` seconds
later. The ``run`` entry point turns SIGTERM and SIGINT into cancelling the run, so the kernel is
shut down and the output notebook says the job was interrupted (``status: "interrupted"``).
"""

from __future__ import annotations

import asyncio
import atexit
import datetime as _dt
import json
import os
import signal
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat
from jupyter_core.utils import ensure_async
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError
from traitlets.config import Config

from .. import __version__
from ..errors import ContainerKernelError, SpecError
from .parameters import check_parameters, inject
from .provenance import container_provenance, slurm_provenance
from .script import fill_pattern

#: Exit statuses of :func:`execute_notebook` (and 128 + the signal number when interrupted).
EXIT_OK, EXIT_CELL_ERROR, EXIT_START_ERROR = 0, 1, 2
ERROR_ANCHOR = "container-kernels-error-cell"
BANNER_TAG = "container-kernels-error"


def output_path_for(pattern: str, env: Mapping[str, str] | None = None) -> str:
    """``pattern`` with Slurm's ``%j``, ``%A``, ``%a`` taken from the job's environment."""
    env = os.environ if env is None else env
    job = env.get("SLURM_JOB_ID", "local")
    out = fill_pattern(pattern.replace("%A", env.get("SLURM_ARRAY_JOB_ID", job)), job)
    return out.replace("%a", env.get("SLURM_ARRAY_TASK_ID", "0"))


def load_parameters(path: str | None, task_index: int | None) -> dict[str, Any]:
    """Parameters of this task from the JSON file the submit step wrote.

    The file holds ``{"tasks": [{...}, ...]}``: one parameter set per array task.
    """
    if not path:
        return {}
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    tasks = data.get("tasks") if isinstance(data, dict) else data
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise SpecError(
            "parameters_file",
            f"{path} does not hold {{'tasks': [{{parameters}}, ...]}} (a list of objects), as "
            "`submit` writes it; submit the notebook again rather than editing that file.",
        )
    index = task_index or 0
    if not 0 <= index < len(tasks):
        raise SpecError("task_index", f"{index} is outside the {len(tasks)} tasks of {path}.")
    return check_parameters(tasks[index])


class _Writer:
    """Writes the output notebook atomically (temp file + rename in the same directory)."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, nb: nbformat.NotebookNode) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            nbformat.write(nb, f)
        os.replace(tmp, self.path)


class _Stop:
    """SIGTERM/SIGINT cancel the run (the first one; later ones are only noted).

    nbclient installs its own handlers for both while it starts the kernel (they only shut the
    kernel down, the run then ends as "the kernel died"); :class:`_Client` puts these back on
    top at once, and :func:`execute_notebook` again after nbclient removed its own.
    """

    def __init__(self, task: asyncio.Task[Any], client: NotebookClient) -> None:
        self.task, self.client = task, client
        self.signum: int | None = None

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum)

    def remove(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)

    def _on_signal(self, signum: int) -> None:
        if self.signum is None:
            self.signum = signum
            self.client.shutdown_kernel = "immediate"  # Slurm sends SIGKILL soon
            self.task.cancel()


class _Client(NotebookClient):
    """A NotebookClient whose kernel start puts :class:`_Stop`'s handlers over nbclient's.

    Relies on nbclient (0.9 to 0.11) installing its SIGINT/SIGTERM handlers in
    ``async_setup_kernel`` *before* it calls ``async_start_new_kernel``, and registering
    ``_cleanup_kernel`` with :mod:`atexit`; tests/test_upstream_contracts.py fails loudly
    when either changes.
    """

    stop: _Stop | None = None

    async def async_start_new_kernel(self, **kwargs: Any) -> None:
        if self.stop is not None:  # nbclient has just installed its handlers
            self.stop.install()
        await super().async_start_new_kernel(**kwargs)


async def _shutdown_kernel(client: NotebookClient) -> None:
    """Stop the kernel and free its resources if the run left it (cancelled while starting,
    before nbclient's own clean-up applies)."""
    km = client.km
    if km is None:
        return
    # nbclient's atexit hook, for a kernel it never got to run (see _Client's docstring)
    atexit.unregister(client._cleanup_kernel)
    try:
        if km.has_kernel and await ensure_async(km.is_alive()):
            await ensure_async(km.shutdown_kernel(now=True))
        await ensure_async(km.cleanup_resources())
    except Exception as exc:
        print(f"jupyter-container-kernels: stopping the kernel: {exc}", file=sys.stderr)
    if client.kc is not None:
        client.kc.stop_channels()
        client.kc = None
    client.km = None


async def execute_notebook(
    notebook: str,
    kernel: str,
    output: str,
    *,
    parameters: Mapping[str, Any] | None = None,
    cell_timeout: int | None = None,
    startup_timeout: int = 120,
    env: Mapping[str, str] | None = None,
    handle_signals: bool = False,
) -> int:
    """Run ``notebook`` with the kernel ``kernel``, writing ``output`` as it goes.

    Returns :data:`EXIT_OK`, :data:`EXIT_CELL_ERROR` (a cell raised or exceeded
    ``cell_timeout``) or :data:`EXIT_START_ERROR` (the kernel, or the notebook, could not be
    started). With ``handle_signals`` (the ``run`` command, in the main thread), SIGTERM or
    SIGINT stop the run: the kernel is shut down, the output notebook says the job was
    interrupted, and the status is 128 + the signal number.
    """
    env = os.environ if env is None else env
    try:
        nb = nbformat.read(notebook, as_version=4)
    except OSError:
        raise
    except Exception as exc:  # nbformat: ValidationError, or KeyError/TypeError on odd JSON
        raise SpecError(
            "notebook",
            f"{notebook} is not a valid notebook ({type(exc).__name__}: {exc}); open and save "
            "it in JupyterLab, then submit it again.",
        ) from exc
    nb = inject(nb, parameters or {})
    writer = _Writer(output)
    provenance: dict[str, Any] = {
        "kernel": kernel,
        "notebook": os.path.abspath(notebook),
        "parameters": dict(parameters or {}),
        "host": socket.gethostname(),
        "slurm": slurm_provenance(env),
        "started": _now(),
        "ended": None,
        "status": "running",
        "executor": f"jupyter-container-kernels {__version__}, python {sys.version.split()[0]}",
    }
    nb.metadata.setdefault("container_kernels", {})["provenance"] = provenance
    try:
        provenance["container"] = container_provenance(kernel)
    except Exception as exc:
        provenance["container"] = {"error": str(exc)}
    writer.write(nb)

    code_cells = sum(1 for c in nb.cells if c.cell_type == "code")
    failing: list[int] = []  # the cell that raised
    running: list[int] = []  # the cell executing when the kernel died

    def cell_done(cell: Any, cell_index: int, execute_reply: Any) -> None:
        writer.write(nb)  # progress is visible while the job runs
        done = sum(1 for c in nb.cells[: cell_index + 1] if c.cell_type == "code")
        print(
            f"[jupyter-container-kernels] {_now()} cell {cell_index + 1} done "
            f"({done}/{code_cells} code cells)",
            flush=True,
        )

    client = _Client(
        nb,
        # This *is* the job: a node kernel's 'slurm' block must not queue another one.
        config=Config({"SiteConfig": {"node_kernels": "never"}}),
        kernel_name=kernel,
        timeout=cell_timeout,
        startup_timeout=startup_timeout,
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(notebook))}},
        on_cell_executed=cell_done,
        on_cell_error=lambda cell, cell_index, execute_reply: failing.append(cell_index),
        on_cell_execute=lambda cell, cell_index: running.append(cell_index),
    )
    stop = None
    if handle_signals:
        stop = client.stop = _Stop(asyncio.current_task(), client)  # type: ignore[arg-type]
        stop.install()
    status, error = EXIT_START_ERROR, None
    try:
        await client.async_execute()
        status = EXIT_OK
    except CellExecutionError as exc:
        status, index = EXIT_CELL_ERROR, failing[-1] if failing else None
        error = {"cell_index": index, "ename": exc.ename, "evalue": exc.evalue}
    except CellTimeoutError:
        status, index = EXIT_CELL_ERROR, running[-1] if running else None
        where = f"cell {index + 1}" if index is not None else "a cell"
        error = {
            "cell_index": index,
            "ename": "CellTimeoutError",
            "evalue": f"{where} exceeded the cell timeout of {cell_timeout} s",
        }
    except (ContainerKernelError, RuntimeError, TimeoutError, OSError) as exc:
        status = EXIT_CELL_ERROR if running else EXIT_START_ERROR
        index = running[-1] if running else None
        what = "the kernel stopped" if running else f"the kernel {kernel!r} did not start"
        error = {"cell_index": index, "ename": type(exc).__name__, "evalue": f"{what}: {exc}"}
    except asyncio.CancelledError:
        if stop is None or stop.signum is None:
            raise
    finally:
        interrupted = stop is not None and stop.signum is not None
        if stop is not None and stop.signum is not None:  # whatever nbclient made of it
            stop.install()  # nbclient removed the handlers on its way out
            await _shutdown_kernel(client)
            status = 128 + stop.signum
            error = {
                "cell_index": running[-1] if running else None,
                "ename": "Interrupted",
                "evalue": f"the job was cancelled or hit its time limit "
                f"({signal.Signals(stop.signum).name})",
            }
        if status != EXIT_OK and error is None:  # SIGTERM/cancel: scancel or the time limit
            index = running[-1] if running else None
            error = {
                "cell_index": index,
                "ename": "Interrupted",
                "evalue": "the job was cancelled or hit its time limit",
            }
        if error is not None:
            message = f"{error['ename']}: {error['evalue']}"
            _mark_error(nb, error["cell_index"], message, interrupted=interrupted)
            provenance["error"] = error
        provenance["ended"] = _now()
        provenance["status"] = (
            "completed" if status == EXIT_OK else "interrupted" if interrupted else "failed"
        )
        writer.write(nb)
        if stop is not None:
            stop.remove()
    if error is not None:
        print(
            f"jupyter-container-kernels: {error['ename']}: {error['evalue']}\n"
            f"Error notebook: {output}",
            file=sys.stderr,
        )
    return status


def _mark_error(
    nb: nbformat.NotebookNode, index: int | None, message: str, *, interrupted: bool = False
) -> None:
    """Papermill-style: a banner at the top and an anchor right before the failing cell."""
    text = _escape(message.strip().splitlines()[0] if message.strip() else "error")
    if index is not None:
        stopped = "was interrupted" if interrupted else "stopped"
        nb.cells.insert(
            index,
            nbformat.v4.new_markdown_cell(
                f'<span id="{ERROR_ANCHOR}" style="color:red; font-size:1.5em">'
                f"The batch run {stopped} at the next cell"
                f"{'' if interrupted else ' with an exception'}.</span>",
                metadata={"tags": [BANNER_TAG]},
            ),
        )
        where = f' at <a href="#{ERROR_ANCHOR}">cell {index + 1}</a>'
    else:
        where = ""
    what = "The batch job was interrupted" if interrupted else "An exception was raised"
    nb.cells.insert(
        0,
        nbformat.v4.new_markdown_cell(
            f'<span style="color:red; font-size:2em">{what}{where}: {text}</span>',
            metadata={"tags": [BANNER_TAG]},
        ),
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def main(args: Any) -> int:
    """Entry point of ``run`` (arguments parsed by ``__main__``); SIGTERM/SIGINT interrupt the
    run cleanly (see :func:`execute_notebook`)."""
    parameters = load_parameters(args.parameters_file, args.task_index)
    output = output_path_for(args.output)
    return asyncio.run(
        execute_notebook(
            args.notebook,
            args.kernel,
            output,
            parameters=parameters,
            cell_timeout=args.cell_timeout,
            startup_timeout=args.startup_timeout,
            handle_signals=True,
        )
    )
