"""Node kernels on a two-host Slurm: the kernel runs inside the image, in a job, on the node.

The node (its own network namespace and address) is not the host the tests run on, so every
connection goes to the node's address; a 127.0.0.1 shortcut anywhere would fail here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from typing import Any

import pytest

from jupyter_container_kernels.errors import KernelStartError, SpecError

from .conftest import queue, wait_until


def charliecloud(image: str, **more: Any) -> dict[str, Any]:
    return {"image": image, "runtime": "charliecloud", **more}


async def run(kc: Any, code: str, timeout: float = 30) -> str:
    """Execute ``code``; its stdout (errors raise AssertionError with the traceback)."""
    out: list[str] = []
    error: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            error.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")

    reply = await kc.execute_interactive(code, output_hook=hook, timeout=timeout)
    if reply["content"]["status"] != "ok":
        raise AssertionError("; ".join(error) or reply["content"])
    return "".join(out)


PROBE = """
import json, os, socket
print(json.dumps({
    "image": open('/etc/jck-test-image').read().strip(),
    "job": os.environ.get('SLURM_JOB_ID'),
    "node": os.environ.get('SLURMD_NODENAME'),
    "gpus": os.environ.get('CUDA_VISIBLE_DEVICES'),
    "home_var": os.environ.get('JCK_NODE_TEST_HOST_VAR'),
}))
"""


@pytest.mark.parametrize("cleanenv", [False, True])
async def test_the_kernel_runs_inside_the_image_in_a_job_on_the_node(
    node_kernel: Any, test_image: str, cleanenv: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JCK_NODE_TEST_HOST_VAR", "from-the-server")
    config = charliecloud(test_image, cleanenv=cleanenv, slurm={"gres": "gpu:1", "time": "10:00"})
    async with node_kernel(config) as (km, kc):
        cluster = km.provisioner.tracker.slurm
        job = km.provisioner.job
        assert km.get_connection_info()["ip"] == node_ip(km), "the server connects to the node"
        seen = json.loads(await run(kc, PROBE))
        assert seen["image"] == "py-ipykernel", "code runs inside the test image"
        assert seen["job"] == job.job_id and seen["node"] == job_node(km)
        assert seen["gpus"] == "0", "the GPU Slurm granted is visible, with or without cleanenv"
        assert seen["home_var"] == (None if cleanenv else "from-the-server")
        assert cluster is not None


def node_ip(km: Any) -> str:
    import socket

    return socket.gethostbyname(job_node(km))


def job_node(km: Any) -> str:
    # the agent published IP:PORT; the node's name is the cluster's only node
    import subprocess

    out = subprocess.run(
        ["squeue", "-h", "-j", km.provisioner.job.job_id, "-o", "%N"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


async def test_interrupt_restart_and_shutdown_behave_as_with_a_local_kernel(
    node_kernel: Any, test_image: str, cluster_env: Any
) -> None:
    async with node_kernel(charliecloud(test_image, slurm={})) as (km, kc):
        job_id = km.provisioner.job.job_id
        directory = km.provisioner.files.directory
        # interrupt (message mode): KeyboardInterrupt, the kernel lives on
        msg_id = kc.execute("import time; time.sleep(60)")
        await asyncio.sleep(1.0)
        await km.interrupt_kernel()
        reply = await kc.get_shell_msg(timeout=15)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        await asyncio.sleep(0.5)  # ipykernel aborts what arrives right after an error
        assert (await run(kc, "print(6 * 7)")).strip() == "42"
        # restart: the same job, no trip through the queue, seconds
        await run(kc, "x = 1")
        t0 = time.monotonic()
        await km.restart_kernel()
        await kc.wait_for_ready(timeout=30)
        restart_seconds = time.monotonic() - t0
        assert km.provisioner.job.job_id == job_id
        assert restart_seconds < 5, restart_seconds
        assert (await run(kc, "print('x' in dir())")).strip() == "False", "a fresh kernel"
        assert job_id in queue(cluster_env)
        # shutdown: the job is gone from squeue within seconds
        t0 = time.monotonic()
        await km.shutdown_kernel()
        gone = wait_until(lambda: job_id not in queue(cluster_env), 5, "job gone after shutdown")
        assert time.monotonic() - t0 < 5, gone
        record = cluster_env.run("scontrol", "show", "job", job_id)
        assert "JobState=COMPLETED" in record or "JobState=CANCELLED" in record
        # nothing holding the key is left: not on the node, not in the server's directory
        assert not os.path.exists(f"/tmp/jck-node-{km.kernel_id}")
        assert not os.path.exists(directory)


async def test_five_kernels_share_the_node_without_port_clashes_and_restart_in_their_jobs(
    node_kernel: Any, test_image: str
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        started = [
            await stack.enter_async_context(
                node_kernel(charliecloud(test_image, slurm={"cpus_per_task": 1}))
            )
            for _ in range(5)
        ]
        kms, kcs = [km for km, _ in started], [kc for _, kc in started]
        jobs = [km.provisioner.job.job_id for km in kms]
        ports = [km.get_connection_info()["shell_port"] for km in kms]
        assert len(set(jobs)) == 5 and len(set(ports)) == 5
        for i, kc in enumerate(kcs):
            assert (await run(kc, f"print({i} * 2)")).strip() == str(i * 2)
        await asyncio.gather(*(km.restart_kernel() for km in kms))
        for km, kc, job_id in zip(kms, kcs, jobs, strict=True):
            await kc.wait_for_ready(timeout=30)
            assert km.provisioner.job.job_id == job_id
            assert (await run(kc, "print('ok')")).strip() == "ok"


async def test_slurm_settings_are_validated_by_the_batch_resources_validator(
    make_container_kernel: Any, test_image: str, jp_environ: None
) -> None:
    from jupyter_client.manager import AsyncKernelManager

    for slurm, field in (
        ({"time": "1:00\n#SBATCH --uid=0"}, "slurm.time"),
        ({"nodes": 2}, "slurm.nodes"),
        ({"gpu_count": 1}, "slurm.gpu_count"),
        ({"pending_timeout": -1}, "slurm.pending_timeout"),
    ):
        name = make_container_kernel(
            f"bad{time.monotonic_ns()}", charliecloud(test_image, slurm=slurm)
        )
        km = AsyncKernelManager(kernel_name=name)
        with pytest.raises(SpecError) as caught:
            await km.start_kernel()
        assert field in str(caught.value)


async def test_invalid_resources_fail_the_start_with_slurms_own_error(
    node_kernel: Any, test_image: str, cluster_env: Any
) -> None:
    with pytest.raises(KernelStartError) as caught:
        async with node_kernel(charliecloud(test_image, slurm={"partition": "nosuchpartition"})):
            pass
    message = str(caught.value)
    assert "Slurm refused the kernel's job" in message
    assert "invalid partition" in message.lower()
    assert queue(cluster_env) == []


async def test_an_apptainer_kernel_with_its_module_and_nv_runs_on_the_node(
    node_kernel: Any, test_image: str
) -> None:
    """The runtime found after `module load apptainer` *on the node* (the stand-in, see the
    README), `--nv` from gpu: nvidia, the site's binds: as a local kernel gets them."""
    config = {
        "image": test_image,
        "runtime": "apptainer",
        "modules": ["apptainer"],
        "gpu": "nvidia",
        "cleanenv": True,
        "slurm": {"gres": "gpu:1"},
    }
    async with node_kernel(config) as (km, kc):
        seen = json.loads(
            await run(
                kc,
                "import json, os; print(json.dumps([open('/etc/jck-test-image').read().strip(),"
                " os.environ.get('JCK_STANDIN_GPU'), os.environ.get('SLURM_JOB_ID'),"
                " os.environ.get('CUDA_VISIBLE_DEVICES')]))",
            )
        )
        assert seen == ["py-ipykernel", "nv", km.provisioner.job.job_id, "0"]
