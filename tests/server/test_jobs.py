"""Batch jobs over REST against the real single-node Slurm and the Charliecloud test image."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_server.serverapp import ServerApp
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer

from jupyter_container_kernels.batch.records import JobRecord, JobStore

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"}


@pytest.fixture
def allowed_image_roots(image_root: Path, test_image: str) -> list[str]:
    """The jobs' kernel runs the test image: its directory is an allowed root."""
    return [str(image_root), os.path.dirname(test_image)]


@pytest.fixture
def job_env(jp_environ: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs inherit the server's environment through sbatch; ch-run needs $USER."""
    if not os.environ.get("USER"):
        import pwd

        monkeypatch.setenv("USER", pwd.getpwuid(os.getuid()).pw_name)


@pytest.fixture
def kernel(job_env: None, make_container_kernel: Callable[..., str], test_image: str) -> str:
    return make_container_kernel("jck-server", {"image": test_image, "runtime": "charliecloud"})


def wait_for_state(
    aapi: Any, run: Any, job_id: str, states: set[str], timeout: float = 180
) -> dict:
    """GET jobs/{id} (the shared watcher's view) until the job is in one of ``states``."""

    async def poll() -> dict:
        deadline = time.monotonic() + timeout
        while True:
            status, job = await aapi("GET", f"jobs/{job_id}")
            assert status == 200, job
            if job["state"] in states:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s: {job}")
            await asyncio.sleep(0.3)

    return run(poll())


def test_submit_runs_the_notebook_in_the_container_to_completed(
    slurm_cluster: None,
    kernel: str,
    write_notebook: Any,
    api: Any,
    aapi: Any,
    run: Any,
    jp_root_dir: Path,
) -> None:
    write_notebook(
        "work/analysis.ipynb",
        kernel,
        [
            ("greeting = 'hi'", ["parameters"]),
            "print(open('/etc/jck-test-image').read().strip(), greeting * 2)",
        ],
    )
    status, job = api(
        "POST",
        "jobs",
        {
            "notebook": "work/analysis.ipynb",
            "parameters": {"greeting": "yo"},
            "resources": {"time": "00:10:00", "job_name": "server-test"},
        },
    )
    assert status == 201, job
    assert job["notebook"] == "work/analysis.ipynb" and job["kernel"] == kernel
    assert job["name"] == "server-test" and job["id"].isdigit()
    assert job["output_notebooks"] and not os.path.isabs(job["output_notebooks"][0])

    done = wait_for_state(aapi, run, job["id"], TERMINAL)
    assert done["state"] == "COMPLETED", done
    assert done["exit_code"] == 0 and done["ended"] and isinstance(done["log_tail"], str)
    out = nbformat.read(jp_root_dir / done["output_notebooks"][0], as_version=4)
    printed = "".join(o.get("text", "") for o in out.cells[-1].outputs)
    assert printed == "py-ipykernel yoyo\n"

    status, listing = api("GET", "jobs")
    assert status == 200 and [j["id"] for j in listing["jobs"]] == [job["id"]]


def test_a_running_job_is_cancelled(
    slurm_cluster: None, kernel: str, write_notebook: Any, api: Any, aapi: Any, run: Any
) -> None:
    write_notebook("slow.ipynb", kernel, ["import time\ntime.sleep(600)"])
    status, job = api("POST", "jobs", {"notebook": "slow.ipynb"})
    assert status == 201, job
    wait_for_state(aapi, run, job["id"], {"RUNNING"} | TERMINAL)
    status, cancelled = api("DELETE", f"jobs/{job['id']}")
    assert status == 200 and cancelled["id"] == job["id"]
    assert wait_for_state(aapi, run, job["id"], TERMINAL)["state"] == "CANCELLED"


def test_preview_shows_the_script_a_submit_would_use(
    slurm_cluster: None, kernel: str, write_notebook: Any, api: Any, jp_root_dir: Path
) -> None:
    write_notebook("nb.ipynb", kernel, ["1"])
    status, body = api(
        "POST",
        "batch/preview",
        {"notebook": "nb.ipynb", "resources": {"partition": "gpu", "gres": "gpu:1", "nodes": 1}},
    )
    assert status == 200, body
    directives = [line for line in body["script"].splitlines() if line.startswith("#SBATCH")]
    assert any("--partition" in d and "gpu" in d for d in directives), directives
    assert any("--gres" in d and "gpu:1" in d for d in directives), directives
    status, listing = api("GET", "jobs")
    assert listing == {"jobs": []}, "a preview submits nothing"
    assert [p.name for p in jp_root_dir.iterdir()] == ["nb.ipynb"], "a preview writes nothing"


def test_invalid_submits_are_400_naming_the_field(
    kernel: str, write_notebook: Any, api: Any
) -> None:
    write_notebook("nb.ipynb", kernel, ["1"])
    cases = {
        "resources.time": {"notebook": "nb.ipynb", "resources": {"time": "soon\n#SBATCH --x"}},
        "mode": {"notebook": "nb.ipynb", "mode": "interactive"},
        "kernel": {"notebook": "nb.ipynb", "kernel": "no such/kernel"},
        "colour": {"notebook": "nb.ipynb", "colour": "blue"},
        "notebook": {"kernel": kernel},
    }
    for field, body in cases.items():
        status, error = api("POST", "jobs", body)
        assert status == 400, (field, error)
        assert error["message"].startswith(field), (field, error["message"])


def test_unknown_jobs_and_kernels_are_404(kernel: str, write_notebook: Any, api: Any) -> None:
    for method in ("GET", "DELETE"):
        status, error = api(method, "jobs/424242")
        assert status == 404 and "424242" in error["message"]
    status, error = api("GET", "jobs/not-a-job")
    assert status == 404
    write_notebook("nb.ipynb", kernel, ["1"])
    status, error = api("POST", "batch/preview", {"notebook": "nb.ipynb", "kernel": "nosuch"})
    assert status == 404 and "nosuch" in error["message"]


def test_a_log_that_blocks_does_not_stall_the_server(
    extension: Any, aapi: Any, run: Any, jp_root_dir: Path
) -> None:
    """The log is read off the event loop: a log on a hung file system (here a FIFO nobody
    writes to) holds up that one answer, not every other request."""
    log = jp_root_dir / "stuck.log"
    os.mkfifo(log)
    JobStore(extension.batch.jobs_dir).save(
        JobRecord(
            id="4242",
            name="stuck",
            notebook=str(jp_root_dir / "stuck.ipynb"),
            kernel="k",
            mode="notebook",
            output_dir=str(jp_root_dir),
            script_path=str(jp_root_dir / "stuck.sbatch"),
            log_path=str(log),
            state="COMPLETED",
        )
    )

    def release() -> None:  # the file system comes back after 5 s
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.close(os.open(log, os.O_WRONLY | os.O_NONBLOCK))
                return
            except OSError:  # no reader yet
                time.sleep(0.1)

    async def scenario() -> tuple[float, Any, Any]:
        start = time.monotonic()
        stuck = asyncio.ensure_future(aapi("GET", "jobs/4242"))
        await asyncio.sleep(0.5)  # its handler is reading the log now
        listing = await aapi("GET", "jobs")
        answered = time.monotonic() - start
        return answered, listing, await stuck

    releaser = threading.Timer(5, release)
    releaser.start()
    try:
        answered, listing, stuck = run(scenario())
    finally:
        releaser.join()
    assert listing[0] == 200 and [j["id"] for j in listing[1]["jobs"]] == ["4242"]
    assert answered < 3, f"GET jobs waited {answered:.1f} s for another request's log"
    assert stuck[0] == 200 and stuck[1]["log_tail"] == ""


@pytest.fixture
def dead_slurm(tmp_path: Path, jp_server_config: Any) -> Any:
    """A slurm.conf whose controller never answers (nothing listens on its port)."""
    conf = tmp_path / "dead-slurm.conf"
    conf.write_text(
        "ClusterName=dead\nSlurmctldHost=dead(127.0.0.1)\nSlurmctldPort=9\n"
        "NodeName=dead CPUs=1\nPartitionName=debug Nodes=dead Default=YES\n"
    )
    jp_server_config.Slurm.slurm_conf = str(conf)
    jp_server_config.Slurm.timeout = 20.0
    return jp_server_config


def test_slurm_down_is_503_and_reported_by_environment(
    dead_slurm: Any, kernel: str, write_notebook: Any, api: Any
) -> None:
    write_notebook("nb.ipynb", kernel, ["1"])
    status, error = api("POST", "jobs", {"notebook": "nb.ipynb"})
    assert status == 503, error
    assert "Slurm is not reachable" in error["message"]
    assert "Unable to contact slurm controller" in error["message"]
    status, env = api("GET", "environment")
    assert status == 200
    assert env["slurm"]["available"] is False and env["slurm"]["partitions"] == []
    assert "not reachable" in env["slurm"]["message"]
    assert api("GET", "jobs") == (200, {"jobs": []})


def test_environment_lists_the_partitions(slurm_cluster: None, api: Any) -> None:
    status, env = api("GET", "environment")
    assert status == 200
    assert env["slurm"]["available"] is True
    partitions = {p["name"]: p for p in env["slurm"]["partitions"]}
    assert set(partitions) == {"debug", "gpu"}
    assert partitions["debug"]["default"] is True and partitions["gpu"]["default"] is False
    assert "gpu:2" in (partitions["debug"]["gres"] or "")


def _free_socket() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    return sock


def test_a_server_restart_keeps_the_job_list(
    slurm_cluster: None,
    kernel: str,
    write_notebook: Any,
    api: Any,
    run: Any,
    jp_serverapp: Any,
    jp_server_config: Any,
    jp_configurable_serverapp: Any,
) -> None:
    write_notebook("nb.ipynb", kernel, ["print('kept')"])
    status, job = api("POST", "jobs", {"notebook": "nb.ipynb"})
    assert status == 201

    # Stop the first server (the extension stops its watcher), start a new one on the same
    # directories and ask it over HTTP.
    run(jp_serverapp._cleanup())
    ServerApp.clear_instance()
    second = jp_configurable_serverapp(config=jp_server_config)
    assert second is not jp_serverapp
    run(second._post_start())
    sock = _free_socket()
    server = HTTPServer(second.web_app)
    server.add_sockets([sock])
    port = sock.getsockname()[1]
    token = second.identity_provider.token
    base = f"http://127.0.0.1:{port}{second.base_url}container-kernels/"

    async def get(path: str) -> Any:
        response = await AsyncHTTPClient().fetch(
            base + path, headers={"Authorization": f"token {token}"}
        )
        return json.loads(response.body)

    try:
        jobs = run(get("jobs"))["jobs"]
        assert [j["id"] for j in jobs] == [job["id"]]
        assert jobs[0]["notebook"] == "nb.ipynb"

        async def until_done() -> dict:
            deadline = time.monotonic() + 180
            while True:
                current = await get(f"jobs/{job['id']}")
                if current["state"] in TERMINAL or time.monotonic() > deadline:
                    return current
                await asyncio.sleep(0.3)

        # the new server's watcher follows the job the old one submitted
        assert run(until_done())["state"] == "COMPLETED"
    finally:
        server.stop()
