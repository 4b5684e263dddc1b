"""Node kernels when things go wrong: the queue, the node, the allocation, the server.

Each case is a real two-host Slurm (``node_cluster``), real ch-run and ipykernel; a blocker job
holding every CPU of the node forces the queue.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.ioloop import AsyncIOLoopKernelManager
from jupyter_client.manager import AsyncKernelManager
from traitlets.config import Config

from jupyter_container_kernels.batch.slurm import Slurm
from jupyter_container_kernels.errors import KernelStartError
from jupyter_container_kernels.nodes.provisioner import node_kernel_dir
from jupyter_container_kernels.nodes.tracker import NodeKernels, sweep

from .conftest import LEASE, queue, wait_until
from .test_node_kernels import charliecloud, run

#: A failure on the node must reach the user this fast after the job starts (seconds).
FAIL_AFTER_RUNNING = 5.0


@pytest.fixture
def blocker(cluster_env: Any) -> Iterator[str]:
    """A job holding every CPU of the node: what is submitted next waits (Resources)."""
    job_id = cluster_env.run(
        "sbatch", "--parsable", "--exclusive", "-o", "/dev/null", "--wrap", "sleep 600"
    ).strip()
    wait_until(
        lambda: cluster_env.run("squeue", "-h", "-j", job_id, "-o", "%T").strip() == "RUNNING",
        15,
        "blocker running",
    )
    yield job_id
    cluster_env.run("scancel", job_id, check=False)


def manager(
    make_container_kernel: Any, config: dict[str, Any], *, loop: bool = False, **site: Any
) -> AsyncKernelManager:
    name = make_container_kernel(f"f{time.monotonic_ns()}", config)
    km_class = AsyncIOLoopKernelManager if loop else AsyncKernelManager
    return km_class(kernel_name=name, config=Config({"SiteConfig": {"node_lease": LEASE, **site}}))


def the_job() -> Any:
    jobs = list(NodeKernels.instance().jobs.values())
    assert len(jobs) == 1, jobs
    return jobs[0]


async def wait_for(check: Any, timeout: float, what: str) -> None:
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(0.05)


async def test_a_queued_kernel_shows_its_reason_and_cancelling_it_leaves_no_job(
    cluster_env: Any, blocker: str, make_container_kernel: Any, test_image: str, lmod_env: Any
) -> None:
    km = manager(make_container_kernel, charliecloud(test_image, slurm={"time": "5:00"}))
    start = asyncio.ensure_future(km.start_kernel())
    await wait_for(lambda: NodeKernels.instance().jobs, 10, "the kernel is followed")
    job = the_job()
    await wait_for(lambda: job.reason == "Resources", 15, "Slurm's pending reason")
    shown = job.to_dict()
    assert shown["state"] == "PENDING" and shown["job_id"] and shown["reason"] == "Resources"
    assert shown["seconds_left"] is None and shown["message"] is None
    await NodeKernels.instance().cancel(job.kernel_id)
    with pytest.raises(KernelStartError, match="Cancelled from JupyterLab while waiting"):
        await asyncio.wait_for(start, 10)
    assert queue(cluster_env) == [blocker]


async def test_pending_timeout_fails_the_start_with_the_last_reason(
    cluster_env: Any, blocker: str, make_container_kernel: Any, test_image: str, lmod_env: Any
) -> None:
    config = charliecloud(test_image, slurm={"pending_timeout": 3})
    km = manager(make_container_kernel, config)
    t0 = time.monotonic()
    with pytest.raises(KernelStartError) as caught:
        await km.start_kernel()
    assert time.monotonic() - t0 < 8
    message = str(caught.value)
    assert "pending_timeout (3 s)" in message
    assert "Resources" in message
    assert queue(cluster_env) == [blocker], "the waiting job was cancelled"


@pytest.mark.parametrize(
    ("what", "expected"),
    [
        ("unknown module", "nosuchmodule"),
        ("image without ipykernel", "No module named ipykernel"),
        ("image missing on the node", "jck-vanishing-image"),
    ],
)
async def test_failures_on_the_node_reach_the_user_within_seconds_and_end_the_job(
    cluster_env: Any,
    blocker: str,
    make_container_kernel: Any,
    test_image: str,
    bare_image: str,
    lmod_env: Any,
    tmp_path: Path,
    what: str,
    expected: str,
) -> None:
    image, modules = test_image, []
    if what == "unknown module":
        modules = ["nosuchmodule"]
    elif what == "image without ipykernel":
        image = bare_image
    else:  # there when the server checks, gone when the node starts the job
        link = tmp_path / "jck-vanishing-image"
        link.symlink_to(test_image)
        image = str(link)
    km = manager(make_container_kernel, charliecloud(image, modules=modules, slurm={}))
    start = asyncio.ensure_future(km.start_kernel())
    await wait_for(lambda: NodeKernels.instance().jobs, 10, "the kernel is followed")
    job = the_job()
    await wait_for(lambda: job.state == "PENDING" and job.job_id, 10, "queued")
    if what == "image missing on the node":
        (tmp_path / "jck-vanishing-image").unlink()
    cluster_env.run("scancel", blocker)  # the node is free: the kernel's job starts
    running = time.monotonic()
    with pytest.raises(KernelStartError) as caught:
        await asyncio.wait_for(start, 30)
    assert time.monotonic() - running < FAIL_AFTER_RUNNING + 2  # + the node's scheduling
    message = str(caught.value)
    assert expected in message, message
    assert "on its node" in message or "node agent" in message
    wait_until(lambda: job.job_id not in queue(cluster_env), 5, "the job ended")


async def test_an_allocation_ending_under_the_kernel_reports_it_dead_without_requeueing(
    cluster_env: Any, make_container_kernel: Any, test_image: str, lmod_env: Any
) -> None:
    km = manager(make_container_kernel, charliecloud(test_image, slurm={}), loop=True)
    events: list[str] = []
    await km.start_kernel()
    km.add_restart_callback(lambda: events.append("restart"), "restart")
    km.add_restart_callback(lambda: events.append("dead"), "dead")
    km.start_restarter()
    slurm: Slurm = km.provisioner.slurm
    job = km.provisioner.job
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=30)
        cluster_env.run("scancel", job.job_id)  # from a terminal, say
        await wait_for(lambda: "dead" in events, 15, "the kernel reported dead")
    finally:
        kc.stop_channels()
    assert "CANCELLED" in job.message and "scancel" in job.message
    assert slurm.calls["sbatch"] == 1, "no new job was queued"
    assert events == ["dead"]
    assert queue(cluster_env) == []
    km.stop_restarter()
    await km.shutdown_kernel(now=True)


async def test_the_time_limit_ends_the_kernel_with_that_reason(
    cluster_env: Any, make_container_kernel: Any, test_image: str, lmod_env: Any
) -> None:
    km = manager(make_container_kernel, charliecloud(test_image, slurm={"time": "1"}), loop=True)
    events: list[str] = []
    await km.start_kernel()
    km.add_restart_callback(lambda: events.append("dead"), "dead")
    km.start_restarter()
    job = km.provisioner.job
    for _ in range(50):  # the wall time left, once Slurm has said it (it may say INVALID first)
        await km.provisioner.tracker.refresh(job)
        if job.to_dict()["seconds_left"] is not None:
            break
        await asyncio.sleep(0.1)
    assert 0 < job.to_dict()["seconds_left"] <= 60
    await wait_for(lambda: "dead" in events, 120, "the kernel reported dead at its time limit")
    assert "TIMEOUT" in job.message and "time limit" in job.message
    assert km.provisioner.slurm.calls["sbatch"] == 1
    km.stop_restarter()
    await km.shutdown_kernel(now=True)  # what the server does with a dead kernel: no error


SERVER = textwrap.dedent(
    """
    import asyncio, sys
    from jupyter_client.manager import AsyncKernelManager
    from traitlets.config import Config
    async def main():
        km = AsyncKernelManager(kernel_name=sys.argv[1],
                                config=Config({"SiteConfig": {"node_lease": float(sys.argv[2])}}))
        await km.start_kernel()
        print(km.provisioner.job.job_id, flush=True)
        await asyncio.sleep(3600)
    asyncio.run(main())
    """
)


def killed_server(make_container_kernel: Any, image: str, lease: float) -> str:
    """Start a node kernel from another process, kill that process with SIGKILL; the job id."""
    name = make_container_kernel(f"k{time.monotonic_ns()}", charliecloud(image, slurm={}))
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, name, str(lease)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        job_id = proc.stdout.readline().strip()
        assert job_id, "the node kernel started"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return job_id


async def test_a_killed_server_leaves_jobs_that_end_within_the_lease(
    cluster_env: Any, make_container_kernel: Any, test_image: str, lmod_env: Any
) -> None:
    job_id = killed_server(make_container_kernel, test_image, LEASE)
    assert job_id in queue(cluster_env)
    waited = wait_until(lambda: job_id not in queue(cluster_env), LEASE + 6, "job ended")
    assert waited <= LEASE + 6
    record = cluster_env.run("scontrol", "show", "job", job_id)
    assert "ExitCode=3:0" in record, "the agent ended the job: lease expired"


async def test_the_next_server_cancels_the_jobs_of_a_server_that_is_gone(
    cluster_env: Any, make_container_kernel: Any, test_image: str, lmod_env: Any
) -> None:
    job_id = killed_server(make_container_kernel, test_image, 600)
    assert job_id in queue(cluster_env)
    cancelled = await sweep(node_kernel_dir(""), Slurm())
    assert cancelled == [job_id]
    wait_until(lambda: job_id not in queue(cluster_env), 5, "job cancelled")
    assert not os.listdir(node_kernel_dir("")), "its directory is gone too"


async def test_a_kernel_survives_slurmctld_being_down_for_a_while(
    node_kernel: Any, test_image: str, cluster_env: Any
) -> None:
    async with node_kernel(charliecloud(test_image, slurm={})) as (km, kc):
        job = km.provisioner.job
        cluster_env.stop_controller()
        try:
            await km.provisioner.tracker.refresh(job)
            assert job.unknown and job.live, "unknown, not ended"
            for _ in range(3):
                assert await km.is_alive()
                assert (await run(kc, "print(1 + 1)")).strip() == "2"
                await asyncio.sleep(1.5)
        finally:
            cluster_env.start_controller()
        await km.provisioner.tracker.refresh(job)
        assert not job.unknown and job.state == "RUNNING"
        assert (await run(kc, "print('still here')")).strip() == "still here"


async def test_an_agent_that_never_reports_fails_the_start_instead_of_hanging(
    cluster_env: Any, make_container_kernel: Any, test_image: str, tmp_path: Path
) -> None:
    """A node whose python3 cannot run the agent (here: one that only sleeps): the job runs, the
    agent never says where it listens; the start fails after the watch, naming what to check."""
    silent = tmp_path / "python3"
    silent.write_text("#!/bin/sh\nsleep 600\n")
    silent.chmod(0o755)
    config = charliecloud(test_image, slurm={}, start_watch_timeout=5)  # the wait: 30 s at least
    km = manager(make_container_kernel, config, node_python=str(silent))
    t0 = time.monotonic()
    with pytest.raises(KernelStartError) as caught:
        await km.start_kernel()
    assert time.monotonic() - t0 < 50
    message = str(caught.value)
    assert "has not said where it listens" in message and "node_python" in message
    wait_until(lambda: queue(cluster_env) == [], 10, "the job was cancelled")
