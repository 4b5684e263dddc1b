"""``container-provisioner``: runs a kernel.json's ``argv`` inside a container image.

A kernel.json names this provisioner and carries a :class:`~.spec.ContainerSpec` as its config::

    {"argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
     "display_name": "PyTorch 2.7 (container)", "language": "python", "interrupt_mode": "message",
     "metadata": {"kernel_provisioner": {"provisioner_name": "container-provisioner",
        "config": {"image": "/shared/images/pytorch-2.7.sif", "runtime": "apptainer",
                   "gpu": "auto", "modules": ["apptainer"], "binds": ["/scratch"]}}}}

``argv`` stays the command *inside* the image; :meth:`ContainerProvisioner.pre_launch` wraps it
with the runtime (modules loaded once and cached, image and runtime checked first), and
:meth:`ContainerProvisioner.launch_kernel` fails the start within seconds, quoting the
container's stderr, when the container exits before the kernel answers its heartbeat.
Everything else (ports, process group, restart, shutdown) is :class:`LocalProvisioner`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from typing import Any

import zmq
import zmq.asyncio
from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Float, TraitError

from . import _process
from ._process import tail
from .errors import ContainerKernelError, KernelStartError, SpecError
from .launch import prepare
from .runtimes import get_runtime
from .site import load_site_config
from .spec import Bind, ContainerSpec

#: Keyword arguments jupyter_client's provisioner factory passes besides the kernel.json config.
_FRAMEWORK_KWARGS = frozenset(
    {"kernel_id", "kernel_spec", "parent", "config", "log", "connection_info"}
)
#: What a start failing with "No module named ipykernel" adds (local and node kernels).
NO_IPYKERNEL = (
    "The image's Python has no ipykernel: install it in the image (pip install ipykernel), or "
    "make argv[0] of the kernel the image's interpreter that has it."
)
#: Seconds removing a container left by a killed runtime client may take.
REMOVE_TIMEOUT = 30.0
#: Interpreter names ``KernelManager.format_kernel_cmd`` swaps for the *server's* sys.executable.
_SWAPPED = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}


class ContainerProvisioner(LocalProvisioner):  # type:ignore[misc]
    """Starts a kernel inside a container; one instance per kernel, kept across restarts.

    The kernel.json config keys are :attr:`ContainerSpec.KEYS` plus this class's per-kernel
    traits (:attr:`start_watch_timeout`); any other key fails the start with a
    :class:`SpecError` naming it. Site-wide defaults live in :class:`~.site.SiteConfig`.

    Interrupts: kernel.json files written by this package say ``"interrupt_mode": "message"``,
    which reaches ipykernel over its control channel whatever wraps it (any runtime, ``srun``).
    With ``"signal"`` mode see :meth:`send_signal`.
    """

    start_watch_timeout = Float(
        60.0,
        config=True,
        help="Seconds to watch a starting container for an early exit, until the kernel's "
        "heartbeat answers. A container that exits in this window fails the start at once with "
        "the tail of its stderr; after it the start goes on and Jupyter's own timeouts apply. "
        "0 disables the watch. Can also be set per kernel in kernel.json's provisioner config.",
    )

    #: kernel.json config keys that set traits of this class rather than spec settings.
    PER_KERNEL_TRAITS = ("start_watch_timeout",)
    #: kernel.json config key of a node kernel's Slurm settings (see :mod:`.nodes`).
    SLURM_KEY = "slurm"

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        """A :class:`~.nodes.provisioner.NodeKernelProvisioner` when the kernel runs on a
        compute node: its config has a ``slurm`` block, or ``c.SiteConfig.node_kernels`` is
        ``"always"``. One provisioner name in kernel.json either way."""
        if cls is ContainerProvisioner:
            where = load_site_config(parent=kwargs.get("parent")).node_kernels
            node = where == "always" or (
                where == "when-configured" and kwargs.get(cls.SLURM_KEY) is not None
            )
            if node:
                from .nodes.provisioner import NodeKernelProvisioner

                cls = NodeKernelProvisioner
        return super().__new__(cls, *args, **kwargs)

    def __init__(self, **kwargs: Any) -> None:
        settings = {k: kwargs.pop(k) for k in list(kwargs) if k in ContainerSpec.KEYS}
        #: The kernel's ``slurm`` block (None: none given); read by node kernels.
        self.slurm_block = kwargs.pop(self.SLURM_KEY, None)
        where = self._where = _config_location(kwargs.get("kernel_spec"))
        for key in kwargs:
            if key not in _FRAMEWORK_KWARGS and key not in self.PER_KERNEL_TRAITS:
                raise SpecError(
                    f"{where}.{key}",
                    "unknown setting; the settings are: "
                    f"{', '.join((*ContainerSpec.KEYS, *self.PER_KERNEL_TRAITS, self.SLURM_KEY))}.",
                )
        try:
            super().__init__(**kwargs)
        except TraitError as exc:  # a per-kernel trait with a bad value
            raise SpecError(where, str(exc)) from None
        self.site = load_site_config(parent=self.parent)
        #: The kernel's own spec (site binds and modules are added at each start).
        self.spec = self.site.build_spec(settings, where=where)
        self.runtime = get_runtime(self.spec.runtime)
        self._private_dir: str | None = None
        self._stderr: _StderrTee | None = None
        self._argv: list[str] = []
        #: The running container's name and the runtime's environment, for runtimes whose
        #: container can outlive a killed client (Podman): removed in :meth:`cleanup`.
        self._container: tuple[str, dict[str, str]] | None = None

    # -- launch ------------------------------------------------------------------------

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        """Wrap the in-container ``cmd`` with the runtime; called by the KernelManager before
        every start and restart (must stay idempotent).

        Raises :class:`~.errors.ImageError`, :class:`~.errors.ModuleLoadError` or
        :class:`~.errors.RuntimeNotFoundError` before anything is started.
        """
        kwargs = await super().pre_launch(**kwargs)
        cmd = self._in_image_command(list(kwargs["cmd"]))
        cmd, binds = self._expose_connection_file(cmd)
        name = f"jck-{self.kernel_id or 'kernel'}-{uuid.uuid4().hex[:8]}"
        try:
            invocation = await prepare(
                self.spec,
                cmd,
                site=self.site,
                host_env=kwargs["env"],
                extra_binds=binds,
                container_name=name,
            )
        except BaseException:
            self._remove_private_dir()
            raise
        self._argv = invocation.argv
        if self.runtime.remove_argv(invocation.argv[0], name) is not None:
            self._container = (name, invocation.env)
        self.log.debug("Container kernel command: %s", shlex.join(invocation.argv))
        kwargs["cmd"] = invocation.argv
        kwargs["env"] = invocation.env
        return kwargs

    def _in_image_command(self, cmd: list[str]) -> list[str]:
        """``cmd`` as formatted by the KernelManager, with the interpreter inside the image
        again where jupyter_client put the server's ``sys.executable``."""
        argv0 = self.kernel_spec.argv[0] if self.kernel_spec and self.kernel_spec.argv else None
        if cmd and argv0 in _SWAPPED and cmd[0] == sys.executable:
            cmd[0] = argv0
        return cmd

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        """Start the runtime, then watch it until the kernel's heartbeat answers.

        The kernel's stderr still reaches the server's stderr (or the ``stderr`` the caller
        gave); its tail is kept so that a container exiting during start raises
        :class:`KernelStartError` quoting it, within :attr:`start_watch_timeout`.
        """
        tee = _StderrTee(kwargs.pop("stderr", None))
        try:
            info = await super().launch_kernel(cmd, stderr=tee.write_end, **kwargs)
        finally:
            tee.start()
        self._stderr = tee
        await self._watch_start()
        return info

    async def _watch_start(self) -> None:
        timeout = self.start_watch_timeout
        if timeout <= 0 or self.process is None or not self.connection_info:
            return
        deadline = time.monotonic() + timeout
        heartbeat = self._heartbeat_socket()
        try:
            await heartbeat.send(b"ping")
            while True:
                if await heartbeat.poll(50):
                    return  # the kernel's sockets are up: ipykernel imported and running
                returncode = self.process.poll()
                if returncode is not None:
                    raise await self._start_failure(returncode)
                if time.monotonic() >= deadline:
                    self.log.warning(
                        "Container kernel %s has not answered its heartbeat after %g s; "
                        "still waiting for it.",
                        self.kernel_id,
                        timeout,
                    )
                    return
        finally:
            heartbeat.close(linger=0)

    def _heartbeat_socket(self) -> zmq.asyncio.Socket:
        info = self.connection_info
        if info.get("transport", "tcp") == "tcp":
            url = f"tcp://{info['ip']}:{info['hb_port']}"
        else:
            url = f"ipc://{info['ip']}-{info['hb_port']}"
        sock = zmq.asyncio.Context.instance().socket(zmq.REQ)
        sock.linger = 0
        sock.reconnect_ivl = 5  # ms (default 100): notice the kernel's bind at once
        public = getattr(self.parent, "curve_publickey", None)
        if public is not None:  # an encrypted kernel, as in KernelManager._create_connected_socket
            sock.curve_secretkey = self.parent.curve_secretkey
            sock.curve_publickey = public
            sock.curve_serverkey = public
        sock.connect(url)
        return sock

    async def _start_failure(self, returncode: int) -> KernelStartError:
        assert self.process is not None
        if self.pgid:  # helpers the runtime left (squashfuse, a forked ch-run) go too
            with contextlib.suppress(OSError):
                os.killpg(self.pgid, signal.SIGKILL)
        self.process.wait()
        self.process = None  # nothing left to manage; has_process is now False
        self._remove_private_dir()
        # Waits for stderr's end (or 2 s): off the event loop, the server keeps serving.
        output = await asyncio.to_thread(self._stderr.finish) if self._stderr else ""
        lines = tail(output) or "(nothing on stderr)"
        message = (
            f"The container exited with status {returncode} while the kernel was starting "
            f"(runtime {self.spec.runtime}, image {self.spec.image}). Last lines on stderr:\n"
            f"{lines}\n"
        )
        if "No module named ipykernel" in output:
            message += NO_IPYKERNEL + "\n"
        message += f"The command was: {shlex.join(self._argv)}"
        return KernelStartError(message)

    # -- signals and cleanup -------------------------------------------------------------

    async def send_signal(self, signum: int) -> None:
        """Deliver ``signum`` to the kernel once.

        ``SIGINT`` (``interrupt_mode: signal``) goes to the runtime's pid when the runtime
        forwards signals to the process inside (Apptainer's starter does); sending it to the
        whole process group as well would deliver it twice (IPython then sometimes reports a
        stream instead of KeyboardInterrupt). Runtimes that do not forward (ch-run forks for
        SquashFS images) get it on the process group, which holds the kernel too. Other signals
        (SIGTERM, SIGKILL at shutdown) always go to the process group, so nothing survives.
        """
        if signum == signal.SIGINT and self.process is not None and self.runtime.forwards_signals:
            self.process.send_signal(signum)
            return
        await super().send_signal(signum)

    async def cleanup(self, restart: bool = False) -> None:
        """Called by the KernelManager after the kernel stopped (before a restart starts the
        next one); removes a container the runtime left (a killed ``podman run``'s, which would
        hold the kernel's ports), and the private copy of the connection file unless
        restarting."""
        await super().cleanup(restart=restart)
        await self._remove_container()
        if not restart:
            self._remove_private_dir()

    async def _remove_container(self) -> None:
        if self._container is None:
            return
        (name, env), self._container = self._container, None
        argv = self.runtime.remove_argv(self._argv[0], name)
        if argv is None:
            return
        try:
            await _process.run(argv, env=env, timeout=REMOVE_TIMEOUT)
        except ContainerKernelError as exc:
            self.log.warning("Could not remove the container %s of kernel %s: %s", name,
                             self.kernel_id, exc)  # fmt: skip

    # -- connection file -----------------------------------------------------------------

    def _expose_connection_file(self, cmd: list[str]) -> tuple[list[str], list[Bind]]:
        """Give the kernel its own copy of the connection file, in a private 0700 directory
        the container sees: bound at the same path, or (runtimes that cannot create bind
        destinations: Charliecloud) under a directory the runtime always shares (/tmp).

        A copy, for every runtime: ipykernel rewrites its connection file (truncating it)
        after its heartbeat is up, which is when :meth:`launch_kernel` returns and
        jupyter_client reads the file; and a path through a symbolic link (``/home`` linked
        to ``/gpfs/home``) leads nowhere inside the container. ``cmd`` may name the file as
        given or resolved (jupyter_client names it resolved).
        """
        connection_file = getattr(self.parent, "connection_file", "")
        if not connection_file:
            return cmd, []
        real = os.path.realpath(connection_file)
        names = {connection_file, os.path.abspath(connection_file), real}
        shared = self.runtime.always_shared
        if self._private_dir is None or not os.path.isdir(self._private_dir):
            self._private_dir = tempfile.mkdtemp(
                prefix="jck-kernel-", dir=shared[0] if shared else None
            )
        copy = os.path.join(self._private_dir, os.path.basename(real))
        shutil.copyfile(real, copy)
        os.chmod(copy, 0o600)
        # Bound explicitly where the runtime can (apptainer --containall makes /tmp private).
        creates = self.runtime.creates_bind_destinations
        binds = [Bind.parse(self._private_dir)] if creates or not shared else []
        return [copy if arg in names else arg for arg in cmd], binds

    def _remove_private_dir(self) -> None:
        if self._private_dir:
            shutil.rmtree(self._private_dir, ignore_errors=True)
            self._private_dir = None


def _config_location(kernel_spec: Any) -> str:
    resource_dir = getattr(kernel_spec, "resource_dir", "") or ""
    where = os.path.join(resource_dir, "kernel.json") if resource_dir else "kernel.json"
    return f"{where}: metadata.kernel_provisioner.config"


class _StderrTee:
    """A pipe for the kernel's stderr: every byte is forwarded to where stderr would have gone
    (the server's stderr, or the caller's ``stderr`` argument) and the last 64 KiB are kept.

    The pump thread may go on after :meth:`finish` gave up waiting for it (a helper that left
    the process group still holds stderr), so the kept chunks change only under ``_lock``.
    """

    KEEP = 64 * 1024

    def __init__(self, target: Any) -> None:
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if target == subprocess.PIPE:  # the caller reads it: leave it alone
            self.write_end: Any = target
            self._read_end = None
            return
        if target is None:
            self._forward: int | None = sys.__stderr__.fileno() if sys.__stderr__ else 2
        elif target == subprocess.DEVNULL:
            self._forward = None
        else:
            self._forward = target if isinstance(target, int) else target.fileno()
        self._read_end, self.write_end = os.pipe()

    def start(self) -> None:
        """Close our copy of the write end (the kernel holds its own) and start reading."""
        if self._read_end is None:
            return
        os.close(self.write_end)
        self._thread = threading.Thread(
            target=self._pump, name="container-kernel-stderr", daemon=True
        )
        self._thread.start()

    def _pump(self) -> None:
        assert self._read_end is not None
        try:
            while chunk := os.read(self._read_end, 65536):
                with self._lock:
                    self._chunks.append(chunk)
                    self._size += len(chunk)
                    while self._size - len(self._chunks[0]) >= self.KEEP:
                        self._size -= len(self._chunks.popleft())
                if self._forward is not None:
                    try:
                        os.write(self._forward, chunk)
                    except OSError:
                        self._forward = None
        finally:
            os.close(self._read_end)

    def finish(self, timeout: float = 2.0) -> str:
        """What the kernel wrote (its last 64 KiB), after it closed stderr or ``timeout``."""
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            kept = b"".join(self._chunks)
        return kept.decode(errors="replace")
