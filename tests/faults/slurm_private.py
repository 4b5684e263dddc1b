"""A private single-node Slurm cluster that a test may break without disturbing anyone.

The shared cluster of ``tests/support/slurm.sh`` (``/etc/slurm/slurm.conf``, ports 6817/6818)
is used by every other test on the machine; the fault tests stop its controller, purge its jobs
and run out-of-memory jobs, so they get a cluster of their own:

* its own ``slurm.conf`` (and ``cgroup.conf``, ``slurmdbd.conf``) in a temporary directory, with
  free ports for slurmctld, slurmd (and slurmdbd, MariaDB), its own state, spool, pid and log
  files, its own ``ClusterName`` and a node name (``slurmd -N``) that does not collide with the
  shared node, on the same host;
* client commands and :class:`~jupyter_container_kernels.batch.slurm.Slurm` reach it through
  ``SLURM_CONF`` (:attr:`PrivateSlurm.env`, :meth:`PrivateSlurm.slurm`), nothing else;
* munged is shared (one key per machine; the shared cluster's ``slurm.sh start`` starts it).

With ``netns=True`` the cluster has two hosts: the compute node's slurmd runs in its own
network namespace (``nsenter --net``; ``ip netns exec`` would remount /sys and break slurmd's
cgroup plugin), reached over a veth pair with addresses in a private 10.x subnet, its name in
``/etc/hosts`` (removed again at stop). Jobs, and the kernels they start, then live on the
node's address (:attr:`PrivateSlurm.node_ip`), not the server's: a ``127.0.0.1`` shortcut
fails as on a real cluster.

Options: ``min_job_age`` (seconds Slurm keeps finished jobs; Slurm purges them in a pass that
runs about once a minute), ``cgroup=True`` (``task/cgroup`` + ``proctrack/cgroup`` with memory
enforcement, for out-of-memory jobs; needs a writable cgroup v1 memory hierarchy or cgroup v2),
``accounting=True`` (slurmdbd + a private MariaDB so ``sacct`` answers).

It is a plain class (no pytest) so ``benchmarks/job_load.py`` can use it too::

    with PrivateSlurm(min_job_age=2) as cluster:
        subprocess.run(["sbatch", "--wrap", "true"], env=cluster.env)
        cluster.stop_controller(); cluster.start_controller()
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

SBIN = ("/usr/sbin", "/sbin", "/usr/bin")
#: Marks the /etc/hosts lines a two-host cluster adds (and removes).
HOSTS_MARK = "jupyter-container-kernels test node"


class ClusterError(RuntimeError):
    """The private cluster could not be started; the message quotes its logs."""


#: Ports for the daemons come from below the kernel's ephemeral range (32768-60999 on Linux),
#: where every ipykernel and client socket of the test session picks its own: a port chosen
#: there may be taken between the check and the daemon's bind.
DAEMON_PORTS = range(20000, 32000)


def free_port() -> int:
    for _ in range(200):
        port = DAEMON_PORTS.start + int.from_bytes(os.urandom(2), "big") % len(DAEMON_PORTS)
        with socket.socket() as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise ClusterError("no free port for a Slurm daemon in 20000-31999")


def _exe(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=os.pathsep.join(SBIN))
    if not found:
        raise ClusterError(
            f"`{name}` is not installed; run tests/support/install_system_deps.sh as root."
        )
    return found


def _wait(what: str, check: Callable[[], bool], timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            tail = ""
            if log is not None and log.exists():
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
            raise ClusterError(f"{what} not within {timeout:g} s\n{tail}")
        time.sleep(0.1)


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):  # a zombie is not alive
        if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return False
    return True


def cgroup_memory_available() -> str | None:
    """None when Slurm can enforce memory limits with cgroups here, else why not."""
    v1 = Path("/sys/fs/cgroup/memory")
    if v1.is_dir():
        probe = v1 / f"jck-probe-{os.getpid()}"
        try:
            probe.mkdir()
            probe.rmdir()
            return None
        except OSError as exc:
            return f"cannot create a cgroup under {v1}: {exc.strerror}"
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        controllers = Path("/sys/fs/cgroup/cgroup.controllers").read_text().split()
        return None if "memory" in controllers else "cgroup v2 without the memory controller"
    return "no cgroup memory controller is mounted"


class PrivateSlurm:
    """A single-node Slurm (slurmctld + slurmd, optionally slurmdbd + MariaDB) in a temp dir."""

    def __init__(
        self,
        *,
        min_job_age: int = 300,
        cgroup: bool = False,
        accounting: bool = False,
        cpus: int = 4,
        memory_mb: int = 2000,
        kill_wait: int = 2,
        message_timeout: int | None = None,
        over_time_limit: int = 0,
        base: str | None = None,
        netns: bool = False,
        gpus: int = 0,
    ) -> None:
        self.base = Path(base or tempfile.mkdtemp(prefix="jckf-", dir="/tmp"))
        self.base.chmod(0o755)
        tag = self.base.name.replace("jckf-", "").lower()
        self.cluster_name = "jckf" + "".join(c for c in tag if c.isalnum())[:8]
        self.node = f"{self.cluster_name}n1"
        self.host = socket.gethostname().split(".")[0]
        self.ctld_port, self.slurmd_port = free_port(), free_port()
        self.dbd_port = free_port() if accounting else None
        self.db_port = free_port() if accounting else None
        self.min_job_age = min_job_age
        self.cgroup = cgroup
        self.accounting = accounting
        self.cpus = cpus
        self.memory_mb = memory_mb
        self.kill_wait = kill_wait
        self.message_timeout = message_timeout
        self.over_time_limit = over_time_limit
        self._mariadbd: subprocess.Popen[bytes] | None = None
        self.netns = netns
        self.gpus = gpus
        subnet = 10 + int.from_bytes(os.urandom(1), "big") % 240
        self.ns_name = f"jck{tag[:8]}"
        self.host_ip = f"10.253.{subnet}.1" if netns else "127.0.0.1"
        self.node_ip = f"10.253.{subnet}.2" if netns else "127.0.0.1"
        self.conf = self.base / "slurm.conf"
        self.log_dir = self.base / "log"
        #: The environment for client commands: SLURM_CONF names this cluster.
        self.env: dict[str, str] = {**os.environ, "SLURM_CONF": str(self.conf)}

    # -- configuration -------------------------------------------------------------------------

    def write_config(self) -> None:
        for sub in ("state", "spool", "log"):
            (self.base / sub).mkdir(exist_ok=True)
        b = self.base
        if self.cgroup:
            plugins = "ProctrackType=proctrack/cgroup\nTaskPlugin=task/cgroup"
            select = "SelectTypeParameters=CR_Core_Memory"
            # the mount point and plugin are detected; memory is enforced, swap is not allowed
            (b / "cgroup.conf").write_text(
                "CgroupPlugin=autodetect\nIgnoreSystemd=yes\nConstrainRAMSpace=yes\n"
                "ConstrainSwapSpace=yes\nAllowedSwapSpace=0\nConstrainCores=no\n"
                "ConstrainDevices=no\n"
            )
        else:
            plugins = "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none"
            select = "SelectTypeParameters=CR_Core"
        if self.accounting:
            accounting = (
                "AccountingStorageType=accounting_storage/slurmdbd\n"
                f"AccountingStorageHost=127.0.0.1\nAccountingStoragePort={self.dbd_port}"
            )
        else:
            accounting = "AccountingStorageType=accounting_storage/none"
        extra = f"MessageTimeout={self.message_timeout}\n" if self.message_timeout else ""
        node_hostname = "" if self.netns else f"NodeHostname={self.host} "
        gres = f"Gres=gpu:{self.gpus} " if self.gpus else ""
        if self.gpus:
            extra += "GresTypes=gpu\n"
            for i in range(self.gpus):  # character devices: slurmd then sets CUDA_VISIBLE_DEVICES
                device = b / f"fakegpu{i}"
                if not device.exists():
                    os.mknod(device, 0o600 | stat.S_IFCHR, os.makedev(195, i))
            (b / "gres.conf").write_text(
                f"AutoDetect=off\nNodeName={self.node} Name=gpu File={b}/fakegpu[0-{self.gpus - 1}]\n"
            )
        self.conf.write_text(
            f"""# Written by tests/faults/slurm_private.py - a private fault-test cluster.
ClusterName={self.cluster_name}
SlurmctldHost={self.host}({self.host_ip})
SlurmctldPort={self.ctld_port}
SlurmdPort={self.slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
StateSaveLocation={b}/state
SlurmdSpoolDir={b}/spool
SlurmctldPidFile={b}/slurmctld.pid
SlurmdPidFile={b}/slurmd.pid
SlurmctldLogFile={b}/log/slurmctld.log
SlurmdLogFile={b}/log/slurmd.log
{plugins}
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=1
{accounting}
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
{select}
MinJobAge={self.min_job_age}
OverTimeLimit={self.over_time_limit}
ReturnToService=2
SlurmdTimeout=300
InactiveLimit=0
KillWait={self.kill_wait}
{extra}SlurmdParameters=config_overrides
NodeName={self.node} NodeAddr={self.node_ip} {node_hostname}CPUs={self.cpus} Boards=1 \
SocketsPerBoard=1 CoresPerSocket={self.cpus} ThreadsPerCore=1 RealMemory={self.memory_mb} \
{gres}State=UNKNOWN
PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
"""
        )

    # -- daemons -------------------------------------------------------------------------------

    def _daemon(self, argv: list[str]) -> None:
        done = subprocess.run(
            argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise ClusterError(f"{argv[0]} exited {done.returncode}: {done.stderr[-2000:]}")

    def pid(self, name: str) -> int | None:
        """The pid of daemon ``name`` (``slurmctld``, ``slurmd``…) from its pid file."""
        return self._pid(name)

    def _pid(self, name: str) -> int | None:
        try:
            return int((self.base / f"{name}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def run(self, *argv: str, timeout: float = 30, check: bool = True) -> str:
        """A Slurm client command against this cluster; its stdout."""
        done = subprocess.run(
            argv, env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise ClusterError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr}")
        return done.stdout

    def controller_up(self) -> bool:
        try:
            return "is UP" in self.run("scontrol", "ping", timeout=10, check=False)
        except subprocess.TimeoutExpired:
            return False

    def node_state(self) -> str:
        try:
            out = self.run("sinfo", "-h", "-n", self.node, "-o", "%T", timeout=10, check=False)
        except subprocess.TimeoutExpired:
            return ""
        return (out.splitlines() or [""])[0].strip()

    def start(self) -> PrivateSlurm:
        """Write the config, start every daemon and wait until a batch job would start."""
        t0 = time.monotonic()
        self.write_config()
        if self.accounting:
            self._start_accounting()
        if self.netns:
            self._make_netns()
        self.start_controller(clean=True)
        slurmd = [_exe("slurmd"), "-N", self.node, "-f", str(self.conf)]
        if self.netns:
            slurmd = [_exe("nsenter"), f"--net=/run/netns/{self.ns_name}", *slurmd]
        self._daemon(slurmd)
        _wait(
            f"node {self.node} idle",
            lambda: self.node_state() == "idle",
            40,
            self.log_dir / "slurmd.log",
        )
        # The main scheduler's first pass (~3 s after slurmctld starts): jobs wait for it.
        log = self.log_dir / "slurmctld.log"
        _wait(
            "the first scheduler pass",
            lambda: "SchedulerParameters=" in log.read_text(errors="replace"),
            15,
            log,
        )
        self.start_seconds = time.monotonic() - t0
        return self

    def _make_netns(self) -> None:
        """The node's network namespace, a veth pair into it, and its name in /etc/hosts."""
        ns, host_if, node_if = self.ns_name, f"{self.ns_name}h", f"{self.ns_name}n"
        ip = _exe("ip")
        for argv in (
            [ip, "netns", "add", ns],
            [ip, "link", "add", host_if, "type", "veth", "peer", "name", node_if],
            [ip, "link", "set", node_if, "netns", ns],
            [ip, "addr", "add", f"{self.host_ip}/24", "dev", host_if],
            [ip, "link", "set", host_if, "up"],
            [ip, "netns", "exec", ns, ip, "addr", "add", f"{self.node_ip}/24", "dev", node_if],
            [ip, "netns", "exec", ns, ip, "link", "set", node_if, "up"],
            [ip, "netns", "exec", ns, ip, "link", "set", "lo", "up"],
        ):
            self._daemon(argv)
        with open("/etc/hosts", "a") as hosts:
            hosts.write(f"{self.node_ip} {self.node}  # {HOSTS_MARK}\n")

    def _remove_netns(self) -> None:
        subprocess.run(["ip", "netns", "del", self.ns_name], capture_output=True, check=False)
        hosts = Path("/etc/hosts")
        lines = hosts.read_text().splitlines(keepends=True)
        hosts.write_text(
            "".join(x for x in lines if not x.startswith(f"{self.node_ip} {self.node} "))
        )

    def in_node(self, *argv: str) -> list[str]:
        """``argv`` run in the node's network namespace (as the node's processes are)."""
        return ["nsenter", f"--net=/run/netns/{self.ns_name}", *argv] if self.netns else list(argv)

    def start_controller(self, *, clean: bool = False) -> None:
        """Start slurmctld (again): with the saved state unless ``clean``."""
        log = self.log_dir / "slurmctld.log"
        self.ctld_log_offset = log.stat().st_size if log.exists() else 0
        argv = [_exe("slurmctld"), "-f", str(self.conf)]
        self._daemon(argv + (["-c"] if clean else []))
        _wait("slurmctld answering `scontrol ping`", self.controller_up, 20, log)

    def stop_controller(self) -> None:
        """Stop slurmctld the way a crash or an admin does (SIGTERM, then wait): jobs and
        slurmd live on."""
        pid = self._pid("slurmctld")
        if _pid_alive(pid):
            assert pid is not None
            os.kill(pid, signal.SIGTERM)
            _wait("slurmctld exiting", lambda: not _pid_alive(pid), 20)

    def scheduler_ran_since_restart(self) -> bool:
        log = self.log_dir / "slurmctld.log"
        with open(log, "rb") as f:
            f.seek(self.ctld_log_offset)
            return b"SchedulerParameters=" in f.read()

    def _start_accounting(self) -> None:
        b = self.base
        db = b / "mysql"
        for path in (db, b / "mysql-run"):
            path.mkdir(exist_ok=True)
            shutil.chown(path, "mysql", "mysql")
        install = subprocess.run(
            [
                _exe("mariadb-install-db"),
                "--user=mysql",
                f"--datadir={db}",
                "--skip-test-db",
                "--auth-root-authentication-method=socket",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if install.returncode != 0:
            raise ClusterError(f"mariadb-install-db failed: {install.stderr[-2000:]}")
        self.db_socket = b / "mysql-run" / "mysqld.sock"
        self._mariadbd = subprocess.Popen(
            [
                _exe("mariadbd"),
                "--no-defaults",
                "--user=mysql",
                f"--datadir={db}",
                f"--socket={self.db_socket}",
                f"--pid-file={b}/mysql-run/mysqld.pid",
                "--bind-address=127.0.0.1",
                f"--port={self.db_port}",
                f"--log-error={b}/mysql-run/mariadb.err",
                "--innodb-buffer-pool-size=32M",
                "--skip-log-bin",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        mariadb = [_exe("mariadb"), f"--socket={self.db_socket}", "-uroot"]

        def db_up() -> bool:
            return subprocess.run([*mariadb, "-e", "select 1"], capture_output=True).returncode == 0

        _wait("MariaDB", db_up, 30, b / "mysql-run" / "mariadb.err")
        subprocess.run(
            [
                *mariadb,
                "-e",
                "CREATE USER 'slurm'@'localhost' IDENTIFIED BY 'jckf';"
                "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'jckf';"
                "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
                "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;",
            ],
            check=True,
            capture_output=True,
        )
        dbd_conf = b / "slurmdbd.conf"
        dbd_conf.write_text(
            f"AuthType=auth/munge\nDbdHost=localhost\nDbdAddr=127.0.0.1\nDbdPort={self.dbd_port}\n"
            f"SlurmUser=root\nPidFile={b}/slurmdbd.pid\nLogFile={b}/log/slurmdbd.log\n"
            "StorageType=accounting_storage/mysql\nStorageHost=127.0.0.1\n"
            f"StoragePort={self.db_port}\nStorageUser=slurm\nStoragePass=jckf\n"
            "StorageLoc=slurm_acct_db\n"
        )
        dbd_conf.chmod(0o600)
        self._daemon([_exe("slurmdbd")])

        def dbd_up() -> bool:
            return (
                subprocess.run(
                    ["sacctmgr", "-n", "list", "cluster"], env=self.env, capture_output=True
                ).returncode
                == 0
            )

        _wait("slurmdbd answering sacctmgr", dbd_up, 40, self.log_dir / "slurmdbd.log")
        self.run("sacctmgr", "-i", "add", "cluster", self.cluster_name, check=False)

    def stop(self, *, purge: bool = True) -> None:
        """Cancel every job, stop every daemon by its pid, delete the directory."""
        if self.controller_up():
            ids = self.run("squeue", "-h", "-o", "%A", check=False).split()
            if ids:
                self.run("scancel", *ids, check=False)
                with contextlib.suppress(ClusterError):
                    _wait(
                        "jobs gone",
                        lambda: not self.run("squeue", "-h", "-t", "PD,R,CG", check=False).strip(),
                        20,
                    )
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.run("scontrol", "shutdown", timeout=20, check=False)
        for name in ("slurmctld", "slurmd", "slurmdbd", "mysql-run/mysqld"):
            pid = self._pid(name)
            if not _pid_alive(pid):
                continue
            assert pid is not None
            with contextlib.suppress(ClusterError):
                _wait(f"{name} exiting", lambda p=pid: not _pid_alive(p), 5)  # type: ignore[misc]
            if _pid_alive(pid):
                os.kill(pid, signal.SIGTERM)
                with contextlib.suppress(ClusterError):
                    _wait(f"{name} exiting", lambda p=pid: not _pid_alive(p), 15)  # type: ignore[misc]
            if _pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        if self._mariadbd is not None:  # our child: reap it
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._mariadbd.wait(timeout=15)
        if self.netns:
            self._remove_netns()
        if purge:
            shutil.rmtree(self.base, ignore_errors=True)

    def slurm(self, **traits: Any) -> Any:
        """A :class:`~jupyter_container_kernels.batch.slurm.Slurm` for this cluster."""
        from jupyter_container_kernels.batch.slurm import Slurm

        return Slurm(slurm_conf=str(self.conf), **traits)

    def __enter__(self) -> PrivateSlurm:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def logs(self) -> Mapping[str, str]:
        """Every log file's last lines, for failure messages."""
        return {
            p.name: "\n".join(p.read_text(errors="replace").splitlines()[-30:])
            for p in sorted(self.log_dir.glob("*.log"))
        }
