"""Job load: 200 tracked jobs, 10 browser tabs polling ``GET container-kernels/jobs``, one real
jupyter server, one ``squeue`` per watcher round.

Everything is real: a private single-node Slurm (``tests/faults/slurm_private.py``, its own
``SLURM_CONF``, so the shared test cluster is not loaded), a ``jupyter server`` process with this
extension, and script-mode jobs that run a converted notebook in the test image with ``ch-run``
(the image is built by ``tests/support/build_image.sh``, cached after the first time).

1. **Submit.** ``--plain`` jobs (default 150) and ``--arrays`` sweeps of ``--array-size`` tasks
   (default 5 x 10) go through ``POST container-kernels/jobs``, held (``--hold``, a directive
   the site allows here), so they stay PENDING.
2. **Release and watch.** ``--pollers`` concurrent HTTP clients (default 10) poll
   ``GET container-kernels/jobs`` every ``--poll-every`` seconds, recording the latency and
   every state they see, while the jobs are released with ``scontrol release`` in ``--batches``
   batches and run to the end.
3. **Report.** ``squeue`` is counted twice: by a counting wrapper earlier on the server's
   ``PATH`` (every process start), and by the server's own ``Slurm.calls``, against the
   watcher's rounds (read from the server after its shutdown). States: every job and task must
   move only forward (PENDING, RUNNING, COMPLETED) and end COMPLETED. GET latency: p50/p95/max.

Nothing is asserted: the numbers are printed; ``RESULT`` says whether the targets were met
(1 squeue per round; every job COMPLETED with forward-only transitions).

    python benchmarks/job_load.py [--plain 150] [--arrays 5] [--array-size 10] [--pollers 10]

Needs root (Slurm daemons, the test image) and takes about two minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "faults"))

from slurm_private import PrivateSlurm, free_port  # noqa: E402

ORDER = {"PENDING": 0, "RUNNING": 1, "COMPLETING": 1, "COMPLETED": 2}

#: Runs the server in this process's image of the world and, once it has shut down, writes the
#: watcher's rounds and the Slurm commands the server ran.
LAUNCHER = """
import json, sys
from jupyter_server.serverapp import ServerApp
app = ServerApp()
app.initialize(sys.argv[2:])
try:
    app.start()
finally:
    batch = app.extension_manager.extension_points["jupyter_container_kernels"].app.batch
    with open(sys.argv[1], "w") as f:
        json.dump({"rounds": batch.watcher.rounds, "calls": dict(batch.slurm.calls)}, f)
"""


def test_image() -> str:
    done = subprocess.run(
        ["bash", str(ROOT / "tests" / "support" / "build_image.sh")],
        capture_output=True,
        text=True,
        check=True,
    )
    return next(p for p in done.stdout.split() if p.endswith("/py-ipykernel"))


def prepare(work: Path, image: str, squeue: str, args: argparse.Namespace) -> dict[str, Any]:
    """Kernelspec, notebook, server config and the counting squeue wrapper under ``work``."""
    import nbformat

    data, config, wrappers = work / "data", work / "config", work / "bin"
    kernel_dir = data / "kernels" / "load-container"
    for path in (kernel_dir, config, wrappers, work / "runtime"):
        path.mkdir(parents=True)
    (kernel_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "load (container)",
                "language": "python",
                "metadata": {
                    "kernel_provisioner": {
                        "provisioner_name": "container-provisioner",
                        "config": {"image": image, "runtime": "charliecloud"},
                    }
                },
            }
        )
    )
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "load-container", "display_name": "load"}
    nb.cells = [
        nbformat.v4.new_code_cell("n = 0", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print('task', n, n * n)"),
    ]
    nbformat.write(nb, str(work / "task.ipynb"))
    log = work / "squeue-calls.log"
    wrapper = wrappers / "squeue"
    wrapper.write_text(f'#!/bin/sh\necho "$(date +%s.%N) $*" >> {log}\nexec {squeue} "$@"\n')
    wrapper.chmod(0o755)
    token = secrets.token_hex(16)
    port = free_port()
    (config / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "ServerApp": {
                    "jpserver_extensions": {"jupyter_container_kernels": True},
                    "root_dir": str(work),
                    "port": port,
                    "ip": "127.0.0.1",
                    "open_browser": False,
                    "allow_root": True,
                },
                "IdentityProvider": {"token": token},
                "BatchService": {
                    "jobs_dir": str(work / "jobs"),
                    "poll_interval": args.interval,
                    "max_poll_interval": args.interval * 2,
                    "extra_directives": {"hold": ""},
                },
            }
        )
    )
    return {"url": f"http://127.0.0.1:{port}/", "token": token, "log": log, "wrappers": wrappers}


class Pollers:
    """``n`` browser tabs polling ``GET container-kernels/jobs``."""

    def __init__(self, url: str, token: str, n: int, every: float) -> None:
        from tornado.httpclient import AsyncHTTPClient

        self.client = AsyncHTTPClient(max_clients=n)
        self.url, self.token, self.n, self.every = url, token, n, every
        self.latencies: list[float] = []
        #: latencies by phase ("held": before the first release, "running": after it).
        self.phase = "held"
        self.by_phase: dict[str, list[float]] = {"held": [], "running": []}
        self.sizes: list[int] = []
        self.errors: list[str] = []
        #: job id (or "id_task") -> states seen, consecutive duplicates dropped.
        self.seen: dict[str, list[str]] = {}
        self.last: dict[str, Any] = {}
        self.running = True

    async def get(self, path: str, method: str = "GET", body: Any = None) -> Any:
        response = await self.client.fetch(
            self.url + path,
            method=method,
            body=None if body is None else json.dumps(body),
            headers={"Authorization": f"token {self.token}"},
            request_timeout=60,
            raise_error=False,
        )
        if response.code >= 400:
            raise RuntimeError(f"{method} {path}: {response.code} {response.body[:300]!r}")
        return json.loads(response.body) if response.body else None

    def note(self, jobs: list[dict[str, Any]]) -> None:
        for job in jobs:
            self._note(job["id"], job["state"])
            for task in job["tasks"]:
                self._note(f"{job['id']}_{task['index']}", task["state"])
        self.last = {job["id"]: job for job in jobs}

    def _note(self, key: str, state: str) -> None:
        states = self.seen.setdefault(key, [])
        if not states or states[-1] != state:
            states.append(state)

    async def tab(self) -> None:
        while self.running:
            began = time.perf_counter()
            try:
                response = await self.client.fetch(
                    self.url + "container-kernels/jobs",
                    headers={"Authorization": f"token {self.token}"},
                    request_timeout=60,
                )
            except Exception as exc:  # a benchmark reports, never stops
                self.errors.append(str(exc))
                await asyncio.sleep(self.every)
                continue
            self.latencies.append(time.perf_counter() - began)
            self.by_phase[self.phase].append(time.perf_counter() - began)
            self.sizes.append(len(response.body))
            self.note(json.loads(response.body)["jobs"])
            await asyncio.sleep(self.every)


def launch_server(env: dict[str, str], work: Path, stats: Path) -> tuple[Any, Any]:
    """The jupyter server process (its output in work/server.log) and that log file."""
    log = open(work / "server.log", "wb")  # noqa: SIM115 - closed by the caller
    server = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(stats)],
        env=env,
        cwd=work,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return server, log


def transitions_ok(states: list[str]) -> bool:
    ranks = [ORDER.get(s, -1) for s in states]
    return -1 not in ranks and ranks == sorted(ranks) and states[-1] == "COMPLETED"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def run(args: argparse.Namespace, cluster: PrivateSlurm, work: Path, setup: dict) -> int:
    env = {
        **cluster.env,
        "PATH": f"{setup['wrappers']}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
        "JUPYTER_DATA_DIR": str(work / "data"),
        "JUPYTER_CONFIG_DIR": str(work / "config"),
        "JUPYTER_RUNTIME_DIR": str(work / "runtime"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "USER": os.environ.get("USER") or "root",
    }
    stats_file = work / "server-stats.json"
    server, server_log = launch_server(env, work, stats_file)
    polls = Pollers(setup["url"], setup["token"], args.pollers, args.poll_every)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                await polls.get("api/status")
                break
            except Exception:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(
                        "the server did not start:\n" + (work / "server.log").read_text()[-3000:]
                    ) from None
                await asyncio.sleep(0.2)

        # 1. submit, held
        began = time.monotonic()
        post: list[float] = []
        ids: list[str] = []
        requests = [
            {"notebook": "task.ipynb", "mode": "script", "parameters": {"n": i}}
            for i in range(args.plain)
        ] + [
            {
                "notebook": "task.ipynb",
                "mode": "script",
                "sweep": {"n": list(range(a * 100, a * 100 + args.array_size))},
            }
            for a in range(args.arrays)
        ]
        refused: list[str] = []
        for body in requests:
            body["resources"] = {"hold": True, "time": "5"}
            t0 = time.perf_counter()
            try:
                ids.append((await polls.get("container-kernels/jobs", "POST", body))["id"])
            except RuntimeError as exc:  # reported below, and the result is MISSED TARGET
                refused.append(str(exc))
            post.append(time.perf_counter() - t0)
        for message in refused:
            print(f"refused: {message}")
        total = args.plain + args.arrays * args.array_size
        print(
            f"submitted {len(ids)} jobs ({args.plain} plain + {args.arrays} arrays of "
            f"{args.array_size} = {total} tracked jobs and tasks) in {time.monotonic() - began:.1f}"
            f" s: POST jobs p50 {statistics.median(post) * 1000:.0f} ms, "
            f"p95 {pct(post, 0.95) * 1000:.0f} ms"
        )

        # 2. poll while releasing in batches
        tabs = [asyncio.create_task(polls.tab()) for _ in range(args.pollers)]
        await asyncio.sleep(args.interval * 2 + 1)
        held = sum(1 for j in polls.last.values() if j["state"] == "PENDING")
        reasons = sorted({str(j["reason"]) for j in polls.last.values()})
        print(f"held: {held}/{len(ids)} PENDING as the pollers see them, reasons {reasons}")
        released = time.monotonic()
        polls.phase = "running"
        size = -(-len(ids) // args.batches)
        for b in range(args.batches):
            batch_ids = ids[b * size : (b + 1) * size]
            await asyncio.to_thread(cluster.run, "scontrol", "release", ",".join(batch_ids))
            await asyncio.sleep(args.batch_gap)
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            if len(polls.last) == len(ids) and all(
                j["state"] == "COMPLETED" or j["state"] in ("FAILED", "CANCELLED", "TIMEOUT")
                for j in polls.last.values()
            ):
                break
            await asyncio.sleep(0.5)
        finished = time.monotonic() - released
        polls.running = False
        await asyncio.gather(*tabs)

        # 3. shut the server down and read its counters
        await polls.get("api/shutdown", "POST", {})
        server.wait(timeout=60)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        server_log.close()

    stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    rounds = stats.get("rounds", 0)
    calls = {k: v for k, v in stats.get("calls", {}).items() if v}
    lines = setup["log"].read_text().splitlines() if setup["log"].exists() else []
    wrapper_squeue = sum(1 for line in lines if "--jobs=" in line)
    per_round = wrapper_squeue / rounds if rounds else float("nan")
    final = {j["state"] for j in polls.last.values()}
    bad = {k: v for k, v in polls.seen.items() if not transitions_ok(v)}
    ran = sum(1 for v in polls.seen.values() if "RUNNING" in v)
    print(
        f"released in {args.batches} batches: all ended {finished:.1f} s after the first release;"
        f" final job states {sorted(final)}; {len(polls.seen)} jobs+tasks followed, {ran} seen "
        f"RUNNING, {len(bad)} with a wrong transition{': ' + str(list(bad.items())[:5]) if bad else ''}"
    )
    print(
        f"watcher: {rounds} rounds; squeue processes started (counting wrapper) {wrapper_squeue},"
        f" server's Slurm.calls {calls} -> {per_round:.2f} squeue per round (target 1)"
    )
    lat = [x * 1000 for x in polls.latencies]
    if lat:
        print(
            f"GET container-kernels/jobs x{len(lat)} from {args.pollers} pollers: p50 "
            f"{pct(lat, 0.5):.1f} ms, p95 {pct(lat, 0.95):.1f} ms, max {max(lat):.1f} ms, "
            f"response {statistics.median(polls.sizes) / 1024:.0f} KiB, errors {len(polls.errors)}"
        )
    ok = (
        rounds > 0
        and wrapper_squeue == rounds
        and calls.get("squeue") == rounds
        and final == {"COMPLETED"}
        and not bad
        and not polls.errors
        and not refused
    )
    for phase, values in polls.by_phase.items():
        if values:
            ms = [x * 1000 for x in values]
            print(f"  {phase}: x{len(ms)} p50 {pct(ms, 0.5):.1f} ms, p95 {pct(ms, 0.95):.1f} ms")
    print("RESULT:", "OK" if ok else "MISSED TARGET")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plain", type=int, default=150)
    parser.add_argument("--arrays", type=int, default=5)
    parser.add_argument("--array-size", type=int, default=10)
    parser.add_argument("--pollers", type=int, default=10)
    parser.add_argument("--poll-every", type=float, default=0.25, help="seconds between GETs")
    parser.add_argument("--interval", type=float, default=1.0, help="watcher poll_interval")
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch-gap", type=float, default=3.0)
    parser.add_argument("--cpus", type=int, default=8, help="CPUs the private node advertises")
    parser.add_argument("--timeout", type=float, default=150)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    # munged is shared with the test cluster; its start script starts it when needed
    subprocess.run(
        ["bash", str(ROOT / "tests" / "support" / "slurm.sh"), "start"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    image = test_image()
    squeue = shutil.which("squeue")
    assert squeue, "squeue is not installed"
    work = Path(tempfile.mkdtemp(prefix="jck-bench-load-", dir="/tmp"))
    work.chmod(0o755)
    began = time.monotonic()
    try:
        with PrivateSlurm(cpus=args.cpus, min_job_age=600, kill_wait=2) as cluster:
            print(f"private Slurm {cluster.cluster_name} up in {cluster.start_seconds:.1f} s")
            setup = prepare(work, image, squeue, args)
            return asyncio.run(run(args, cluster, work, setup))
    finally:
        print(f"benchmark took {time.monotonic() - began:.0f} s (work directory {work})")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
