"""What the server knows about its node kernels' jobs, for the REST API and the start loop.

One :class:`NodeKernels` per process. Its jobs are followed by the batch jobs' watcher
(:class:`~..batch.watcher.JobWatcher`: one ``squeue`` per round for batch jobs and node kernels
together) once the server extension attaches it; without a server (a kernel started by nbclient
or a script) it polls by itself. A failing ``squeue`` makes a job's state *unknown*, never ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..batch.slurm import JobState, Slurm
from ..batch.states import TERMINAL
from ..errors import ContainerKernelError, NotFoundError
from .agent import COMMENT_PREFIX

if TYPE_CHECKING:
    from ..batch.watcher import JobWatcher

log = logging.getLogger(__name__)

#: States in which a job no longer holds its allocation: Slurm's terminal ones (the batch
#: jobs' list) and ENDING (its agent was signalled before Slurm said how it ends).
ENDED_STATES = TERMINAL | {"ENDING"}
_SLURM_TIME = re.compile(r"(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)\Z")


@dataclass
class NodeJob:
    """One node kernel's job, as the server last saw it."""

    kernel_id: str
    kernel_name: str
    display_name: str
    directory: str
    job_id: str | None = None
    #: Slurm's state (PENDING, RUNNING, TIMEOUT…), or SUBMITTING before sbatch answered.
    state: str = "SUBMITTING"
    reason: str | None = None
    node: str | None = None
    #: ``IP:PORT`` of the node agent once it published it.
    agent: str | None = None
    agent_error: str | None = None
    submitted: str | None = None
    start_estimate: str | None = None
    started: str | None = None
    time_limit: str | None = None
    #: Seconds left when :attr:`observed` (monotonic); None: no limit or not running.
    time_left: float | None = None
    observed: float = 0.0
    #: Why the job ended, or why the start failed (shown to the user).
    message: str | None = None
    #: True while squeue fails: the state above is the last one known.
    unknown: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def live(self) -> bool:
        return self.state not in ENDED_STATES

    def seconds_left(self) -> float | None:
        if self.time_left is None:
            return None
        return max(0.0, self.time_left - (time.monotonic() - self.observed))

    def to_dict(self) -> dict[str, Any]:
        left = self.seconds_left()
        return {
            "kernel_id": self.kernel_id,
            "kernel_name": self.kernel_name,
            "display_name": self.display_name,
            "job_id": self.job_id,
            "state": self.state,
            "reason": self.reason,
            "node": self.node,
            "address": self.agent.rsplit(":", 1)[0] if self.agent else None,
            "submitted": self.submitted,
            "start_estimate": self.start_estimate if self.state == "PENDING" else None,
            "started": self.started,
            "time_limit": self.time_limit,
            "seconds_left": None if left is None else round(left),
            "message": self.message,
            "state_unknown": self.unknown,
        }

    def apply(self, state: JobState) -> None:
        """Take Slurm's answer about this job."""
        self.unknown = False
        if not self.live:
            return  # ended is final (a late answer must not revive it)
        self.state, self.reason, self.node = state.state, state.reason, state.nodes
        self.submitted = state.submitted or self.submitted
        if state.state == "PENDING":
            self.start_estimate = state.started
        else:
            self.started = state.started or self.started
        self.time_limit = state.time_limit
        self.time_left = parse_seconds(state.time_left) if state.state == "RUNNING" else None
        self.observed = time.monotonic()
        comment = state.comment or ""
        if comment.startswith(COMMENT_PREFIX + "addr="):
            self.agent = comment[len(COMMENT_PREFIX) + 5 :]
        elif comment.startswith(COMMENT_PREFIX + "error="):
            self.agent_error = comment[len(COMMENT_PREFIX) + 6 :]
        self.changed.set()


def parse_seconds(text: str | None) -> float | None:
    """Slurm's ``[D-][H:]M:S`` as seconds; None for UNLIMITED/INVALID."""
    match = _SLURM_TIME.match(text or "")
    if not match:
        return None
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)


class NodeKernels:
    """The node kernels of this process (see module doc)."""

    _instance: ClassVar[NodeKernels | None] = None
    #: Seconds between rounds of the tracker's own loop (no server watcher attached).
    interval = 2.0

    def __init__(self) -> None:
        self.jobs: dict[str, NodeJob] = {}
        self.slurm: Slurm | None = None
        self.watcher: JobWatcher | None = None
        self.last_error: str | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def instance(cls) -> NodeKernels:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    # -- following ---------------------------------------------------------------------------

    def attach(self, watcher: JobWatcher) -> None:
        """Let the server's job watcher follow these jobs in its rounds."""
        self.watcher = watcher
        if self not in watcher.followers:
            watcher.followers.append(self)

    def follow(self, job: NodeJob, slurm: Slurm) -> None:
        self.jobs[job.kernel_id] = job
        self.slurm = self.slurm or slurm
        if self.watcher is not None:
            self.watcher.wake()
        elif self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._own_loop())

    def forget(self, kernel_id: str) -> None:
        self.jobs.pop(kernel_id, None)
        if self._task is not None and not any(j.live for j in self.jobs.values()):
            self._task.cancel()
            self._task = None

    def job_ids(self) -> list[str]:
        """Ids the watcher should ask about (jobs not known to have ended)."""
        return [j.job_id for j in self.jobs.values() if j.job_id and j.live]

    def wants_fast_rounds(self) -> bool:
        """True while a job waits or starts: the user is looking at the queue."""
        return any(j.live and j.state != "RUNNING" for j in self.jobs.values())

    def update(self, states: dict[str, list[JobState]]) -> None:
        """One round's answer (from the watcher or the own loop)."""
        self.last_error = None
        for job in list(self.jobs.values()):
            if states.get(job.job_id):
                job.apply(states[job.job_id][0])

    def unavailable(self, error: str) -> None:
        """squeue failed: every state is unknown until it answers again."""
        self.last_error = error
        for job in self.jobs.values():
            if job.live:
                job.unknown = True

    async def refresh(self, job: NodeJob) -> None:
        """Ask Slurm about ``job`` now (a start that needs to know at once)."""
        if job.job_id is None or self.slurm is None:
            return
        try:
            states = await self.slurm.queue([job.job_id])
        except ContainerKernelError as exc:
            self.unavailable(str(exc))
            return
        if states.get(job.job_id):
            job.apply(states[job.job_id][0])

    async def _own_loop(self) -> None:
        while self.watcher is None and any(j.live for j in self.jobs.values()):
            ids = self.job_ids()
            if ids and self.slurm is not None:
                try:
                    self.update(await self.slurm.queue(ids))
                except ContainerKernelError as exc:
                    self.unavailable(str(exc))
                except Exception:  # keep following
                    log.exception("Node kernel poll failed")
            await asyncio.sleep(self.interval)

    # -- REST --------------------------------------------------------------------------------

    def get(self, kernel_id: str) -> NodeJob:
        try:
            return self.jobs[kernel_id]
        except KeyError:
            raise NotFoundError(f"No node kernel {kernel_id!r} on this server.") from None

    async def cancel_waiting(self, kernel_id: str | None = None) -> None:
        """Cancel the job of ``kernel_id`` (every kernel when None) if its kernel is not up yet
        (queued, or its agent not heard from): a server shutting down, or a shutdown during
        the wait. Failures are logged; running kernels end through their own shutdown."""
        ids = [kernel_id] if kernel_id is not None else list(self.jobs)
        for kid in ids:
            job = self.jobs.get(kid)
            if job is None or not job.live or job.agent is not None:
                continue
            try:
                await self.cancel(kid)
            except Exception:
                log.exception("Cancelling node kernel %s's job failed", kid)

    async def cancel(self, kernel_id: str) -> NodeJob:
        """Cancel the kernel's job (waiting or running). A start waiting for it fails with
        "cancelled"; a running kernel is reported dead."""
        job = self.get(kernel_id)
        if job.job_id and job.live and self.slurm is not None:
            await self.slurm.cancel(job.job_id)
        if job.live:
            job.state = "CANCELLED"
            job.message = (
                "Cancelled from JupyterLab while waiting in the queue."
                if job.started is None
                else "Cancelled from JupyterLab."
            )
            job.changed.set()
        return job


async def sweep(directory: str, slurm: Slurm) -> list[str]:
    """Cancel the jobs of node kernels whose server (a process on this host) is gone, and
    remove their directories; the ids of the jobs cancelled. Kernels of servers still running
    (or on other hosts: their leases end them) are left alone."""
    from .jobfiles import process_identity, process_start

    here = process_identity()["host"]
    cancelled: list[str] = []
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return cancelled
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        try:
            owner = json.loads(Path(entry.path, "owner.json").read_text())
        except (OSError, ValueError):
            continue
        alive = process_start(int(owner.get("pid", 0))) == owner.get("started")
        if owner.get("host") != here or (alive and owner.get("started") is not None):
            continue
        try:
            job_id = Path(entry.path, "job.id").read_text().strip()
        except OSError:
            job_id = ""
        if job_id:
            try:
                if await slurm.cancel(job_id):
                    cancelled.append(job_id)
            except ContainerKernelError as exc:
                log.warning("Stale node kernel job %s was not cancelled: %s", job_id, exc)
                continue
        remove_directory(entry.path)
    return cancelled


def remove_directory(path: str) -> None:
    with contextlib.suppress(OSError):
        shutil.rmtree(path)
