"""Fixtures for node kernels: a two-host Slurm cluster and kernels started on its node.

* ``node_cluster`` / ``cluster_env`` (tests/conftest.py): the two-host Slurm, and the same with
  ``SLURM_CONF`` set for this process.
* ``node_kernel(config, **km)``: ``async with`` a started, ready node kernel (jupyter_client's
  AsyncKernelManager, as JupyterLab's server starts kernels) and its client; shut down after,
  and checked to leave no job behind.
* ``site``: the ``SiteConfig`` settings every node kernel here gets (a short lease).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from faults.slurm_private import PrivateSlurm
from jupyter_client.manager import AsyncKernelManager
from traitlets.config import Config

from jupyter_container_kernels.nodes.tracker import NodeKernels

#: The lease of node kernels in these tests (seconds): short, so a lost server shows quickly.
LEASE = 6.0


@pytest.fixture
def site_config() -> dict[str, Any]:
    return {"node_lease": LEASE}


@pytest.fixture(autouse=True)
def fresh_tracker() -> Iterator[None]:
    """Each test starts with no node kernels known to this process."""
    NodeKernels._instance = None
    yield
    NodeKernels._instance = None


def queue(cluster: PrivateSlurm) -> list[str]:
    """Job ids Slurm still holds (pending, running or completing)."""
    return cluster.run("squeue", "-h", "-t", "PD,R,CG,CF", "-o", "%A", check=False).split()


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while not check():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)
    return time.monotonic() - t0


@pytest.fixture
def node_kernel(
    cluster_env: PrivateSlurm,
    lmod_env: dict[str, str],
    make_container_kernel: Callable[..., str],
    site_config: dict[str, Any],
) -> Callable[..., Any]:
    @asynccontextmanager
    async def start(
        config: dict[str, Any], *, site: dict[str, Any] | None = None, **kernel_json: Any
    ) -> AsyncIterator[tuple[AsyncKernelManager, Any]]:
        name = make_container_kernel(f"n{time.monotonic_ns()}", config, **kernel_json)
        km = AsyncKernelManager(
            kernel_name=name, config=Config({"SiteConfig": {**site_config, **(site or {})}})
        )
        await km.start_kernel()
        kc = km.client()
        kc.start_channels()
        job = getattr(km.provisioner, "job", None)
        try:
            await kc.wait_for_ready(timeout=60)
            yield km, kc
        finally:
            kc.stop_channels()
            if km.has_kernel:
                await km.shutdown_kernel(now=True)
            if job is not None and job.job_id:
                wait_until(
                    lambda: job.job_id not in queue(cluster_env), 10, f"job {job.job_id} gone"
                )

    return start
