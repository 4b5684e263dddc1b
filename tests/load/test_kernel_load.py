"""Twenty container kernels started at once through jupyter_server, as twenty JupyterLab tabs
opening notebooks after a server restart would.

Each kernel runs the Charliecloud test image with one module (``jck-counted/1.0``, written
here). That modulefile appends a line to ``$JCK_MODULE_LOAD_LOG`` every time Lmod loads it, so
the log counts the real ``module load`` runs independently of :mod:`.modules`' own counters.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from jupyter_server.utils import url_path_join
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from jupyter_container_kernels import modules

pytestmark = pytest.mark.load

KERNELS = int(os.environ.get("JCK_LOAD_KERNELS", "20"))
#: Seconds each batch of starts may take on a 2-core machine (it takes ~10 s there).
BATCH_DEADLINE = 40.0
PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")

COUNTING_MODULEFILE = """\
-- One line in $JCK_MODULE_LOAD_LOG per `module load` (tests/load counts resolutions).
setenv("JCK_COUNTED", "1.0")
if mode() == "load" then
  local log = os.getenv("JCK_MODULE_LOAD_LOG")
  if log then
    local f = io.open(log, "a")
    f:write("load\\n")
    f:close()
  end
end
"""


@pytest.fixture
def load_log(lmod_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The log the counting module writes; its modulefile is first on MODULEPATH."""
    folder = tmp_path / "modulefiles" / "jck-counted"
    folder.mkdir(parents=True)
    (folder / "1.0.lua").write_text(COUNTING_MODULEFILE)
    monkeypatch.setenv("MODULEPATH", f"{folder.parent}:{lmod_env['MODULEPATH']}")
    log = tmp_path / "module-loads.log"
    log.touch()
    monkeypatch.setenv("JCK_MODULE_LOAD_LOG", str(log))
    modules.clear_cache()
    return log


Post = Callable[[str], Awaitable[dict[str, Any]]]


@pytest.fixture
def post_kernel(
    jp_serverapp: Any, http_server_client: Any, jp_base_url: str, jp_auth_header: Any
) -> Any:
    """``await post(name) -> kernel model``: ``POST /api/kernels`` on a client of its own that
    sends all requests at once (pytest-jupyter's queues all but 10)."""
    clients: list[AsyncHTTPClient] = []
    url = http_server_client.get_url(url_path_join(jp_base_url, "api/kernels"))

    async def post(name: str) -> dict[str, Any]:
        if not clients:  # made on the server's loop, where the test runs
            clients.append(AsyncHTTPClient(force_instance=True, max_clients=KERNELS * 2))
        client = clients[0]
        request = HTTPRequest(
            url,
            method="POST",
            body=json.dumps({"name": name}),
            headers=dict(jp_auth_header),
            request_timeout=BATCH_DEADLINE * 2,
        )
        response = await client.fetch(request, raise_error=False)
        assert response.code == 201, response.body.decode()[-3000:]
        return json.loads(response.body)

    yield post
    for client in clients:
        client.close()


async def start_batch(serverapp: Any, post: Post, name: str) -> tuple[float, list[str]]:
    """Start ``KERNELS`` kernels at once and wait until every one answers kernel_info."""
    began = time.monotonic()
    models = await asyncio.gather(*(post(name) for _ in range(KERNELS)))
    ids = [m["id"] for m in models]

    async def ready(kernel_id: str) -> None:
        client = serverapp.kernel_manager.get_kernel(kernel_id).client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=BATCH_DEADLINE)
        finally:
            client.stop_channels()

    await asyncio.gather(*(ready(i) for i in ids))
    return time.monotonic() - began, ids


def trees(serverapp: Any, ids: list[str]) -> list[psutil.Process]:
    out = []
    for kernel_id in ids:
        root = psutil.Process(serverapp.kernel_manager.get_kernel(kernel_id).provisioner.pid)
        out += [root, *root.children(recursive=True)]
    return out


def assert_distinct_ports(serverapp: Any, ids: list[str]) -> None:
    used = [
        serverapp.kernel_manager.get_kernel(i).get_connection_info()[p] for i in ids for p in PORTS
    ]
    clashes = sorted({p for p in used if used.count(p) > 1})
    assert not clashes, f"ports used by more than one kernel: {clashes}"


async def shut_down(serverapp: Any, ids: list[str]) -> None:
    processes = trees(serverapp, ids)
    await asyncio.gather(*(serverapp.kernel_manager.shutdown_kernel(i) for i in ids))
    _, alive = psutil.wait_procs(processes, timeout=10)
    assert not alive, f"left behind: {[(p.pid, p.cmdline()) for p in alive]}"


def own_kernel_processes() -> list[psutil.Process]:
    return [
        p
        for p in psutil.Process().children(recursive=True)
        if any(word in " ".join(p.cmdline()) for word in ("ch-run", "ipykernel"))
    ]


async def test_twenty_kernels_start_at_once_sharing_one_module_load_and_leave_nothing(
    jp_serverapp: Any,
    post_kernel: Post,
    make_container_kernel: Callable[..., str],
    test_image: str,
    load_log: Path,
) -> None:
    name = make_container_kernel(
        "loaded", {"image": test_image, "runtime": "charliecloud", "modules": ["jck-counted/1.0"]}
    )
    assert own_kernel_processes() == []

    # Cold: nothing resolved yet. Every kernel starts, on ports of its own.
    cold, ids = await start_batch(jp_serverapp, post_kernel, name)
    try:
        assert len(set(ids)) == KERNELS
        assert_distinct_ports(jp_serverapp, ids)
        assert cold < BATCH_DEADLINE
        # Twenty starts wanted the same modules at once: one `module load` served them all.
        assert load_log.read_text().splitlines() == ["load"]
        assert modules.cache_info().misses == 1
    finally:
        await shut_down(jp_serverapp, ids)

    # Warm: the environment comes from the cache; not one more `module load`.
    warm, ids = await start_batch(jp_serverapp, post_kernel, name)
    try:
        assert_distinct_ports(jp_serverapp, ids)
        assert warm < BATCH_DEADLINE
        assert load_log.read_text().splitlines() == ["load"]
        assert modules.cache_info() == modules.CacheInfo(hits=2 * KERNELS - 1, misses=1, size=1)
    finally:
        await shut_down(jp_serverapp, ids)

    assert jp_serverapp.kernel_manager.list_kernel_ids() == []
    assert own_kernel_processes() == []
    print(f"\n{KERNELS} kernels at once: cold {cold:.1f} s, warm {warm:.1f} s")
