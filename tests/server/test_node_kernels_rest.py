"""Node kernels through the server: JupyterLab's kernel routes and ``container-kernels/node-kernels``.

A real jupyter_server with this extension, on the two-host Slurm (``cluster_env``): the kernels
run on the node, the queue and the time left are visible over REST, and cancelling a waiting
kernel fails its start with a message that says so.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError
from traitlets.config import Config

from jupyter_container_kernels.nodes.tracker import NodeKernels


@pytest.fixture(autouse=True)
def fresh_tracker() -> Iterator[None]:
    NodeKernels._instance = None
    yield
    NodeKernels._instance = None


@pytest.fixture
def jp_server_config(jp_server_config: Config) -> Config:
    jp_server_config.SiteConfig.node_lease = 20.0
    jp_server_config.SiteConfig.allowed_image_roots = []
    return jp_server_config


@pytest.fixture
def node_kernel_name(cluster_env: Any, make_container_kernel: Any, test_image: str) -> str:
    config = {"image": test_image, "runtime": "charliecloud", "slurm": {"time": "30:00"}}
    return make_container_kernel("on-node", config, display_name="On a node")


async def start_kernel(jp_fetch: Any, name: str) -> tuple[int, Any]:
    """Open a notebook with kernel ``name`` as JupyterLab does (POST api/sessions): (status,
    the kernel model or the error body whose message Lab's "Error Starting Kernel" shows)."""
    body = {"path": f"{name}.ipynb", "type": "notebook", "kernel": {"name": name}}
    try:
        response = await jp_fetch("api", "sessions", method="POST", body=json.dumps(body))
    except HTTPClientError as err:
        assert err.response is not None
        return err.code, json.loads(err.response.body or b"{}")
    return response.code, json.loads(response.body)["kernel"]


def squeue(cluster: Any) -> list[str]:
    return cluster.run("squeue", "-h", "-t", "PD,R,CG,CF", "-o", "%A", check=False).split()


def test_a_running_node_kernel_is_listed_with_its_node_and_time_left(
    cluster_env: Any, node_kernel_name: str, jp_fetch: Any, api: Any, run: Any
) -> None:
    code, kernel = run(start_kernel(jp_fetch, node_kernel_name))
    assert code == 201, kernel
    status, listing = api("GET", "node-kernels")
    assert status == 200 and listing["scheduler_error"] is None
    [entry] = listing["node_kernels"]
    assert entry["kernel_id"] == kernel["id"] and entry["display_name"] == "On a node"
    assert entry["state"] == "RUNNING" or entry["state"] == "PENDING"  # the watcher catches up
    run(asyncio.sleep(1.5))
    status, entry = api("GET", f"node-kernels/{kernel['id']}")
    assert entry["state"] == "RUNNING"
    assert entry["node"] == cluster_env.node and entry["address"] == cluster_env.node_ip
    assert entry["time_limit"] == "30:00" and 1700 < entry["seconds_left"] <= 1800
    job_id = entry["job_id"]
    assert job_id in squeue(cluster_env)
    run(jp_fetch("api", "kernels", kernel["id"], method="DELETE"))
    deadline = time.monotonic() + 5
    while job_id in squeue(cluster_env) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job_id not in squeue(cluster_env), "shutting the kernel down ended its job"
    status, _ = api("GET", f"node-kernels/{kernel['id']}")
    assert status == 404


def test_cancelling_a_waiting_kernel_fails_its_start_with_that_reason(
    cluster_env: Any, node_kernel_name: str, jp_fetch: Any, aapi: Any, run: Any
) -> None:
    blocker = cluster_env.run(
        "sbatch", "--parsable", "--exclusive", "-o", "/dev/null", "--wrap", "sleep 600"
    ).strip()
    try:

        async def scenario() -> tuple[int, Any, dict[str, Any]]:
            start = asyncio.ensure_future(start_kernel(jp_fetch, node_kernel_name))
            entry: dict[str, Any] = {}
            for _ in range(200):
                await asyncio.sleep(0.1)
                _, listing = await aapi("GET", "node-kernels")
                if listing["node_kernels"] and listing["node_kernels"][0]["reason"]:
                    entry = listing["node_kernels"][0]
                    break
            status, cancelled = await aapi("DELETE", f"node-kernels/{entry['kernel_id']}")
            assert status == 200 and cancelled["state"] == "CANCELLED"
            code, body = await asyncio.wait_for(start, 15)
            return code, body, entry

        code, body, entry = run(scenario())
        assert entry["state"] == "PENDING" and entry["reason"] in ("Resources", "Priority")
        assert entry["job_id"] and entry["seconds_left"] is None
        assert code == 500
        assert "Cancelled from JupyterLab while waiting in the queue" in body["message"]
        assert squeue(cluster_env) == [blocker]
    finally:
        cluster_env.run("scancel", blocker, check=False)


def test_refused_resources_reach_the_start_request_with_slurms_words(
    cluster_env: Any, make_container_kernel: Any, test_image: str, jp_fetch: Any, run: Any
) -> None:
    config = {"image": test_image, "runtime": "charliecloud", "slurm": {"partition": "nosuch"}}
    name = make_container_kernel("bad-partition", config)
    code, body = run(start_kernel(jp_fetch, name))
    assert code == 500
    assert "Slurm refused the kernel's job (--partition=nosuch)" in body["message"]
    assert "invalid partition" in body["message"].lower()
    assert squeue(cluster_env) == []


def test_a_kernel_becomes_a_node_kernel_over_rest_with_validated_settings(
    api: Any, image_root: Any, jp_environ: None
) -> None:
    image = image_root / "img"
    image.mkdir()
    spec = {"image": str(image), "runtime": "charliecloud"}
    status, body = api(
        "POST",
        "kernels",
        {"display_name": "N", "spec": spec, "probe": False, "slurm": {"time": "1:00\nx"}},
    )
    assert status == 400 and body["message"].startswith("slurm.time:")
    slurm = {"partition": "gpu", "time": "2:00:00", "gres": "gpu:1", "pending_timeout": 300}
    status, body = api(
        "POST", "kernels", {"name": "n", "display_name": "N", "spec": spec, "probe": False,
                            "slurm": slurm},
    )  # fmt: skip
    assert status == 201, body
    assert body["slurm"] == {"partition": "gpu", "time": "2:00:00", "gres": "gpu:1",
                             "pending_timeout": 300.0}  # fmt: skip
    status, body = api("PATCH", "kernels/n", {"display_name": "Renamed"})
    assert body["slurm"]["partition"] == "gpu", "kept when not named"
    status, body = api("PATCH", "kernels/n", {"slurm": {"nodes": 4}})
    assert status == 400 and "one node" in body["message"]
    status, body = api("PATCH", "kernels/n", {"slurm": None})
    assert status == 200 and "slurm" not in body, "runs where the server runs again"


def test_the_register_form_previews_the_sbatch_lines_with_the_sites_defaults(
    api: Any, jp_server_config: Config
) -> None:
    status, body = api(
        "POST", "node-kernels/preview", {"slurm": {"partition": "gpu", "gres": "gpu:1"}}
    )
    assert status == 200
    assert body["sbatch"][:2] == ["#SBATCH --partition=gpu", "#SBATCH --gres=gpu:1"]
    assert "#SBATCH --nodes=1" in body["sbatch"]
    status, body = api("POST", "node-kernels/preview", {"slurm": {"mem": "lots"}})
    assert status == 400 and body["message"].startswith("slurm.mem:")


def test_a_pull_that_installs_a_node_kernel_checks_its_slurm_settings_first(api: Any) -> None:
    body = {
        "source": "docker://registry.example.org/team/torch:2.7",
        "install": {"display_name": "Torch", "slurm": {"time": "2 hours"}},
    }
    status, answer = api("POST", "images/pulls", body)
    assert status == 400 and answer["message"].startswith("install.slurm.time:")
