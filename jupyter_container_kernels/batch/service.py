"""BatchService: preview, submit, list, get and cancel batch jobs (the CLI and the server both
call it; no logic lives only in a handler or a command).

A :class:`~.request.SubmitRequest` (the REST ``SubmitRequest``, also built from CLI flags) is
validated at the edge; :meth:`BatchService.prepare` turns it into a :class:`PreparedJob` (the script
inputs and the files to write) without touching the disk; :meth:`BatchService.submit` writes
the files into the output directory (created first: Slurm does not create the ``--output``
directory and the job fails without it), runs ``sbatch --parsable`` and persists the record.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import secrets
import sys
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_core.paths import jupyter_data_dir
from traitlets import Dict, Float, Int, Unicode, default
from traitlets.config import LoggingConfigurable

from ..errors import ContainerKernelError, NotFoundError, SpecError
from ..kernelspecs import get_kernel
from ..launch import check_image
from ..runtimes import get_runtime
from ..site import SiteConfig, load_site_config
from ..spec import Bind, ContainerSpec
from .jobs import JobRecord, JobStore, JobWatcher, TaskRecord, now_iso
from .parameters import expand, inject
from .request import SubmitRequest
from .resources import check_directive_name
from .script import (
    JobScript,
    check_directive_path,
    fill_pattern,
    log_pattern,
    notebook_to_python,
    output_pattern,
    render,
    safe_stem,
)
from .slurm import Slurm


@dataclass(frozen=True)
class PreparedJob:
    """What :meth:`BatchService.submit` writes and submits."""

    script: JobScript
    script_path: str
    files: dict[str, str]
    tasks: list[dict[str, Any]]
    text: str


class BatchService(LoggingConfigurable):
    """Batch jobs for one user: the settings, the job store and the one watcher."""

    jobs_dir = Unicode(
        config=True,
        help="Directory of the job records (one JSON file per job). Default: "
        "{jupyter_data_dir}/container-kernels/jobs.",
    )
    executor_python = Unicode(
        config=True,
        help="Python on the compute nodes that has this package, used by notebook-mode jobs to "
        "run `python -m jupyter_container_kernels.batch run`. Default: this server's "
        "interpreter (right when the software tree is shared with the nodes).",
    )
    extra_directives = Dict(
        value_trait=Unicode(),
        config=True,
        help="sbatch long options users may add beyond the standard resources, mapped to the "
        "regular expression their value must match whole, e.g. {'constraint': "
        "'[A-Za-z0-9_&|]+'}; an empty pattern allows the option as a flag ({'exclusive': ''}).",
    )
    poll_interval = Float(
        2.0, config=True, help="Seconds between watcher rounds while jobs change (the minimum)."
    )
    max_poll_interval = Float(
        30.0,
        config=True,
        help="Longest wait between watcher rounds: after rounds that change nothing the interval "
        "grows by half up to this.",
    )
    log_tail_lines = Int(40, config=True, help="Lines of the job log returned with a job.")
    torchrun_port = Int(29500, config=True, help="Rendezvous port of the torchrun template.")

    @default("jobs_dir")
    def _jobs_dir_default(self) -> str:
        return os.path.join(jupyter_data_dir(), "container-kernels", "jobs")

    @default("executor_python")
    def _executor_python_default(self) -> str:
        return sys.executable

    def __init__(
        self,
        *,
        root_dir: str | None = None,
        restrict_to_root: bool = False,
        site: SiteConfig | None = None,
        slurm: Slurm | None = None,
        **kwargs: Any,
    ) -> None:
        """``root_dir``: what relative paths are relative to (the server's root, the CLI's cwd);
        ``restrict_to_root``: refuse notebooks and output directories outside it (REST)."""
        super().__init__(**kwargs)
        #: sbatch option (dashed) -> pattern its value must match.
        self.allowed_directives = {
            check_directive_name(name): pattern for name, pattern in self.extra_directives.items()
        }
        self.root_dir = os.path.realpath(root_dir or os.getcwd())
        self.restrict_to_root = restrict_to_root
        self.site = site or load_site_config(self.parent)
        self.slurm = slurm or Slurm(parent=self)
        self.store = JobStore(self.jobs_dir)
        self.watcher = JobWatcher(
            self.store, self.slurm, interval=self.poll_interval, max_interval=self.max_poll_interval
        )
        #: (seconds in submit excluding sbatch, seconds in sbatch) of recent submits.
        self.timings: deque[tuple[float, float]] = deque(maxlen=1000)
        self._slurm_status: tuple[float, dict[str, Any]] | None = None

    # -- requests ---------------------------------------------------------------------------

    def request(self, data: Mapping[str, Any]) -> SubmitRequest:
        """Validate a REST body / CLI dict into a :class:`SubmitRequest`."""
        return SubmitRequest.from_dict(data, allowed_extra=self.allowed_directives)

    def prepare(self, request: SubmitRequest, *, stamp: str | None = None) -> PreparedJob:
        """Resolve paths and the kernel, render the script; nothing is written."""
        notebook = self._path(request.notebook, "notebook")
        output_dir = (
            self._path(request.output_dir, "output_dir")
            if request.output_dir
            else (os.path.dirname(notebook))
        )
        check_directive_path("output_dir", output_dir)
        if not os.path.isfile(notebook):
            raise NotFoundError(f"The notebook {request.notebook!r} does not exist ({notebook}).")
        try:
            nb = nbformat.read(notebook, as_version=4)
        except (OSError, ValueError) as exc:
            raise SpecError(
                "notebook", f"{request.notebook!r} is not a readable notebook: {exc}"
            ) from exc
        kernel = request.kernel or nb.metadata.get("kernelspec", {}).get("name")
        if not kernel:
            raise SpecError("kernel", "the notebook names no kernel; choose a container kernel.")
        spec = self.site.effective(self.kernel_spec(kernel))
        check_image(spec)  # a missing image fails now, not minutes later on a node
        stem = safe_stem(Path(notebook).stem)
        stamp = stamp or _stamp()
        base = os.path.join(output_dir, f"{stem}-{stamp}")
        tasks = expand(request.parameters, request.sweep)
        array_size = len(tasks) if request.sweep else None
        resources = request.resources
        if resources.job_name is None:
            resources = replace(resources, job_name=_job_name(stem))

        files: dict[str, str] = {}
        parameters_file = None
        python_scripts: tuple[str, ...] = ()
        extra_binds: tuple[Bind, ...] = ()
        module_init = runtime_exe = None
        if request.mode == "notebook":
            if request.parameters or request.sweep:
                parameters_file = f"{base}.params.json"
                files[parameters_file] = json.dumps({"tasks": tasks}, indent=1) + "\n"
        else:
            names = (
                [f"{base}.py"]
                if array_size is None
                else [f"{base}.task{i}.py" for i in range(array_size)]
            )
            for name, params in zip(names, tasks, strict=True):
                files[name] = notebook_to_python(inject(nb, params), source=notebook)
            python_scripts = tuple(names)
            extra_binds = _visible(spec, output_dir)
            runtime_exe = self.site.runtime_paths.get(spec.runtime) or ""
            if spec.modules:
                from ..modules import find_module_init

                module_init = find_module_init(site=self.site)
        job = JobScript(
            spec=spec,
            kernel=kernel,
            notebook=notebook,
            output_dir=output_dir,
            stem=stem,
            resources=resources,
            mode=request.mode,
            array_size=array_size,
            parameters_file=parameters_file,
            python_scripts=python_scripts,
            template=request.template,
            executor_python=self.executor_python,
            runtime_executable=runtime_exe or "",
            srun=self.slurm.executable("srun"),
            scontrol=self.slurm.executable("scontrol"),
            module_init=module_init,
            gpu=None if self.site.node_gpu == "auto" else self.site.node_gpu,
            extra_binds=extra_binds,
            passthrough=tuple(self.site.env_passthrough),
            torchrun_port=self.torchrun_port,
        )
        text = render(job)
        script_path = f"{base}.sbatch"
        return PreparedJob(job, script_path, {**files, script_path: text}, tasks, text)

    def write_files(self, prepared: PreparedJob, *, include_script: bool = True) -> None:
        """Create the output directory and write the script and the files it refers to."""
        directory = prepared.script.output_dir
        try:
            os.makedirs(directory, exist_ok=True)
            for path, text in prepared.files.items():
                if include_script or path != prepared.script_path:
                    with open(path, "w", encoding="utf-8") as f:
                        f.write(text)
        except OSError as exc:
            raise SpecError(
                "output_dir",
                f"cannot write into {directory!r}: {exc.strerror}; choose a "
                "directory you can write to.",
            ) from exc

    def preview(self, request: SubmitRequest) -> str:
        """The sbatch script ``submit`` would write (file names carry a new stamp each time)."""
        return self.prepare(request).text

    async def submit(self, request: SubmitRequest) -> JobRecord:
        """Write the script (and parameter/script files), ``sbatch`` it, track the job."""
        t0 = time.perf_counter()
        prepared = self.prepare(request)
        job = prepared.script
        self.write_files(prepared)
        t1 = time.perf_counter()
        try:
            job_id = await self.slurm.submit(prepared.script_path, cwd=job.output_dir)
        except BaseException:
            for path in prepared.files:  # nothing left behind for a job that does not exist
                with contextlib.suppress(OSError):
                    os.unlink(path)
            raise
        t2 = time.perf_counter()
        record = self._record(job_id, prepared)
        self.store.save(record)
        self.watcher.wake()
        self.timings.append((time.perf_counter() - t2 + (t1 - t0), t2 - t1))
        self.log.debug("Submitted %s as Slurm job %s", job.notebook, job_id)
        return record

    def _record(self, job_id: str, prepared: PreparedJob) -> JobRecord:
        job = prepared.script
        array = job.array_size is not None
        logs = log_pattern(job.output_dir, job.stem, array)
        outs = output_pattern(job.output_dir, job.stem, array)
        notebook_mode = job.mode == "notebook"
        tasks = [
            TaskRecord(
                index=i,
                log_path=fill_pattern(logs, job_id, i),
                output_notebook=fill_pattern(outs, job_id, i) if notebook_mode else None,
            )
            for i in range(job.array_size or 0)
        ]
        outputs = [t.output_notebook or "" for t in tasks] or [fill_pattern(outs, job_id)]
        return JobRecord(
            id=job_id,
            name=job.resources.job_name or job.stem,
            notebook=job.notebook,
            kernel=job.kernel,
            mode=job.mode,
            output_dir=job.output_dir,
            script_path=prepared.script_path,
            log_path=(tasks[0].log_path or "") if tasks else fill_pattern(logs, job_id),
            output_notebooks=outputs if notebook_mode else [],
            submitted=now_iso(),
            array_size=job.array_size,
            tasks=tasks,
            template=job.template,
            parameters=prepared.tasks if (job.array_size or prepared.tasks != [{}]) else [],
        )

    # -- reading and cancelling ---------------------------------------------------------------

    def list(self) -> list[JobRecord]:
        """Every tracked job, newest first (cached state; no scheduler query)."""
        self._pick_up_new_records()
        return self.store.list()

    def get(self, job_id: str) -> JobRecord:
        self._pick_up_new_records()
        return self.store.get(job_id)

    def _pick_up_new_records(self) -> None:
        """Records another process (the CLI) wrote appear at once, and the watcher tracks them
        from its next round; a directory listing, no scheduler query."""
        before = len(self.store.active())
        self.store.reload()
        if len(self.store.active()) > before:
            self.watcher.wake()

    def log_tail(self, record: JobRecord) -> str:
        """The last lines of the job's log (each started task's, for arrays)."""
        if not record.tasks:
            return _tail(record.log_path, self.log_tail_lines)
        parts = []
        for task in record.tasks:
            if task.log_path and os.path.exists(task.log_path):
                parts.append(
                    f"==> task {task.index} <==\n" + _tail(task.log_path, self.log_tail_lines)
                )
        return "\n".join(parts)

    def api(self, record: JobRecord, *, with_log: bool = False) -> dict[str, Any]:
        """The REST ``Job``; ``log_tail`` added for ``GET jobs/{id}``."""
        out = record.api(self.root_dir)
        if with_log:
            out["log_tail"] = self.log_tail(record)
        return out

    async def cancel(self, job_id: str) -> JobRecord:
        """``scancel`` a pending or running job, then read its state once."""
        record = self.store.get(job_id)
        if record.terminal:
            return record
        await self.slurm.cancel(job_id)  # False: it ended meanwhile; the poll below says how
        try:
            await self.watcher.poll_once()
        except ContainerKernelError as exc:  # cancelled all the same; the watcher will see
            self.log.warning("After cancelling job %s: %s", job_id, exc)
        self.watcher.wake()
        return self.store.get(job_id)

    async def refresh(self) -> None:
        """One watcher round now (the CLI's `jobs`; the server relies on the watcher loop)."""
        await self.watcher.poll_once()

    async def slurm_status(self, max_age: float = 30.0) -> dict[str, Any]:
        """``{available, message, partitions}`` for the environment endpoint (cached)."""
        now = time.monotonic()
        if self._slurm_status and now - self._slurm_status[0] < max_age:
            return self._slurm_status[1]
        try:
            status = {
                "available": True,
                "message": None,
                "partitions": await self.slurm.partitions(),
            }
        except ContainerKernelError as exc:
            status = {"available": False, "message": str(exc), "partitions": []}
        self._slurm_status = (now, status)
        return status

    # -- helpers ------------------------------------------------------------------------------

    def kernel_spec(self, name: str) -> ContainerSpec:
        """The container spec of kernel ``name`` with this site's defaults, as interactive
        kernels get it (:func:`..kernelspecs.get_kernel`; not yet :meth:`SiteConfig.effective`).

        :class:`NotFoundError` naming the kernel if there is none; :class:`SpecError` if it is
        not a container kernel or its kernel.json is broken.
        """
        try:
            return get_kernel(name, self.site).spec
        except NotFoundError:
            if name.lower() not in KernelSpecManager().find_kernel_specs():
                raise
        raise SpecError(
            "kernel",
            f"{name!r} is not a container kernel, so a batch job cannot run it in a container; "
            "choose a container kernel (`jupyter container-kernels list`).",
        )

    def _path(self, path: str, field_name: str) -> str:
        full = os.path.realpath(os.path.join(self.root_dir, os.path.expanduser(path)))
        if self.restrict_to_root and not Path(full).is_relative_to(self.root_dir):
            raise SpecError(field_name, f"{path!r} is outside the server's root directory.")
        return full


def _visible(spec: ContainerSpec, directory: str) -> tuple[Bind, ...]:
    """Binds that make ``directory`` (the converted scripts) visible at the same path inside."""
    runtime = get_runtime(spec.runtime)
    inside = [b.src for b in spec.binds if b.src == b.dst] + list(runtime.always_shared)
    if any(Path(directory).is_relative_to(p) for p in inside):
        return ()
    if not runtime.creates_bind_destinations:
        raise SpecError(
            "output_dir",
            f"{directory} is not visible inside the {runtime.name} container, which binds only "
            f"onto directories that exist in the image; choose an output directory under "
            f"{', '.join(inside) or '/tmp'} or give the kernel a bind for it.",
        )
    try:
        return (Bind.parse(directory, "output_dir"),)
    except SpecError:
        raise SpecError(
            "output_dir",
            f"{directory!r} cannot be bound into the container (':' or ',' in the "
            "path); choose another output directory.",
        ) from None


def _job_name(stem: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.+\-]", "_", stem).lstrip(".+-") or "notebook"
    return name[:128]


def _stamp() -> str:
    return _dt.datetime.now().strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(2)


def _tail(path: str | None, lines: int) -> str:
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])
