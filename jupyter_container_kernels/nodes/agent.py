"""The node agent: the main process of a node kernel's Slurm job (standard library only).

It is copied next to the job script and run by the node's ``python3`` (3.8 or newer), so the
compute nodes need neither this package nor Jupyter. It

1. finds the node's address by the site's rule (:func:`node_address`) and listens there on a
   free port, then publishes ``IP:PORT`` in the job's comment (``scontrol update``) and in
   ``agent.addr`` next to this file;
2. starts the kernel: ``bash kernel.sh`` (module loads, the runtime's command line: the same
   bash a script-mode batch job runs) with a connection file in a private node-local directory
   whose ports are 0, so ipykernel picks free ports *on the node* and writes them back;
3. answers the Jupyter server over one TCP connection, every message signed with HMAC-SHA256
   under a per-kernel token (never on a command line; in a 0600 file): ``ready``, ``status``,
   ``signal``, ``restart`` (same ports, same allocation), ``stop``, ``ping``;
4. ends the job when the server stops renewing its lease (no valid message for ``lease``
   seconds: the server was killed, or its host or network is gone).

Exit status: 0 after ``stop``; 2 when the node's address cannot be found; 3 when the lease
expired; 128+N on signal N (``scancel``, time limit).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

PROTOCOL = 1
MAX_MESSAGE = 1 << 20
PORT_NAMES = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
#: The job comment's prefix (the server reads it with squeue).
COMMENT_PREFIX = "jck:"


class ProtocolError(Exception):
    """A message that is malformed, out of order or not signed with the kernel's token."""


# -- messages (shared with the server side: jupyter_container_kernels.nodes.client) ----------


def signature(token: bytes, nonce: str, seq: int, direction: str, body: dict) -> str:
    data = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    prefix = f"{PROTOCOL}:{nonce}:{seq}:{direction}:".encode()
    return hmac.new(token, prefix + data, hashlib.sha256).hexdigest()


def encode(token: bytes, nonce: str, seq: int, direction: str, body: dict) -> bytes:
    sig = signature(token, nonce, seq, direction, body)
    return json.dumps({"seq": seq, "body": body, "sig": sig}).encode() + b"\n"


def decode(token: bytes, nonce: str, seq: int, direction: str, line: bytes) -> dict:
    """The body of ``line`` if it is message ``seq`` of this connection, signed with ``token``."""
    try:
        message = json.loads(line)
        body, sig = message["body"], message["sig"]
        ok = isinstance(body, dict) and message["seq"] == seq
    except (ValueError, KeyError, TypeError):
        raise ProtocolError("malformed message") from None
    if not ok or not hmac.compare_digest(str(sig), signature(token, nonce, seq, direction, body)):
        raise ProtocolError("bad signature or sequence")
    return body


# -- the node's address ------------------------------------------------------------------------


def node_address(rule: str, node_name: str) -> str:
    """The IPv4 address of this node by ``rule``: ``hostname`` (the Slurm node name, resolved
    here), ``hostname:SUFFIX`` (name + suffix, e.g. ``-ib``), ``interface:NAME`` (that
    interface's address) or ``address:IP`` (fixed; for tests). Loopback is refused: the server
    on another host could not reach it."""
    kind, _, arg = rule.partition(":")
    if kind in ("hostname",):
        name = node_name + arg
        try:
            ip = socket.gethostbyname(name)
        except OSError as exc:
            raise ValueError(
                f"the node name {name!r} does not resolve on the node ({exc})"
            ) from None
        where = f"{name!r} resolves to {ip} on the node"
    elif kind == "interface":
        ip = _interface_address(arg)
        where = f"interface {arg} has {ip}"
    elif kind == "address":
        ip, where = arg, f"the configured address is {arg}"
    else:
        raise ValueError(f"unknown address rule {rule!r}")
    if ipaddress.ip_address(ip).is_loopback:
        raise ValueError(
            f"{where}, a loopback address the Jupyter server cannot reach; set "
            "c.SiteConfig.node_address to 'interface:NAME' (e.g. interface:ib0) or "
            "'hostname:SUFFIX'"
        )
    return ip


def _interface_address(name: str) -> str:
    siocgifaddr = 0x8915
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            packed = fcntl.ioctl(s.fileno(), siocgifaddr, struct.pack("256s", name[:15].encode()))
        except OSError as exc:
            raise ValueError(
                f"interface {name!r} has no IPv4 address on this node ({exc})"
            ) from None
    return socket.inet_ntoa(packed[20:24])


# -- the agent ---------------------------------------------------------------------------------


class Kernel:
    """One run of ``kernel.sh``: its process (own session) and the tail of its stderr."""

    def __init__(self, proc: asyncio.subprocess.Process, connection_file: str) -> None:
        self.proc = proc
        self.connection_file = connection_file
        self.stderr: collections.deque[bytes] = collections.deque(maxlen=200)
        self.pump = asyncio.ensure_future(self._pump())

    async def _pump(self) -> None:
        assert self.proc.stderr is not None
        while True:
            line = await self.proc.stderr.readline()
            if not line:
                return
            self.stderr.append(line)
            sys.stderr.buffer.write(line)
            sys.stderr.flush()

    def tail(self, lines: int = 20) -> str:
        return b"".join(list(self.stderr)[-lines:]).decode(errors="replace").rstrip()

    def signal(self, signum: int, group: bool = True) -> None:
        if self.proc.returncode is not None:
            return
        try:
            if group:
                os.killpg(self.proc.pid, signum)
            else:
                os.kill(self.proc.pid, signum)
        except ProcessLookupError:
            pass


class Agent:
    def __init__(self, directory: str, config: dict) -> None:
        self.dir = directory
        self.config = config
        self.token = bytes.fromhex(config["token"])
        self.lease = float(config["lease"])
        self.renewed = time.monotonic()
        self.kernel: Kernel | None = None
        self.ports: dict = {}
        self.ip = ""
        self.done = asyncio.Event()
        self.exit_status = 0
        self._starting: asyncio.Future | None = None

    # -- kernel ------------------------------------------------------------------------------

    def _connection_dir(self) -> str:
        path = self.config["kernel_dir"]
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
        info = os.lstat(path)
        if not os.path.isdir(path) or os.path.islink(path) or info.st_uid != os.getuid():
            raise RuntimeError(f"{path} exists and is not this user's directory")
        os.chmod(path, 0o700)
        return path

    async def start_kernel(self) -> dict:
        """Start ``kernel.sh`` and wait until ipykernel wrote its ports (or exited)."""
        directory = self._connection_dir()
        path = os.path.join(directory, "kernel.json")
        info = dict(self.config["connection"])
        info["ip"] = self.ip
        info.update({name: int(self.ports.get(name, 0)) for name in PORT_NAMES})
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(info, f)
        os.replace(tmp, path)
        env = dict(os.environ, JCK_CONNECTION_FILE=path)
        proc = await asyncio.create_subprocess_exec(
            "bash",
            self.config["kernel_script"],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        kernel = self.kernel = Kernel(proc, path)
        while True:
            ports = _read_ports(path)
            if ports:
                self.ports = ports
                return {"ok": True, "ip": self.ip, **ports}
            if proc.returncode is not None or (kernel.pump.done() and proc.returncode is not None):
                break
            try:
                await asyncio.wait_for(asyncio.shield(proc.wait()), 0.02)
            except asyncio.TimeoutError:
                continue
        await asyncio.wait([kernel.pump], timeout=2)
        return {"ok": False, "returncode": proc.returncode, "stderr": kernel.tail()}

    async def stop_kernel(self, grace: float = 3.0) -> None:
        kernel = self.kernel
        if kernel is None or kernel.proc.returncode is not None:
            return
        kernel.signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(kernel.proc.wait(), grace)
        except asyncio.TimeoutError:
            kernel.signal(signal.SIGKILL)
            await kernel.proc.wait()

    async def ready(self) -> dict:
        if self._starting is None:
            self._starting = asyncio.ensure_future(self.start_kernel())
        return await asyncio.shield(self._starting)

    # -- requests ----------------------------------------------------------------------------

    async def handle(self, body: dict) -> dict:
        op = body.get("op")
        kernel = self.kernel
        if op == "ping":
            return {"ok": True}
        if op == "ready":
            return await self.ready()
        if op == "status":
            alive = kernel is not None and kernel.proc.returncode is None
            rc = None if kernel is None else kernel.proc.returncode
            # ending: Slurm signalled the job (scancel, time limit): the allocation is going
            return {"ok": True, "alive": alive, "returncode": rc, "ending": self.done.is_set()}
        if op == "signal":
            if kernel is not None:
                kernel.signal(int(body["signum"]), bool(body.get("group", True)))
            return {"ok": True}
        if op == "restart":
            if self._starting is not None and not self._starting.done():
                await asyncio.shield(self._starting)
            await self.stop_kernel()
            self._starting = asyncio.ensure_future(self.start_kernel())
            return await asyncio.shield(self._starting)
        if op == "stop":
            await self.stop_kernel()
            self.done.set()
            return {"ok": True}
        return {"ok": False, "error": f"unknown operation {op!r}"}

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonce = secrets.token_hex(16)
        writer.write(json.dumps({"agent": PROTOCOL, "nonce": nonce}).encode() + b"\n")
        seq = 0
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                seq += 1
                body = decode(self.token, nonce, seq, "q", line)
                self.renewed = time.monotonic()
                reply = await self.handle(body)
                writer.write(encode(self.token, nonce, seq, "r", reply))
                await writer.drain()
                self.renewed = time.monotonic()
        except (ProtocolError, ConnectionError, ValueError) as exc:
            print(f"jupyter-container-kernels agent: connection dropped: {exc}", file=sys.stderr)
        finally:
            writer.close()

    async def watch_lease(self) -> None:
        while not self.done.is_set():
            idle = time.monotonic() - self.renewed
            if idle > self.lease:
                print(
                    f"jupyter-container-kernels: the Jupyter server has not renewed this kernel's"
                    f" lease for {idle:.0f} s (it was stopped, or it lost its connection to this"
                    " node); ending the job.",
                    file=sys.stderr,
                )
                self.exit_status = 3
                await self.stop_kernel()
                self.done.set()
                return
            await asyncio.sleep(min(1.0, self.lease / 4))

    async def run(self) -> int:
        node = os.environ.get("SLURMD_NODENAME") or socket.gethostname().split(".")[0]
        try:
            self.ip = node_address(self.config["address_rule"], node)
        except ValueError as exc:
            message = f"cannot find this node's address: {exc}"
            print(f"jupyter-container-kernels: {message}", file=sys.stderr)
            publish(self.config, self.dir, f"error={message}")
            return 2
        server = await asyncio.start_server(self.serve, host=self.ip, port=0, limit=MAX_MESSAGE)
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
            loop.add_signal_handler(signum, self._on_signal, signum)
        self._starting = asyncio.ensure_future(self.start_kernel())  # no round-trip first
        await loop.run_in_executor(None, publish, self.config, self.dir, f"addr={self.ip}:{port}")
        lease = asyncio.ensure_future(self.watch_lease())
        try:
            await self.done.wait()
        finally:
            lease.cancel()
            server.close()
            await self.stop_kernel(grace=1.0)
            # the kernel's connection file (it holds the key) does not outlive the job
            shutil.rmtree(self.config["kernel_dir"], ignore_errors=True)
        return self.exit_status

    def _on_signal(self, signum: int) -> None:
        print(
            f"jupyter-container-kernels agent: {signal.Signals(signum).name} (the job is ending:"
            " scancel, time limit or node shutdown); stopping the kernel.",
            file=sys.stderr,
        )
        self.exit_status = 128 + signum
        if self.kernel is not None:
            self.kernel.signal(signal.SIGTERM)
        self.done.set()


def _read_ports(path: str) -> dict | None:
    """The kernel's ports once ipykernel has written them (the file may be half-written)."""
    try:
        with open(path) as f:
            info = json.load(f)
        ports = {name: int(info[name]) for name in PORT_NAMES}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return ports if all(ports.values()) else None


def publish(config: dict, directory: str, value: str) -> None:
    """Tell the server where the agent listens (or why it cannot): the job comment, and
    ``agent.addr`` next to this script (written whole, then renamed)."""
    text = (COMMENT_PREFIX + value).replace("\n", " ")[:500]
    path = os.path.join(directory, "agent.addr")
    with open(path + ".tmp", "w") as f:
        f.write(text + "\n")
    os.replace(path + ".tmp", path)
    job = os.environ.get("SLURM_JOB_ID")
    if job:
        try:
            subprocess.run(
                [config.get("scontrol", "scontrol"), "update", f"JobId={job}", f"Comment={text}"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            print(
                f"jupyter-container-kernels agent: scontrol update failed: {exc}", file=sys.stderr
            )


def main(argv: list) -> int:
    directory = os.path.dirname(os.path.abspath(argv[1] if len(argv) > 1 else __file__))
    with open(os.path.join(directory, "agent.json")) as f:
        config = json.load(f)
    return asyncio.run(Agent(directory, config).run())


if __name__ == "__main__":
    sys.exit(main(sys.argv))
