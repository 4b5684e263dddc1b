"""BatchService: preview, submit, list, get and cancel batch jobs (the CLI and the server both
call it; no logic lives only in a handler or a command).

A :class:`~.request.SubmitRequest` (the REST ``SubmitRequest``, also built from CLI flags) is
validated at the edge; :meth:`BatchService.prepare` turns it into a :class:`PreparedJob` (the script
inputs and the files to write) without touching the disk; :meth:`BatchService.submit` writes
the files into the output directory (created first: Slurm does not create the ``--output``
directory and the job fails without it), runs ``sbatch --parsable`` and persists the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_core.paths import jupyter_data_dir
from traitlets import Dict, Float, Int, Unicode, default
from traitlets.config import LoggingConfigurable

from ..errors import ContainerKernelError, NotFoundError, SpecError
from ..launch import check_image
from ..paths import RootDirectory
from ..registry.kernelspecs import get_kernel
from ..site import SiteConfig, load_site_config
from ..spec import ContainerSpec
from .prepare import (
    JobSettings,
    NameTakenError,
    PreparedJob,
    prepare_job,
    read_notebook,
    write_files,
)
from .records import JobRecord, JobStore, TaskRecord, now_iso
from .request import SubmitRequest
from .resources import Resources, check_directive_name
from .script import (
    check_directive_path,
    fill_pattern,
    log_pattern,
    output_pattern,
)
from .slurm import Slurm, SubmitUnknownError
from .watcher import JobWatcher


class BatchService(LoggingConfigurable):
    """Batch jobs for one user: the settings, the job store and the one watcher."""

    #: Names a submit tries when its files' names are taken (submits of one notebook at once).
    NAME_ATTEMPTS = 5

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
    log_tail_bytes = Int(
        32 * 1024,
        config=True,
        help="Bytes read from the end of each log for a job's log tail (per array task).",
    )
    log_tail_tasks = Int(
        8,
        config=True,
        help="Array tasks whose log tails one answer shows at most (running ones first, then "
        "failed ones, then the last); the answer says how many more there are.",
    )
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
        allow_hidden: bool = True,
        site: SiteConfig | None = None,
        slurm: Slurm | None = None,
        **kwargs: Any,
    ) -> None:
        """``root_dir``: what relative paths are relative to (the server's root, the CLI's cwd);
        ``restrict_to_root``: refuse notebooks and output directories outside it (REST), and
        hidden ones unless ``allow_hidden`` (see :class:`..paths.RootDirectory`)."""
        super().__init__(**kwargs)
        #: sbatch option (dashed) -> pattern its value must match.
        self.allowed_directives = {
            check_directive_name(name): pattern for name, pattern in self.extra_directives.items()
        }
        self.root_dir = os.path.realpath(root_dir or os.getcwd())
        self.paths = RootDirectory(
            self.root_dir, confined=restrict_to_root, allow_hidden=allow_hidden
        )
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
        return SubmitRequest.from_dict(
            data, paths=self.paths, allowed_extra=self.allowed_directives
        )

    def prepare(
        self, request: SubmitRequest, *, stamp: str | None = None, attempt: int = 0
    ) -> PreparedJob:
        """Resolve paths and the kernel, render the script; nothing is written. ``attempt``
        makes the file names differ from an earlier attempt's (see :meth:`submit`)."""
        notebook = request.notebook
        output_dir = request.output_dir or os.path.dirname(notebook)
        check_directive_path("output_dir", output_dir)
        nb = read_notebook(notebook, request.notebook)
        kernel = request.kernel or nb.metadata.get("kernelspec", {}).get("name")
        if not kernel:
            raise SpecError("kernel", "the notebook names no kernel; choose a container kernel.")
        spec = self.site.effective(self.kernel_spec(kernel))
        check_image(spec)  # a missing image fails now, not minutes later on a node
        request = self._with_kernel_resources(request, kernel)
        settings = JobSettings(
            site=self.site,
            executor_python=self.executor_python,
            srun=self.slurm.executable("srun"),
            scontrol=self.slurm.executable("scontrol"),
            torchrun_port=self.torchrun_port,
        )
        return prepare_job(
            request,
            settings,
            nb=nb,
            notebook=notebook,
            output_dir=output_dir,
            kernel=kernel,
            spec=spec,
            stamp=stamp,
            attempt=attempt,
        )

    def write_files(self, prepared: PreparedJob, *, include_script: bool = True) -> None:
        """Create the output directory and write the script and the files it refers to."""
        write_files(prepared, include_script=include_script)

    def preview(self, request: SubmitRequest) -> str:
        """The sbatch script ``submit`` would write (file names carry a new stamp each time)."""
        return self.prepare(request).text

    async def submit(self, request: SubmitRequest) -> JobRecord:
        """Write the script (and parameter/script files), ``sbatch`` it, track the job."""
        t0 = time.perf_counter()
        for attempt in range(self.NAME_ATTEMPTS):
            prepared = self.prepare(request, attempt=attempt)
            try:
                self.write_files(prepared)
                break
            except NameTakenError:  # another submit of this notebook took the name
                if attempt + 1 == self.NAME_ATTEMPTS:
                    raise
        job = prepared.script
        t1 = time.perf_counter()
        try:
            job_id = await self.slurm.submit(prepared.script_path, cwd=job.output_dir)
        except SubmitUnknownError as exc:
            job_id = await self._find_submitted(prepared, exc)  # the files stay
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

    async def _find_submitted(self, prepared: PreparedJob, exc: SubmitUnknownError) -> str:
        """sbatch gave no answer: Slurm may have the job all the same. Look for it (by name and
        script path, both unique to this submit); if it cannot be found, keep the files and say
        exactly what to check, rather than lose track of a job that may run."""
        job = prepared.script
        name = job.resources.job_name or job.stem
        found, why = None, "Slurm's queue has no job from that script (yet)"
        for attempt in range(3):  # slurmctld may list it a moment after it was too busy to answer
            if attempt:
                await asyncio.sleep(1.0)
            try:
                found = await self.slurm.find_submitted(name, prepared.script_path)
            except ContainerKernelError as lookup:
                why = f"looking for it failed too: {str(lookup).rstrip('.')}"
                break
            if found is not None:
                break
        if found is not None:
            self.log.warning("sbatch gave no answer (%s); Slurm has the job as %s", exc, found)
            return found
        raise SubmitUnknownError(
            f"{str(exc).rstrip('.')}, so it is not known whether Slurm accepted the job. The job's files are kept: "
            f"its script is {prepared.script_path}, and {why}. Before submitting again, run "
            f"`squeue --me --states=all --name={name} --Format=JobID,State,Command`: a job whose "
            "command is that script is this one (it is not tracked here; its outputs go to "
            f"{job.output_dir}). If there is none once Slurm answers again, submit again."
        ) from exc

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
        """The last lines of the job's log (each started task's, for arrays).

        Bounded: at most :attr:`log_tail_bytes` read per log and :attr:`log_tail_tasks` tasks
        shown (running ones first, then failed ones, then the last); blocking file reads, so
        the server calls :meth:`detail` instead."""
        lines, size = self.log_tail_lines, self.log_tail_bytes
        if not record.tasks:
            return _tail(record.log_path, lines, size)
        started = [t for t in record.tasks if t.log_path and os.path.exists(t.log_path)]
        rank = {"RUNNING": 0, "FAILED": 1, "OUT_OF_MEMORY": 1, "TIMEOUT": 1, "NODE_FAIL": 1}
        shown = sorted(started, key=lambda t: (rank.get(t.state, 2), -t.index))
        shown = sorted(shown[: self.log_tail_tasks], key=lambda t: t.index)
        parts = [f"==> task {t.index} <==\n" + _tail(t.log_path, lines, size) for t in shown]
        if len(started) > len(shown):
            parts.append(
                f"(logs of {len(started) - len(shown)} more tasks are not shown here: "
                f"{self.paths.display(os.path.dirname(record.log_path))})"
            )
        return "\n".join(parts)

    def api(self, record: JobRecord, *, with_log: bool = False) -> dict[str, Any]:
        """The REST ``Job``; ``log_tail`` added for ``GET jobs/{id}``."""
        out = record.api(self.paths.display)
        if with_log:
            out["log_tail"] = self.log_tail(record)
        return out

    async def detail(self, job_id: str) -> dict[str, Any]:
        """``GET jobs/{id}``: the REST ``Job`` with ``log_tail``, the logs read in a worker
        thread (a log on a slow or hung file system never stalls the event loop)."""
        record = self.get(job_id)
        out = record.api(self.paths.display)
        out["log_tail"] = await asyncio.to_thread(self.log_tail, record)
        return out

    async def cancel(self, job_id: str) -> JobRecord:
        """``scancel`` a pending or running job, then read its state once (a job another
        process, e.g. the CLI, submitted since this one last looked is found too)."""
        record = self.get(job_id)
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

    def _with_kernel_resources(self, request: SubmitRequest, kernel: str) -> SubmitRequest:
        """A node kernel's job starts from the resources of its ``slurm`` block (the request's
        own fields win): the notebook runs where it ran interactively."""
        slurm = get_kernel(kernel, self.site).slurm
        if slurm is None:
            return request
        merged = {**slurm.resources.to_dict(), **request.resources.to_dict()}
        resources = Resources.from_dict(merged, allowed_extra=self.allowed_directives)
        return replace(request, resources=resources)

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


def _tail(path: str | None, lines: int, limit: int) -> str:
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            data = f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])
