"""What a user sees when a container kernel cannot start, or dies: a message that names the
cause and the fix, within seconds, and nothing left behind.

Every kernel starts as JupyterLab's server starts it (jupyter_client's AsyncKernelManager from
a kernel.json), on the real parts: ch-run, the Apptainer stand-in, Lmod, the test images. Each
failure is timed (``start_fails``: under 5 s, printed in the "fault time-to-message" summary).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from jupyter_client.jsonutil import json_default
from jupyter_client.session import Session
from tornado.httpclient import HTTPClientError
from traitlets.config import Config

from jupyter_container_kernels.errors import (
    ImageError,
    KernelStartError,
    ModuleLoadError,
    RuntimeNotFoundError,
)
from jupyter_container_kernels.registry import probe
from jupyter_container_kernels.site import SiteConfig
from jupyter_container_kernels.spec import ContainerSpec

from .conftest import FAIL_WITHIN

Make = Callable[..., str]


def config_for(runtime: str, image: str, **more: Any) -> dict[str, Any]:
    """Charliecloud directly, or Apptainer (the stand-in) from its module, as a site would."""
    modules = ["apptainer"] if runtime == "apptainer" else []
    return {
        "image": image,
        "runtime": runtime,
        "modules": modules + more.pop("modules", []),
        **more,
    }


# -- the image ----------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", ["charliecloud", "apptainer"])
async def test_a_missing_image_is_named_before_anything_starts(
    runtime: str, lmod_env: dict[str, str], make_container_kernel: Make, start_fails: Any
) -> None:
    image = "/nonexistent/images/pytorch-2.7.sif"
    name = make_container_kernel("gone", config_for(runtime, image))
    message = await start_fails(name, ImageError)
    assert message == (
        f"The image {image} does not exist (its directory /nonexistent/images does not exist "
        "either). Point the kernel's 'image' setting at an existing image (or register the "
        "kernel again), or put the image back."
    )


async def test_a_truncated_squashfs_image_fails_with_ch_runs_message(
    corrupt_squashfs: str, lmod_env: dict[str, str], make_container_kernel: Make, start_fails: Any
) -> None:
    name = make_container_kernel("corrupt", config_for("charliecloud", corrupt_squashfs))
    message = await start_fails(name, KernelStartError)
    assert message.startswith(
        "The container exited with status 1 while the kernel was starting (runtime "
        f"charliecloud, image {corrupt_squashfs}). Last lines on stderr:\n"
    )
    assert f"can't open SquashFS: {corrupt_squashfs}" in message
    assert "The command was: " in message and "ch-run" in message


async def test_a_truncated_sif_fails_with_the_runtimes_fatal_line(
    truncated_sif: str, lmod_env: dict[str, str], make_container_kernel: Make, start_fails: Any
) -> None:
    name = make_container_kernel("badsif", config_for("apptainer", truncated_sif))
    message = await start_fails(name, KernelStartError)
    assert message.startswith(
        "The container exited with status 255 while the kernel was starting (runtime "
        f"apptainer, image {truncated_sif}). Last lines on stderr:\n"
    )
    # Real Apptainer says "FATAL: ... image format not recognized"; the stand-in refuses every
    # file image. Either way the runtime's FATAL line reaches the user.
    assert "FATAL:   stand-in cannot run SIF files" in message


# -- the runtime --------------------------------------------------------------------------------


async def test_no_ch_run_on_path_names_the_three_fixes(
    test_image: str,
    lmod_env: dict[str, str],
    make_container_kernel: Make,
    start_fails: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    name = make_container_kernel("noch", config_for("charliecloud", test_image))
    message = await start_fails(name, RuntimeNotFoundError)
    assert message == (
        f"The charliecloud runtime ('ch-run') was not found on PATH '{empty}' (after loading "
        "the kernel's modules). Add the module that provides it to the kernel's 'modules' "
        '(e.g. "modules": ["charliecloud"]), set c.SiteConfig.runtime_paths = '
        "{'charliecloud': '/path/to/ch-run'}, or install it."
    )


async def test_a_site_runtime_path_pointing_nowhere_names_the_setting(
    test_image: str, lmod_env: dict[str, str], make_container_kernel: Make, start_fails: Any
) -> None:
    site = Config({"SiteConfig": {"runtime_paths": {"charliecloud": "/opt/nowhere/ch-run"}}})
    name = make_container_kernel("nowhere", config_for("charliecloud", test_image))
    message = await start_fails(name, RuntimeNotFoundError, config=site)
    assert message == (
        "c.SiteConfig.runtime_paths['charliecloud'] is /opt/nowhere/ch-run, which is not an "
        "executable file. Fix that path in the Jupyter config."
    )


# -- modules ------------------------------------------------------------------------------------


async def test_an_unknown_module_fails_with_lmods_own_message(
    test_image: str, lmod_env: dict[str, str], make_container_kernel: Make, start_fails: Any
) -> None:
    config = config_for("charliecloud", test_image, modules=["cuda/99.9"])
    name = make_container_kernel("nomodule", config)
    message = await start_fails(name, ModuleLoadError)
    assert message.startswith(
        "`module load cuda/99.9` failed (exit status 1):\n"
        "Lmod has detected the following error: The following module(s) are unknown:\n"
        '"cuda/99.9"\n'
    )
    assert message.endswith(
        "Fix the module names in the kernel's 'modules' (see `module avail`), or ask your site "
        "why the module fails to load."
    )


# -- the kernel inside ------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", ["charliecloud", "apptainer"])
async def test_an_image_without_ipykernel_says_to_install_it(
    runtime: str,
    bare_image: str,
    lmod_env: dict[str, str],
    make_container_kernel: Make,
    start_fails: Any,
) -> None:
    name = make_container_kernel("bare", config_for(runtime, bare_image))
    message = await start_fails(name, KernelStartError)
    assert message.startswith(
        f"The container exited with status 1 while the kernel was starting (runtime {runtime}, "
        f"image {bare_image}). Last lines on stderr:\n"
    )
    assert "/usr/bin/python3: No module named ipykernel_launcher" in message
    assert (
        "The image's Python has no ipykernel: install it in the image (pip install ipykernel), "
        "or make argv[0] of the kernel the image's interpreter that has it.\n"
    ) in message


async def test_a_kernel_command_that_exits_silently_says_so(
    test_image: str, lmod_env: dict[str, str], make_container_kernel: Make, start_fails: Any
) -> None:
    name = make_container_kernel(
        "false",
        config_for("charliecloud", test_image, python="/bin/false"),
        argv=["/bin/false", "-f", "{connection_file}"],
    )
    message = await start_fails(name, KernelStartError)
    assert message.startswith(
        "The container exited with status 1 while the kernel was starting (runtime "
        f"charliecloud, image {test_image}). Last lines on stderr:\n(nothing on stderr)\n"
    )
    assert message.endswith(" -- /bin/false -f " + message.rsplit(" -f ", 1)[1])


async def test_a_kernel_command_that_fails_shows_its_stderr(
    test_image: str, lmod_env: dict[str, str], make_container_kernel: Make, start_fails: Any
) -> None:
    script = "echo 'jck: /opt/site/startup.py: permission denied' >&2; exit 3"
    name = make_container_kernel(
        "dies", config_for("charliecloud", test_image), argv=["/bin/sh", "-c", script]
    )
    message = await start_fails(name, KernelStartError)
    assert message.startswith(
        "The container exited with status 3 while the kernel was starting (runtime "
        f"charliecloud, image {test_image}). Last lines on stderr:\n"
        "jck: /opt/site/startup.py: permission denied\n"
    )


# -- a kernel killed while it runs, seen through jupyter_server as JupyterLab sees it ----------


@pytest.fixture
def rest(jp_fetch: Any) -> Callable[..., Any]:
    """``await rest(method, *path, body=None) -> (status, json)`` on the server's ``/api``."""

    async def call(method: str, *path: str, body: Any = None) -> tuple[int, Any]:
        try:
            response = await jp_fetch(
                "api",
                *path,
                method=method,
                body=json.dumps(body or {}) if method == "POST" else None,
            )
        except HTTPClientError as err:
            assert err.response is not None
            response = err.response
        return response.code, (json.loads(response.body) if response.body else None)

    return call


class Channels:
    """The kernel's websocket, as JupyterLab holds it: status messages and code execution."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.session = Session()

    async def status(self, wanted: str, timeout: float) -> float:
        """Seconds until an iopub ``status`` of ``wanted`` arrives."""
        began = time.monotonic()
        while True:
            left = timeout - (time.monotonic() - began)
            assert left > 0, f"no {wanted!r} status within {timeout} s"
            raw = await asyncio.wait_for(self.ws.read_message(), left)
            assert raw is not None, "the websocket closed"
            msg = json.loads(raw)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == wanted:
                return time.monotonic() - began

    async def execute(self, code: str, timeout: float = 30) -> str:
        """Run ``code``; its stdout. Sent again while the kernel is not there yet."""
        began = time.monotonic()
        while True:
            msg = self.session.msg(
                "execute_request",
                {"code": code, "silent": False, "store_history": False, "allow_stdin": False},
            )
            msg["channel"] = "shell"
            await self.ws.write_message(json.dumps(msg, default=json_default))
            out: list[str] = []
            while True:
                left = timeout - (time.monotonic() - began)
                assert left > 0, f"no reply to {code!r} within {timeout} s"
                try:
                    reply = json.loads(await asyncio.wait_for(self.ws.read_message(), min(left, 5)))
                except asyncio.TimeoutError:
                    break  # sent to a kernel that was not up yet: send again
                if reply.get("parent_header", {}).get("msg_id") != msg["header"]["msg_id"]:
                    continue
                if reply["msg_type"] == "stream":
                    out.append(reply["content"]["text"])
                elif reply["msg_type"] == "error":
                    raise AssertionError("\n".join(reply["content"]["traceback"]))
                elif (
                    reply["msg_type"] == "status" and reply["content"]["execution_state"] == "idle"
                ):
                    return "".join(out)  # after every output on iopub


def _tree(serverapp: Any, kernel_id: str) -> list[psutil.Process]:
    pid = serverapp.kernel_manager.get_kernel(kernel_id).provisioner.pid
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _gone(processes: list[psutil.Process]) -> None:
    _, alive = psutil.wait_procs(processes, timeout=5)
    assert not alive, f"left behind: {[(p.pid, p.cmdline()) for p in alive]}"


MARKER = "print(open('/etc/jck-test-image').read().strip(), os.getpid())"


async def _started(
    serverapp: Any, rest: Any, jp_ws_fetch: Any, name: str
) -> tuple[str, Channels, list[psutil.Process]]:
    status, kernel = await rest("POST", "kernels", body={"name": name})
    assert status == 201, kernel
    ws = await jp_ws_fetch("api", "kernels", kernel["id"], "channels")
    channels = Channels(ws)
    assert (await channels.execute(f"import os; {MARKER}")).startswith("py-ipykernel ")
    return kernel["id"], channels, _tree(serverapp, kernel["id"])


async def test_a_kernel_killed_with_sigkill_is_restarted_and_lab_is_told(
    jp_serverapp: Any,
    rest: Any,
    jp_ws_fetch: Any,
    make_container_kernel: Make,
    test_image: str,
    lmod_env: dict[str, str],
    timed: Callable[[float], None],
) -> None:
    """Default settings: jupyter_client's restarter (heartbeat every 3 s) notices, JupyterLab
    gets "restarting" ("The kernel appears to have died. It will restart automatically."), and
    a new container replaces the dead one; the user's own Restart works afterwards too."""
    name = make_container_kernel("victim", config_for("charliecloud", test_image))
    kernel_id, channels, first = await _started(jp_serverapp, rest, jp_ws_fetch, name)
    try:
        os.kill(first[0].pid, signal.SIGKILL)
        elapsed = await channels.status("restarting", timeout=FAIL_WITHIN)
        timed(elapsed)
        _gone(first)
        again = await channels.execute(f"import os; {MARKER}")
        assert again.startswith("py-ipykernel ")
        second = _tree(jp_serverapp, kernel_id)
        assert {p.pid for p in second}.isdisjoint(p.pid for p in first)
        status, model = await rest("GET", "kernels", kernel_id)
        assert status == 200 and model["name"] == name

        status, model = await rest("POST", "kernels", kernel_id, "restart")
        assert status == 200 and model["id"] == kernel_id, model
        _gone(second)
        assert (await channels.execute(f"import os; {MARKER}")).startswith("py-ipykernel ")
    finally:
        channels.ws.close()
        last = _tree(jp_serverapp, kernel_id)
        assert (await rest("DELETE", "kernels", kernel_id))[0] == 204
    _gone(last)


@pytest.fixture
def restart_limit() -> int | None:
    """jupyter_client's automatic restarts (None: its default, 5)."""
    return None


@pytest.fixture
def jp_server_config(restart_limit: int | None) -> Config:
    if restart_limit is None:
        return Config()
    return Config({"AsyncIOLoopKernelRestarter": {"restart_limit": restart_limit}})


@pytest.mark.parametrize("restart_limit", [0])
async def test_a_killed_kernel_that_may_not_restart_is_reported_dead(
    restart_limit: int,
    jp_serverapp: Any,
    rest: Any,
    jp_ws_fetch: Any,
    make_container_kernel: Make,
    test_image: str,
    lmod_env: dict[str, str],
    timed: Callable[[float], None],
) -> None:
    """With ``restart_limit = 0`` JupyterLab gets "dead" ("The kernel has died, and the
    automatic restart has failed") and the server forgets the kernel; nothing is left, and a
    new kernel of the same spec starts."""
    name = make_container_kernel("mortal", config_for("charliecloud", test_image))
    kernel_id, channels, first = await _started(jp_serverapp, rest, jp_ws_fetch, name)
    try:
        os.kill(first[0].pid, signal.SIGKILL)
        elapsed = await channels.status("dead", timeout=FAIL_WITHIN)
        timed(elapsed)
    finally:
        channels.ws.close()
    _gone(first)
    status, error = await rest("GET", "kernels", kernel_id)
    assert status == 404 and error["message"] == f"Kernel does not exist: {kernel_id}"
    kernel_id, channels, fresh = await _started(jp_serverapp, rest, jp_ws_fetch, name)
    channels.ws.close()
    assert (await rest("DELETE", "kernels", kernel_id))[0] == 204
    _gone(fresh)


# -- the probe cache --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"{not json", id="garbage"),
        pytest.param(b"\xff\xfe\x00binary", id="not-utf8"),
        pytest.param(b"[1, 2, 3]", id="a-list"),
        pytest.param(b'{"version": 1, "entries": ["x"]}', id="entries-a-list"),
        pytest.param(b'{"version": 1, "entries": {"KEY": "yes"}}', id="entry-a-string"),
        pytest.param(
            b'{"version": 1, "entries": {"KEY": {"ok": true, "colour": "red"}}}',
            id="entry-wrong-fields",
        ),
        pytest.param(
            b'{"version": 1, "entries": {"KEY": {"ok": "yes", "message": 7, '
            b'"python_version": null, "ipykernel_version": 6, "platform": [], '
            b'"packages": "torch"}}}',
            id="entry-wrong-types",
        ),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-too-deep"),
    ],
)
async def test_a_corrupt_probe_cache_is_ignored_and_rewritten(
    content: bytes, test_image: str, jp_environ: None, lmod_env: dict[str, str]
) -> None:
    spec = ContainerSpec.from_dict({"image": test_image, "runtime": "charliecloud"})
    path = probe.cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = probe.cache_key(spec)
    assert key is not None
    path.write_bytes(content.replace(b'"KEY"', json.dumps(key).encode()))

    assert probe.cached_probe(spec) is None  # no crash, no wrong-typed result on a listing
    result = await probe.probe_image(spec, site=SiteConfig())
    assert result.ok is True and result.cached is False
    assert result.ipykernel_version == "6.17.0"

    rewritten = json.loads(path.read_text())
    assert rewritten["version"] == probe.CACHE_VERSION
    assert list(rewritten["entries"]) == [key]
    again = probe.cached_probe(spec)
    assert again is not None and again.cached is True and again.message == result.message


async def test_a_cache_that_cannot_be_written_only_costs_a_probe(
    test_image: str, jp_environ: None, lmod_env: dict[str, str]
) -> None:
    spec = ContainerSpec.from_dict({"image": test_image, "runtime": "charliecloud"})
    path = probe.cache_path()
    path.mkdir(parents=True)  # a directory where the file belongs
    for _ in range(2):
        result = await probe.probe_image(spec, site=SiteConfig())
        assert result.ok is True and result.cached is False
    assert probe.cached_probe(spec) is None
    assert sorted(os.listdir(path.parent)) == [path.name], "no temporary file left"


# -- a kernel that rewrites its connection file after its heartbeat answers ----------------------

#: What ipykernel does at start (kernelapp.initialize: init_sockets, init_heartbeat, then
#: write_connection_file), with the rewrite slowed down as on a loaded node or a slow shared
#: filesystem: the heartbeat answers while the connection file is empty.
SLOW_REWRITE = """\
import json, sys, threading, time, zmq
path = sys.argv[1]
with open(path) as f:
    info = json.load(f)
hb = zmq.Context.instance().socket(zmq.REP)
hb.bind(f"tcp://{info['ip']}:{info['hb_port']}")
def echo():
    while True:
        hb.send(hb.recv())
threading.Thread(target=echo, daemon=True).start()
with open(path, "w") as f:  # truncated now, written a second later
    time.sleep(1.0)
    json.dump(info, f)
time.sleep(600)
"""


async def test_a_kernel_rewriting_its_connection_file_after_the_heartbeat_still_starts(
    test_image: str, lmod_env: dict[str, str], make_container_kernel: Make
) -> None:
    from jupyter_client.manager import AsyncKernelManager

    name = make_container_kernel(
        "rewrites",
        config_for("charliecloud", test_image),
        argv=["python3", "-c", SLOW_REWRITE, "{connection_file}"],
    )
    km = AsyncKernelManager(kernel_name=name)
    children = {p.pid for p in psutil.Process().children(recursive=True)}
    try:
        await km.start_kernel()
        assert await km.is_alive()
        assert km.get_connection_info()["hb_port"] == km.hb_port
    finally:
        if km.has_kernel:
            await km.shutdown_kernel(now=True)
        left = [p for p in psutil.Process().children(recursive=True) if p.pid not in children]
        _, alive = psutil.wait_procs(left, timeout=5)
        for p in alive:  # do not leave it to the next test; the assertion below reports it
            p.kill()
        assert not alive, f"left behind: {[(p.pid, p.cmdline()) for p in alive]}"
