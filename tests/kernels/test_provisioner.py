"""The container provisioner with real ipykernel, real ch-run and the Apptainer stand-in.

Every kernel here is started by jupyter_client's AsyncKernelManager from a kernel.json in a
temporary Jupyter data dir, exactly as JupyterLab starts it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest
from jupyter_client.manager import AsyncKernelManager
from traitlets.config import Config

from jupyter_container_kernels.errors import (
    ImageError,
    KernelStartError,
    ModuleLoadError,
    RuntimeNotFoundError,
    SpecError,
)

RUNTIMES = ("charliecloud", "apptainer")
#: jupyter_client waits this long for kernel_info; failures must come well before it.
KERNEL_INFO_TIMEOUT = 60


def config_for(runtime: str, image: str, **more: Any) -> dict[str, Any]:
    """Charliecloud directly, or Apptainer (the stand-in) from its module, as a site would."""
    modules = ["apptainer"] if runtime == "apptainer" else []
    return {
        "image": image,
        "runtime": runtime,
        "modules": modules + more.pop("modules", []),
        **more,
    }


@pytest.fixture
def kernel(
    lmod_env: dict[str, str], make_container_kernel: Callable[..., str]
) -> Callable[..., Any]:
    """``async with kernel(config, **kernel_json) as (km, kc)``: a started, ready kernel that is
    shut down (and checked to be gone) afterwards."""

    @asynccontextmanager
    async def start(
        config: dict[str, Any],
        *,
        km_config: Config | None = None,
        start: dict[str, Any] | None = None,
        connection_file: str = "",
        **kernel_json: Any,
    ) -> AsyncIterator[tuple[AsyncKernelManager, Any]]:
        name = make_container_kernel(f"k{time.monotonic_ns()}", config, **kernel_json)
        km = AsyncKernelManager(
            kernel_name=name, config=km_config or Config(), connection_file=connection_file
        )
        await km.start_kernel(**(start or {}))
        tree = process_tree(km.provisioner.pid)
        kc = km.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=KERNEL_INFO_TIMEOUT)
            yield km, kc
        finally:
            kc.stop_channels()
            if km.has_kernel:
                tree += process_tree(km.provisioner.pid)
                await km.shutdown_kernel(now=True)
            assert_gone(tree)

    return start


def process_tree(pid: int | None) -> list[psutil.Process]:
    if pid is None:
        return []
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def assert_gone(processes: list[psutil.Process]) -> None:
    _, alive = psutil.wait_procs(processes, timeout=5)
    assert not alive, f"left behind: {[(p.pid, p.cmdline()) for p in alive]}"


async def run(kc: Any, code: str, timeout: float = 30) -> tuple[str, dict[str, Any]]:
    """Execute ``code``; returns (stdout, reply content)."""
    out: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            out.append(msg["content"]["text"])

    reply = await kc.execute_interactive(code, timeout=timeout, output_hook=hook)
    return "".join(out), reply["content"]


async def run_json(kc: Any, expression: str) -> Any:
    stdout, reply = await run(kc, f"import json, os, sys\nprint(json.dumps({expression}))")
    assert reply["status"] == "ok", reply
    return json.loads(stdout)


# -- the kernel runs inside the image ---------------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_code_runs_inside_the_image(runtime: str, test_image: str, kernel: Any) -> None:
    async with kernel(config_for(runtime, test_image)) as (_km, kc):
        seen = await run_json(
            kc,
            "{'marker': open('/etc/jck-test-image').read().strip(), "
            "'os': open('/etc/os-release').read(), 'python': sys.executable, "
            "'ipykernel': __import__('ipykernel').__version__}",
        )
    assert seen["marker"] == "py-ipykernel"
    assert "VERSION_CODENAME=bookworm" in seen["os"]
    # The image's interpreter and ipykernel, not the server's (argv[0] "python3" is restored).
    assert seen["python"] == "/usr/bin/python3" != sys.executable
    assert seen["ipykernel"] == "6.17.0"


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_binds_env_and_kernel_json_env_arrive(
    runtime: str, test_image: str, kernel: Any, tmp_path: Path
) -> None:
    (tmp_path / "hello.txt").write_text("from the host")
    config = config_for(
        runtime, test_image, binds=[f"{tmp_path}:/mnt/2"], env={"OMP_NUM_THREADS": "8"}
    )
    async with kernel(config, env={"JCK_FROM_KERNEL_JSON": "yes"}) as (_km, kc):
        seen = await run_json(
            kc,
            "[open('/mnt/2/hello.txt').read(), os.environ['OMP_NUM_THREADS'], "
            "os.environ.get('JCK_FROM_KERNEL_JSON'), os.environ['PYTHONNOUSERSITE'], "
            "os.environ['PATH']]",
        )
    assert seen == [
        "from the host",
        "8",
        "yes",
        "1",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ]


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("cleanenv", [False, True])
async def test_cleanenv_drops_host_variables(
    runtime: str, cleanenv: bool, test_image: str, kernel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JCK_HOST_SECRET", "s3cr3t")
    async with kernel(config_for(runtime, test_image, cleanenv=cleanenv)) as (_km, kc):
        seen = await run_json(kc, "os.environ.get('JCK_HOST_SECRET')")
    assert seen == (None if cleanenv else "s3cr3t")


async def test_site_defaults_from_jupyter_config_apply(
    test_image: str, kernel: Any, tmp_path: Path
) -> None:
    (tmp_path / "site.txt").write_text("site bind")
    site = Config(
        {"SiteConfig": {"default_binds": [f"{tmp_path}:/mnt/4"], "default_modules": ["cuda/12.4"]}}
    )
    async with kernel(config_for("apptainer", test_image), km_config=site) as (_km, kc):
        seen = await run_json(
            kc, "[open('/mnt/4/site.txt').read(), os.environ.get('CUDA_VERSION')]"
        )
    assert seen == ["site bind", "12.4"]


async def test_gpu_nvidia_passes_nv_and_stderr_still_reaches_the_log(
    test_image: str, kernel: Any, tmp_path: Path
) -> None:
    log = tmp_path / "kernel-stderr.log"
    with open(log, "wb") as stderr:
        async with kernel(
            config_for("apptainer", test_image, gpu="nvidia"), start={"stderr": stderr}
        ) as (_km, kc):
            seen = await run_json(kc, "os.environ.get('JCK_STANDIN_GPU')")
    assert seen == "nv"  # the stand-in exports what arrived as --nv
    assert "Could not find any nv files on this host" in log.read_text()


async def test_gpu_none_passes_no_flag(test_image: str, kernel: Any) -> None:
    async with kernel(config_for("apptainer", test_image, gpu="none")) as (_km, kc):
        assert await run_json(kc, "os.environ.get('JCK_STANDIN_GPU')") is None


# -- failing fast, with the reason ---------------------------------------------------------------


async def start_fails(name: str, error: type[Exception]) -> tuple[str, float]:
    km = AsyncKernelManager(kernel_name=name)
    began = time.monotonic()
    with pytest.raises(error) as info:
        await km.start_kernel()
    elapsed = time.monotonic() - began
    assert not km.has_kernel
    return str(info.value), elapsed


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_image_without_ipykernel_fails_the_start_with_its_stderr(
    runtime: str,
    bare_image: str,
    lmod_env: dict[str, str],
    make_container_kernel: Callable[..., str],
) -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    name = make_container_kernel("bare", config_for(runtime, bare_image))
    message, elapsed = await start_fails(name, KernelStartError)
    assert "No module named ipykernel" in message
    assert "install it in the image" in message and bare_image in message
    assert elapsed < KERNEL_INFO_TIMEOUT / 2  # raised by start_kernel, not a kernel_info timeout
    assert_gone([p for p in psutil.Process().children(recursive=True) if p.pid not in before])


#: Runs inside the image as the "kernel": a helper leaves the process group and keeps
#: writing to stderr (while the start failure is being reported, and after), then it exits 3.
CHATTY_HELPER = """\
import os, sys, time  # jck-chatty-helper {token}
if os.fork() == 0:
    os.setsid()
    end = time.monotonic() + 20
    while time.monotonic() < end:
        os.write(2, b"chatter from a helper that left the group\\n")
        time.sleep(0.0002)
    os._exit(0)
time.sleep(0.3)
print("failing on purpose", file=sys.stderr, flush=True)
sys.exit(3)
"""


async def test_a_helper_chattering_on_stderr_does_not_hide_the_start_failure(
    lmod_env: dict[str, str], make_container_kernel: Callable[..., str], test_image: str
) -> None:
    token = f"{os.getpid()}-{time.monotonic_ns()}"
    name = make_container_kernel(
        "chatty",
        config_for("charliecloud", test_image),
        argv=["python3", "-c", CHATTY_HELPER.format(token=token)],
    )
    km = AsyncKernelManager(kernel_name=name)
    began = time.monotonic()
    try:
        with pytest.raises(KernelStartError) as info:
            await km.start_kernel(stderr=subprocess.DEVNULL)
        elapsed = time.monotonic() - began
    finally:
        helpers = [
            p
            for p in psutil.process_iter(["cmdline"])
            if any(token in arg for arg in p.info["cmdline"] or ())
        ]
        for helper in helpers:
            helper.kill()
    assert helpers  # it still held stderr, writing, when the start failed
    message = str(info.value)
    assert message.startswith(
        "The container exited with status 3 while the kernel was starting (runtime "
        f"charliecloud, image {test_image}). Last lines on stderr:\n"
    )
    assert "chatter from a helper that left the group" in message
    assert elapsed < 10  # stderr is waited for 2 s at most, however long the helper writes
    assert not km.has_kernel


async def test_missing_image_fails_before_anything_starts(
    lmod_env: dict[str, str], make_container_kernel: Callable[..., str], tmp_path: Path
) -> None:
    name = make_container_kernel("gone", config_for("apptainer", str(tmp_path / "gone.sif")))
    message, _ = await start_fails(name, ImageError)
    assert str(tmp_path / "gone.sif") in message and "does not exist" in message


async def test_runtime_absent_names_the_fix(
    lmod_env: dict[str, str], make_container_kernel: Callable[..., str], test_image: str
) -> None:
    # No apptainer module: the stand-in is not on PATH.
    name = make_container_kernel("noruntime", {"image": test_image, "runtime": "apptainer"})
    message, _ = await start_fails(name, RuntimeNotFoundError)
    assert "'apptainer'" in message and "modules" in message and "runtime_paths" in message


async def test_unknown_module_fails_with_lmods_message(
    lmod_env: dict[str, str], make_container_kernel: Callable[..., str], test_image: str
) -> None:
    name = make_container_kernel(
        "nomodule", config_for("apptainer", test_image, modules=["nosuch"])
    )
    message, _ = await start_fails(name, ModuleLoadError)
    assert "The following module(s) are unknown" in message and "nosuch" in message


async def test_unknown_config_key_is_named(
    lmod_env: dict[str, str], make_container_kernel: Callable[..., str], test_image: str
) -> None:
    name = make_container_kernel(
        "typo", {"image": test_image, "runtime": "charliecloud", "bind": ["/x"]}
    )
    message, _ = await start_fails(name, SpecError)
    assert "config.bind: unknown setting" in message and "binds" in message
    assert name in message  # the kernel.json path


async def test_start_watch_timeout_is_a_per_kernel_setting(
    lmod_env: dict[str, str], make_container_kernel: Callable[..., str], bare_image: str
) -> None:
    bad = make_container_kernel(
        "badwatch", {"image": bare_image, "runtime": "charliecloud", "start_watch_timeout": "soon"}
    )
    message, _ = await start_fails(bad, SpecError)
    assert "start_watch_timeout" in message and "'soon'" in message
    # Watch switched off: the start "succeeds" and the dead kernel is left to Jupyter's own
    # kernel_info timeout, which is exactly what the watch is for.
    off = make_container_kernel(
        "nowatch", {"image": bare_image, "runtime": "charliecloud", "start_watch_timeout": 0}
    )
    km = AsyncKernelManager(kernel_name=off)
    await km.start_kernel()
    try:
        assert km.provisioner.start_watch_timeout == 0
        assert await km.provisioner.wait() == 1  # the container exits on its own
    finally:
        await km.cleanup_resources()


# -- interrupt, restart, shutdown ------------------------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("interrupt_mode", ["message", "signal"])
async def test_interrupt_raises_keyboardinterrupt_and_the_kernel_lives(
    runtime: str, interrupt_mode: str, test_image: str, kernel: Any
) -> None:
    async with kernel(config_for(runtime, test_image), interrupt_mode=interrupt_mode) as (km, kc):
        msg_id = kc.execute("import time\nprint('sleeping', flush=True)\ntime.sleep(60)")
        while True:  # wait until the cell really runs
            msg = await kc.get_iopub_msg(timeout=30)
            if msg["msg_type"] == "stream" and "sleeping" in msg["content"]["text"]:
                break
        await km.interrupt_kernel()
        reply = await kc.get_shell_msg(timeout=20)
        assert reply["parent_header"]["msg_id"] == msg_id
        assert reply["content"]["status"] == "error"
        assert reply["content"]["ename"] == "KeyboardInterrupt"
        # ipykernel aborts requests that arrive right after an error (stop_on_error): retry.
        for _ in range(20):
            stdout, content = await run(kc, "print(6 * 7)")
            if content["status"] != "aborted":
                break
            await asyncio.sleep(0.1)
        assert (stdout, content["status"]) == ("42\n", "ok")


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_restart_replaces_the_container_and_leaves_nothing(
    runtime: str, test_image: str, kernel: Any
) -> None:
    async with kernel(config_for(runtime, test_image)) as (km, kc):
        await run(kc, "x = 1")
        old = process_tree(km.provisioner.pid)
        await km.restart_kernel(now=False)
        await kc.wait_for_ready(timeout=KERNEL_INFO_TIMEOUT)
        assert_gone(old)
        assert km.provisioner.pid not in {p.pid for p in old}
        stdout, _ = await run(kc, "print('x' in dir(), open('/etc/jck-test-image').read().strip())")
        assert stdout == "False py-ipykernel\n"


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_shutdown_leaves_no_process(runtime: str, test_image: str, kernel: Any) -> None:
    async with kernel(config_for(runtime, test_image)) as (km, kc):
        # A grandchild inside the container must go too.
        await run(kc, "import subprocess; child = subprocess.Popen(['sleep', '300'])")
        tree = process_tree(km.provisioner.pid)
        assert any(p.name() == "sleep" for p in tree)
        await km.shutdown_kernel(now=False)
        assert not km.has_kernel
        assert_gone(tree)


# -- the connection file inside the container ---------------------------------------------------


@pytest.fixture
def connection_file_outside_tmp() -> Any:
    """A connection file path under /var/tmp (as under /run/user/… for VS Code), which ch-run
    does not share with the container."""
    folder = tempfile.mkdtemp(prefix="jck-runtime-", dir="/var/tmp")
    yield os.path.join(folder, "kernel-outside.json")
    shutil.rmtree(folder, ignore_errors=True)


async def test_charliecloud_gets_a_private_copy_of_a_connection_file_outside_tmp(
    connection_file_outside_tmp: str, test_image: str, kernel: Any
) -> None:
    config = config_for("charliecloud", test_image)
    async with kernel(config, connection_file=connection_file_outside_tmp) as (km, kc):
        argv = process_tree(km.provisioner.pid)[0].cmdline()
        copy = argv[argv.index("-f") + 1]
        assert copy.startswith("/tmp/jck-kernel-") and not km.connection_file.startswith("/tmp/")
        assert os.stat(os.path.dirname(copy)).st_mode & 0o777 == 0o700
        inside, outside = (json.loads(Path(f).read_text()) for f in (copy, km.connection_file))
        for key in (
            "key",
            "ip",
            "transport",
            "shell_port",
            "iopub_port",
            "control_port",
            "hb_port",
        ):
            assert inside[key] == outside[key]
        stdout, _ = await run(kc, "print(1 + 1)")
        assert stdout == "2\n"
    assert not os.path.exists(os.path.dirname(copy))  # removed at shutdown


@pytest.mark.parametrize(
    "link_in, target_in",
    [("/tmp", "/var/tmp"), ("/var/tmp", "/tmp")],
    ids=["link-in-tmp-to-elsewhere", "link-elsewhere-to-tmp"],
)
async def test_charliecloud_kernel_starts_with_a_symlinked_runtime_dir(
    link_in: str,
    target_in: str,
    test_image: str,
    kernel: Any,
) -> None:
    # As on clusters where /home is a link to /gpfs/…: the Jupyter runtime dir, where the
    # connection file is written, is reached through a symbolic link. Only /tmp is shared
    # with a ch-run container, so the link or its target is out of the container's sight.
    target = tempfile.mkdtemp(prefix="jck-runtime-real-", dir=target_in)
    link = os.path.join(tempfile.mkdtemp(prefix="jck-runtime-link-", dir=link_in), "runtime")
    os.symlink(target, link)
    # The name the server's MultiKernelManager gives it: <runtime dir>/kernel-<id>.json.
    connection_file = os.path.join(link, "kernel-linked.json")
    try:
        config = config_for("charliecloud", test_image)
        async with kernel(config, connection_file=connection_file) as (km, kc):
            argv = process_tree(km.provisioner.pid)[0].cmdline()
            given = argv[argv.index("-f") + 1]
            assert given.startswith("/tmp/") and os.path.realpath(given) == given
            stdout, _ = await run(kc, "print(1 + 1)")
            assert stdout == "2\n"
    finally:
        shutil.rmtree(target, ignore_errors=True)
        shutil.rmtree(os.path.dirname(link), ignore_errors=True)


class ConnectionFileAsGiven(AsyncKernelManager):
    """Names the connection file in the kernel's command as it was given, not resolved (as
    jupyter_client did before 7.0, and as a KernelManager subclass may)."""

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        real = os.path.realpath(self.connection_file)
        cmd = super().format_kernel_cmd(extra_arguments)
        return [self.connection_file if arg == real else arg for arg in cmd]


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_the_kernel_gets_the_resolved_connection_file_however_the_command_names_it(
    runtime: str,
    test_image: str,
    lmod_env: dict[str, str],
    make_container_kernel: Callable[..., str],
    tmp_path: Path,
) -> None:
    target = tempfile.mkdtemp(prefix="jck-runtime-real-", dir="/var/tmp")
    link = tmp_path / "linked-runtime"
    link.symlink_to(target)
    name = make_container_kernel("asgiven", config_for(runtime, test_image))
    km = ConnectionFileAsGiven(kernel_name=name, connection_file=str(link / "kernel-1.json"))
    cmd, _ = await km.pre_start_kernel()
    try:
        inside = cmd[cmd.index("-f") + 1]
        # A private copy of the file the link leads to, under /tmp (which ch-run shares;
        # apptainer gets its directory bound).
        assert inside.startswith("/tmp/jck-kernel-") and inside.endswith("/kernel-1.json")
        assert Path(inside).read_text() == Path(target, "kernel-1.json").read_text()
        if runtime == "apptainer":
            assert cmd[cmd.index(os.path.dirname(inside)) - 1] == "--bind"
    finally:
        await km.cleanup_resources()
        shutil.rmtree(target, ignore_errors=True)


async def test_apptainer_binds_a_private_copy_of_the_connection_file(
    connection_file_outside_tmp: str,
    test_image: str,
    lmod_env: dict[str, str],
    make_container_kernel: Callable[..., str],
) -> None:
    """The kernel rewrites its own copy (ipykernel does, after its heartbeat is up), never
    the file jupyter_client reads; the copy's directory is bound even where /tmp is shared,
    since --containall would make /tmp private."""
    # The stand-in cannot create bind destinations (ch-run), so look at the command only.
    name = make_container_kernel("bindconn", config_for("apptainer", test_image))
    km = AsyncKernelManager(kernel_name=name, connection_file=connection_file_outside_tmp)
    cmd, _ = await km.pre_start_kernel()
    try:
        copy = cmd[-1]
        folder = os.path.dirname(copy)
        assert cmd[cmd.index(folder) - 1] == "--bind"
        assert cmd[cmd.index(test_image) + 1 :] == [
            "python3",
            "-m",
            "ipykernel_launcher",
            "-f",
            copy,
        ]
        assert copy != os.path.realpath(km.connection_file)
        assert Path(copy).read_text() == Path(km.connection_file).read_text()
        assert (os.stat(copy).st_mode & 0o777, os.stat(folder).st_mode & 0o777) == (0o600, 0o700)
        assert sys.executable not in cmd
    finally:
        await km.cleanup_resources()
