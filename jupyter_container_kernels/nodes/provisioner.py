"""Node kernels: a container kernel that runs inside a Slurm job on a compute node.

:class:`~..provisioner.ContainerProvisioner` becomes a :class:`NodeKernelProvisioner` when its
kernel.json config has a ``slurm`` block (or the site says every kernel runs on nodes). The
first start submits ``job.sh`` (:mod:`.jobfiles`); its node agent (:mod:`.agent`) starts the
kernel there and tells this side the ports ipykernel chose on the node. Restarts go through the
agent: same job, same ports, no trip through the queue. Shutdown stops the agent (the job ends)
and cancels the job. When the allocation ends under the kernel (time limit, ``scancel``, node
failure), the kernel is reported dead with that reason and the restarter gives up at once
instead of queueing new jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import LocalProvisioner
from jupyter_client.provisioning.provisioner_base import KernelProvisionerBase
from jupyter_core.paths import jupyter_runtime_dir

from .._process import tail
from ..batch.slurm import Slurm, SubmitUnknownError
from ..errors import (
    ContainerKernelError,
    KernelStartError,
    SchedulerError,
)
from ..launch import check_image
from ..provisioner import NO_IPYKERNEL, ContainerProvisioner
from .agent import COMMENT_PREFIX, PORT_NAMES
from .client import AgentClient, AgentUnreachable
from .jobfiles import JobFiles, connection_variable, job_name, write_job_files
from .settings import NodeSettings
from .tracker import NodeJob, NodeKernels, remove_directory

log = logging.getLogger(__name__)

#: Why a job's allocation ended, by Slurm state, as the user reads it.
ENDINGS = {
    "TIMEOUT": "it reached its time limit",
    "CANCELLED": "it was cancelled (scancel, or an administrator)",
    "NODE_FAIL": "its node failed",
    "PREEMPTED": "it was preempted by a higher-priority job",
    "OUT_OF_MEMORY": "it ran out of memory",
    "BOOT_FAIL": "its node failed to boot",
    "DEADLINE": "it reached its deadline",
    "FAILED": "its main process (the node agent) failed",
    "COMPLETED": "its node agent ended",
}


def node_kernel_dir(configured: str) -> str:
    return configured or os.path.join(jupyter_runtime_dir(), "container-kernels-nodes")


class NodeKernelProvisioner(ContainerProvisioner):
    """A container kernel on a compute node (see module doc). kernel.json config: the
    container settings plus ``slurm`` (:class:`~.settings.NodeSettings`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        where = self._where + ".slurm"
        self.node = NodeSettings.from_dict(
            self.slurm_block, defaults=self.site.node_defaults, where=where
        )
        self.slurm = Slurm(parent=self.parent)
        self.tracker = NodeKernels.instance()
        self.job: NodeJob | None = None
        self.files: JobFiles | None = None
        self.agent: AgentClient | None = None
        self._lease: asyncio.Task[None] | None = None
        self._agent_misses = 0
        self._refresh: asyncio.Future[None] | None = None

    # -- start -------------------------------------------------------------------------------

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        """First start: write the job's files (nothing is submitted yet). Restart: nothing to
        prepare, the agent restarts the kernel in the same job."""
        job = self.job
        if job is not None and not job.live:
            self._allocation_ended()
            raise KernelStartError(
                f"{job.message} Shut this kernel down and start a new one to queue a new job."
            )
        if job is not None:  # a restart in the same allocation
            kwargs.pop("extra_arguments", None)
            return await KernelProvisionerBase.pre_launch(self, cmd=[], **kwargs)
        kwargs = await LocalProvisioner.pre_launch(self, **kwargs)
        cmd = self._in_image_command(list(kwargs["cmd"]))
        spec = self.site.effective(self.spec)
        check_image(spec)  # a missing image fails here, not after the queue
        connection_file = getattr(self.parent, "connection_file", "")
        names = {
            connection_file,
            os.path.abspath(connection_file),
            os.path.realpath(connection_file),
        }
        command = [connection_variable() if a in names else a for a in cmd]
        directory = os.path.join(node_kernel_dir(self.site.node_kernel_dir), self.kernel_id)
        self.files = write_job_files(
            directory,
            kernel_id=self.kernel_id,
            kernel_name=self._kernel_name(),
            spec=spec,
            command=command,
            connection=self.connection_info,
            settings=self.node,
            site=self.site,
            cwd=kwargs.get("cwd") or os.getcwd(),
            scontrol=self.slurm.executable("scontrol"),
        )
        kwargs["cmd"] = ["sbatch", self.files.script]
        return kwargs

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        if self.job is not None and self.agent is not None:
            return await self._restart_on_node()
        try:
            return await self._start_job(kwargs.get("env"))
        except BaseException as exc:
            await self._end(f"The kernel did not start: {exc}", cancel=True)
            raise

    async def _start_job(self, env: dict[str, str] | None) -> KernelConnectionInfo:
        assert self.files is not None
        job = self.job = NodeJob(
            self.kernel_id, self._kernel_name(), self._display_name(), self.files.directory
        )
        self.tracker.follow(job, self.slurm)
        try:
            job.job_id = await self.slurm.submit(
                self.files.script, cwd=self.files.directory, env=env
            )
        except SubmitUnknownError:
            job.job_id = await self.slurm.find_submitted(
                job_name(self.kernel_id), self.files.script
            )
            if job.job_id is None:
                raise
        except SchedulerError as exc:
            raise KernelStartError(
                f"Slurm refused the kernel's job ({self._resources_text()}):\n{exc}\n"
                "Fix the kernel's 'slurm' settings (partition, time, gres…) and start it again."
            ) from None
        job.state = "PENDING"
        Path(self.files.directory, "job.id").write_text(job.job_id + "\n")
        self.tracker.follow(job, self.slurm)  # the watcher asks about it from now on
        self.log.info("Node kernel %s: Slurm job %s submitted", self.kernel_id, job.job_id)
        address = await self._wait_for_agent(job)
        ip, _, port = address.rpartition(":")
        self.agent = AgentClient(ip, int(port), self.files.token)
        try:
            reply = await self.agent.request("ready", timeout=max(self.start_watch_timeout, 30.0))
        except AgentUnreachable as exc:
            raise KernelStartError(
                f"The kernel's job {job.job_id} runs on {job.node or ip}, but this server cannot "
                f"talk to it: {exc}. The server must reach the node at {ip} on any port (the "
                "node picks them): ask the site to allow it, or set c.SiteConfig.node_address "
                "to an address of the node this server can reach."
            ) from None
        info = self._connection(reply)
        self._lease = asyncio.ensure_future(self._renew_lease())
        if job.state != "RUNNING":  # known from the agent's file before Slurm was asked
            self._refresh = asyncio.ensure_future(self.tracker.refresh(job))
        return info

    async def _wait_for_agent(self, job: NodeJob) -> str:
        """Wait (in the queue, then for the agent) until the agent published its address."""
        assert self.files is not None
        submitted = time.monotonic()
        checked = submitted
        running_since: float | None = None
        while True:
            published = _read_text(self.files.address_file).strip() or (
                f"{COMMENT_PREFIX}addr={job.agent}" if job.agent else ""
            )
            if not published and job.agent_error:
                published = f"{COMMENT_PREFIX}error={job.agent_error}"
            if published.startswith(COMMENT_PREFIX + "addr="):
                job.agent = published[len(COMMENT_PREFIX) + 5 :]
                return job.agent
            if published.startswith(COMMENT_PREFIX + "error="):
                raise KernelStartError(
                    f"The kernel's node agent (Slurm job {job.job_id} on {job.node or 'its node'})"
                    f" failed: {published[len(COMMENT_PREFIX) + 6 :]}"
                )
            if not job.live:
                raise KernelStartError(self._ended_text(job, starting=True))
            waited = time.monotonic() - submitted
            timeout = self.node.pending_timeout
            if timeout and waited > timeout and job.state == "PENDING":
                raise KernelStartError(
                    f"The kernel's Slurm job {job.job_id} waited {waited:.0f} s in the queue, "
                    f"longer than its pending_timeout ({timeout:g} s); it was cancelled. Slurm's "
                    f"last reason for the wait: {job.reason or 'none given'}. Ask for fewer "
                    "resources, another partition, or raise 'pending_timeout'."
                )
            if job.state == "RUNNING" and running_since is None:
                running_since = time.monotonic()
            silent = 0.0 if running_since is None else time.monotonic() - running_since
            limit = max(self.start_watch_timeout, 30.0)
            if silent > limit:
                log_tail = tail(_read_text(self.files.log), 8) or "(nothing)"
                raise KernelStartError(
                    f"The kernel's Slurm job {job.job_id} runs on {job.node or 'its node'}, but "
                    f"its node agent has not said where it listens after {silent:.0f} s; the "
                    f"job was cancelled. Check that the node has {self.site.node_python!r} "
                    "(c.SiteConfig.node_python) and that users may `scontrol update` their "
                    f"job's comment. Last lines of the job's output:\n{log_tail}"
                )
            # Slurm is asked by the watcher's rounds; directly only early on (the start is
            # usually seconds away), while the job runs but its agent is not heard from, and
            # when nothing else asks. Not in the first second: the agent's file is the fast
            # path, and each squeue costs slurmctld and this host CPU while the job starts.
            since = time.monotonic() - checked
            early = 1.0 if waited < 1 else 0.5
            slow = 2.0 if self.tracker.watcher is None or running_since is not None else 30.0
            if since > (early if waited < 5 else slow):
                checked = time.monotonic()
                await self.tracker.refresh(job)
            job.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(job.changed.wait(), 0.05)

    async def _restart_on_node(self) -> KernelConnectionInfo:
        assert self.agent is not None and self.job is not None
        try:
            reply = await self.agent.request("restart", timeout=max(self.start_watch_timeout, 30.0))
        except AgentUnreachable as exc:
            await self.tracker.refresh(self.job)
            raise KernelStartError(
                f"The kernel could not be restarted on its node: {exc}. "
                + (self._ended_text(self.job) if not self.job.live else "")
            ) from None
        return self._connection(reply)

    def _connection(self, reply: dict[str, Any]) -> KernelConnectionInfo:
        if not reply.get("ok"):
            job = self.job
            where = f"Slurm job {job.job_id} on {job.node}" if job else "the node"
            lines = (reply.get("stderr") or "").strip() or "(nothing on stderr)"
            message = (
                f"The container exited with status {reply.get('returncode')} while the kernel "
                f"was starting on its node ({where}; runtime {self.spec.runtime}, image "
                f"{self.spec.image}). Last lines on the node's stderr:\n{lines}"
            )
            if "No module named ipykernel" in lines:
                message += "\n" + NO_IPYKERNEL
            raise KernelStartError(message)
        info = dict(self.connection_info)
        info["ip"] = reply["ip"]
        info.update({name: int(reply[name]) for name in PORT_NAMES})
        self.connection_info = info
        return info

    # -- lifetime ------------------------------------------------------------------------------

    @property
    def has_process(self) -> bool:
        """True from the kernel's start to its shutdown (also after the allocation ended under
        it: :meth:`poll` then says why, once, and stops the restarter)."""
        return self.job is not None and self.agent is not None

    async def poll(self) -> int | None:
        job, agent = self.job, self.agent
        if job is None or agent is None:
            return 0 if job is not None and not job.live else None
        if not job.live:
            self._allocation_ended()
            return 1
        try:
            status = await agent.request("status", timeout=5.0)
        except AgentUnreachable:
            await self.tracker.refresh(job)
            if not job.live:
                self._allocation_ended()
                return 1
            self._agent_misses += 1
            return None  # unknown is not dead: the job is still there (or squeue failed)
        self._agent_misses = 0
        if status.get("alive"):
            return None
        # The kernel exited: by itself (the restarter restarts it in this job), or because
        # the allocation is ending (then nothing may restart it).
        await self.tracker.refresh(job)
        if status.get("ending") or not job.live:
            self._allocation_ended()
            return 1
        return int(status.get("returncode") or 0)

    async def wait(self) -> int | None:
        while True:
            status = await self.poll()
            if status is not None:
                return status
            await asyncio.sleep(0.1)

    async def send_signal(self, signum: int) -> None:
        if self.agent is not None:
            group = not (signum == signal.SIGINT and self.runtime.forwards_signals)
            with contextlib.suppress(AgentUnreachable):
                await self.agent.request("signal", signum=int(signum), group=group)

    async def kill(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGKILL)

    async def terminate(self, restart: bool = False) -> None:
        await self.send_signal(signal.SIGTERM)

    async def cleanup(self, restart: bool = False) -> None:
        """After the kernel stopped: a restart keeps the job; a shutdown ends it."""
        if not restart:
            await self._end("Shut down.", cancel=True)

    async def _end(self, message: str, *, cancel: bool) -> None:
        """End the job (stop the agent, then ``scancel`` whatever is left) and forget it."""
        for task in (self._lease, self._refresh):
            if task is not None:
                task.cancel()
        self._lease = self._refresh = None
        job, agent = self.job, self.agent
        if agent is not None:
            with contextlib.suppress(AgentUnreachable):
                await agent.request("stop", timeout=5.0)
            agent.close()
        if job is not None and job.job_id and job.live and cancel:
            try:
                await self.slurm.cancel(job.job_id)
            except ContainerKernelError as exc:
                self.log.warning(
                    "Node kernel %s: scancel %s failed: %s", self.kernel_id, job.job_id, exc
                )
        if job is not None:
            if job.live:
                job.state = "CANCELLED" if job.started is None else "COMPLETED"
            job.message = job.message or message
            job.changed.set()
            self.tracker.forget(job.kernel_id)
        if self.files is not None:
            remove_directory(self.files.directory)
        self.agent = None

    def _allocation_ended(self) -> None:
        """The job ended under a running kernel: say why, once, and keep the restarter from
        queueing new jobs (it gives up and reports the kernel dead)."""
        job = self.job
        assert job is not None
        if job.message is None:
            if job.live:  # Slurm has not said so yet: the agent was signalled
                job.state = "ENDING"
                job.message = (
                    f"The kernel's Slurm job {job.job_id} is ending: Slurm signalled it "
                    "(scancel, its time limit or a node shutdown)."
                )
            else:
                job.message = self._ended_text(job)
            self.log.warning("Node kernel %s: %s", self.kernel_id, job.message)
        restarter = getattr(self.parent, "_restarter", None)
        if restarter is not None:
            restarter.restart_limit = 0
        if self._lease is not None:
            self._lease.cancel()
            self._lease = None
        if self.files is not None:
            remove_directory(self.files.directory)

    def _ended_text(self, job: NodeJob, starting: bool = False) -> str:
        if job.message:
            return job.message
        why = ENDINGS.get(job.state, f"Slurm says {job.state}")
        text = f"The kernel's Slurm job {job.job_id} ended ({job.state}): {why}."
        log_tail = tail(_read_text(self.files.log) if self.files else "", 8)
        if log_tail and (starting or job.state in ("FAILED", "COMPLETED")):
            text += f" Last lines of the job's output:\n{log_tail}"
        return text

    async def _renew_lease(self) -> None:
        interval = max(0.5, self.site.node_lease / 4)
        while self.agent is not None and self.job is not None and self.job.live:
            await asyncio.sleep(interval)
            if self.agent is None:
                return
            with contextlib.suppress(AgentUnreachable):
                await self.agent.request("ping", timeout=interval)

    # -- helpers -----------------------------------------------------------------------------

    def _kernel_name(self) -> str:
        km = self.parent
        return str(getattr(km, "kernel_name", "") or "container")

    def _display_name(self) -> str:
        spec = self.kernel_spec
        return str(getattr(spec, "display_name", "") or self._kernel_name())

    def _resources_text(self) -> str:
        directives = self.node.resources.directives()
        return " ".join(o if v is None else f"{o}={v}" for o, v in directives) or "Slurm defaults"

    def get_stable_start_time(self, recommended: float = 10.0) -> float:
        return recommended


def _read_text(path: str) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""
