"""A Jupyter server that shuts down leaves no node kernel job behind: the running kernel's job
ends with its kernel, the one still waiting in the queue is cancelled."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

from .conftest import queue, wait_until


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(url: str, token: str, body: dict[str, Any], timeout: float) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def test_a_server_shut_down_ends_its_running_and_waiting_node_kernels_jobs(
    cluster_env: Any,
    make_container_kernel: Any,
    test_image: str,
    lmod_env: Any,
    tmp_path: Path,
) -> None:
    name = make_container_kernel(
        "node", {"image": test_image, "runtime": "charliecloud", "slurm": {"cpus_per_task": 1}}
    )
    port, token = _port(), secrets.token_hex(8)
    env = {**os.environ, "USER": os.environ.get("USER", "root")}
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--allow-root", "--no-browser",
         "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={tmp_path}",
         "--ServerApp.jpserver_extensions=jupyter_container_kernels=True"],
        env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}/api/sessions"
    blocker = None
    try:
        wait_until(lambda: _up(port), 60, "jupyter server answering")
        running = _post(base, token, _session("a.ipynb", name), 120)["kernel"]["id"]
        # the node has 8 CPUs: this one takes the 7 left, so the next kernel waits
        blocker = cluster_env.run(
            "sbatch", "--parsable", "-c", "7", "-o", "/dev/null", "--wrap", "sleep 600"
        ).strip()
        waiting = threading.Thread(
            target=lambda: _quietly(_post, base, token, _session("b.ipynb", name), 60),
            daemon=True,
        )
        waiting.start()
        wait_until(lambda: len(queue(cluster_env)) == 3, 20, "the second kernel's job queued")
        assert running
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        wait_until(lambda: queue(cluster_env) == [blocker], 10, "only the blocker is left")
    finally:
        if server.poll() is None:
            server.kill()
        if blocker:
            cluster_env.run("scancel", blocker, check=False)
        log.close()


def _session(path: str, kernel: str) -> dict[str, Any]:
    return {"path": path, "type": "notebook", "kernel": {"name": kernel}}


def _up(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2)
    except urllib.error.HTTPError:
        return True  # 403 without the token: it answers
    except OSError:
        return False
    return True


def _quietly(function: Any, *args: Any) -> None:
    with contextlib.suppress(Exception):  # the start fails as the server goes: the point
        function(*args)
