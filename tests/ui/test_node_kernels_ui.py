"""Node kernels in a real browser: a kernel that runs inside a Slurm job on a compute node, seen
from JupyterLab while it waits in the queue, while it runs, and when it is cancelled.

The cluster has two hosts (``PrivateSlurm(netns=True)``: the compute node has its own network
namespace and address); the server reaches it through ``SLURM_CONF`` in its environment. A job
that takes the whole node first keeps the kernel's job PENDING, so the waiting indicator (which
no notebook could show: the start has no session yet) is seen for certain; cancelling that
blocker lets the kernel start.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from faults.slurm_private import PrivateSlurm

from .conftest import Lab, browse, serve_lab
from .test_ui_e2e import KERNEL_TIMEOUT_MS, launcher_tile, wait_for_idle_kernel

NODE_KERNEL = "jck-node-e2e"
NODE_DISPLAY_NAME = "JCK test image (compute node)"


@pytest.fixture
def node_slurm(slurm_cluster: None) -> Iterator[PrivateSlurm]:
    """A private two-host Slurm (munged comes from the shared cluster's start)."""
    with PrivateSlurm(netns=True, cpus=2, min_job_age=600, kill_wait=2) as cluster:
        yield cluster


@pytest.fixture
def node_lab(
    jp_environ: None,
    jp_config_dir: Path,
    tmp_path: Path,
    make_container_kernel: Callable[..., str],
    test_image: str,
    node_slurm: PrivateSlurm,
) -> Iterator[Lab]:
    kernel = make_container_kernel(
        NODE_KERNEL,
        {
            "image": test_image,
            "runtime": "charliecloud",
            "gpu": "none",
            # At most 5 minutes: the end-of-time warning is due as soon as it runs.
            "slurm": {"time": "5:00"},
        },
        display_name=NODE_DISPLAY_NAME,
    )
    env = {"SLURM_CONF": str(node_slurm.conf)}
    with serve_lab(tmp_path, Path(jp_config_dir), kernel, NODE_DISPLAY_NAME, env) as server:
        yield server


def test_a_node_kernel_from_the_queue_to_its_time_left(
    node_lab: Lab,
    node_slurm: PrivateSlurm,
) -> None:
    blocker = node_slurm.run(
        "sbatch", "--parsable", "--exclusive", "--output=/dev/null", "--wrap", "sleep 600"
    ).strip()
    try:
        browse(node_lab, lambda page, shot: scenario(page, shot, node_lab, node_slurm, blocker))
    finally:
        node_slurm.run("scancel", blocker, check=False)


def scenario(
    page: Any, shot: Callable[[str], Path], lab: Lab, cluster: PrivateSlurm, blocker: str
) -> None:
    # 1. Starting the tile: the job waits behind the blocker, and the status bar says so.
    launcher_tile(page, NODE_DISPLAY_NAME).click()
    waiting = page.locator('[data-testid="jck-node-status-waiting"]')
    waiting.wait_for(state="visible", timeout=KERNEL_TIMEOUT_MS)
    deadline = time.monotonic() + 60
    while not re.search(r"Waiting for Slurm: job \d+", waiting.inner_text()):
        assert time.monotonic() < deadline, waiting.inner_text()
        time.sleep(0.25)
    job_id = waiting.get_attribute("data-job-id")
    assert job_id and job_id != blocker, job_id
    [entry] = lab.api("container-kernels/node-kernels")["node_kernels"]
    assert entry["job_id"] == job_id and entry["state"] == "PENDING", entry
    shot("node-kernel-waiting")

    # 2. A click opens the queue view: the waiting start with its job, state and Cancel.
    waiting.click()
    panel = page.locator("#jck-node-kernels-panel")
    panel.wait_for(state="visible")
    row = panel.locator(f'[data-testid="jck-node-kernel"][data-job-id="{job_id}"]')
    row.wait_for(state="visible")
    assert row.get_attribute("data-state") == "PENDING"
    assert "PENDING" in row.locator('[data-testid="jck-node-kernel-state"]').inner_text()
    assert NODE_DISPLAY_NAME in row.inner_text()
    assert row.locator('[data-testid="jck-node-kernel-cancel"]').is_visible()
    shot("node-kernels-queue")

    # 3. The node frees up: the kernel starts there, its time left counts down, and with 5
    #    minutes or less left it is shown as ending, with one warning to save the work.
    cluster.run("scancel", blocker)
    time_left = page.locator('[data-testid="jck-node-time-left"]')
    time_left.wait_for(state="visible", timeout=KERNEL_TIMEOUT_MS)
    first = time_left.inner_text()
    assert re.fullmatch(r"\d+:\d\d left", first), first
    current = page.locator('[data-testid="jck-node-status-current"]')
    assert current.get_attribute("data-job-id") == job_id
    assert cluster.node in current.inner_text()
    assert "jck-mod-warning" in (current.get_attribute("class") or "")
    warning = page.get_by_text(re.compile(r"\(Slurm job \d+\) ends in 5 minutes: save your work"))
    warning.first.wait_for()
    waiting.wait_for(state="detached")
    # Polls are 15 s apart while it runs: a changing text is the local countdown.
    deadline = time.monotonic() + 5
    while time_left.inner_text() == first:
        assert time.monotonic() < deadline, f"the countdown stays at {first}"
        time.sleep(0.25)
    row.wait_for(state="visible")
    page.locator(
        f'[data-testid="jck-node-kernel"][data-job-id="{job_id}"][data-state="RUNNING"]'
    ).wait_for(timeout=KERNEL_TIMEOUT_MS)
    assert re.search(r"\d+:\d\d left", row.inner_text()), row.inner_text()
    shot("node-kernel-running")
    assert warning.count() == 1, "warned once, though the countdown and the polls went on"

    # 4. Code runs inside the image, on the compute node.
    wait_for_idle_kernel(page, NODE_DISPLAY_NAME)
    notebook = page.locator(".jp-NotebookPanel").last
    notebook.locator(".jp-Cell .cm-content").first.click()
    page.keyboard.type(
        "import os; print(open('/etc/jck-test-image').read().strip(), "
        "os.environ['SLURMD_NODENAME'])"
    )
    page.keyboard.press("Shift+Enter")
    output = notebook.locator(".jp-OutputArea-output").first
    output.wait_for(state="visible", timeout=KERNEL_TIMEOUT_MS)
    assert output.inner_text().split() == ["py-ipykernel", cluster.node], output.inner_text()
    shot("node-kernel-runs-on-node")

    # 5. Cancel from the queue view (after a confirmation): the job ends, and says why.
    row.locator('[data-testid="jck-node-kernel-cancel"]').click()
    page.locator(".jp-Dialog .jp-mod-warn").click()
    page.locator(
        f'[data-testid="jck-node-kernel"][data-job-id="{job_id}"][data-state="CANCELLED"]'
    ).wait_for()
    assert "Cancelled from JupyterLab" in row.inner_text(), row.inner_text()
    assert row.locator('[data-testid="jck-node-kernel-cancel"]').count() == 0
    shot("node-kernel-cancelled")
