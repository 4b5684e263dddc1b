"""Node kernels on a two-host Slurm: start, restart and shutdown, three ways, side by side.

(a) this package's node kernel (kernel.json ``slurm`` block; Charliecloud, the test image):
    ``start_kernel()`` -> first ``kernel_info`` reply; ``restart_kernel()`` -> ready again;
    ``shutdown_kernel()`` -> its job gone from ``squeue``;
(b) ``jupyter-slurm-provisioner`` 0.6.0 (FZJ; PyPI): ``salloc --no-shell``, then ``srun`` per
    kernel, running the same image through its ``kernel_argv`` (``ch-run IMAGE -- python3 -m
    ipykernel_launcher -f {connection_file}``); same three measures;
(c) the floor: ``sbatch`` -> RUNNING (a ``sleep`` job), plus a local container kernel start
    (``start_kernel()`` -> ``kernel_info``, the container provisioner without ``slurm``).

The cluster is private (``tests/faults/slurm_private.py``, ``netns=True, accounting=True``): the
compute node runs slurmd in its own network namespace at its own address, and slurmdbd makes
``sacct`` answer (the peer needs it). The peer also runs ``/usr/libexec/jutil-exe`` (a site tool
of its home centre): a shim printing ``export BUDGET_ACCOUNTS=<account>;`` is put there for the
run and removed after. It imports ``requests`` and ``jupyter_server`` without declaring them
(both are in this package's environment). Its wheel is installed with ``pip --target`` into a
temporary directory: this package never depends on it.

Every start, restart and shutdown runs in a fresh Python process (one per sample), interleaved
a, b, c; medians of the successful samples are printed, with the peer's failures counted and
their first error shown (right after the grant its node-list query through ``sacct`` races
slurmdbd, and ``srun`` then fails with "Hostlist is empty": each of its samples is tried up to
three times; a failed one costs its own 120 s wait for a job step that never came). Targets
(issue 9): start a/b <= 0.75, a/c <= 1.15; restart a/b <= 0.5; a's job gone <= 2 s.

    python benchmarks/node_kernel_start.py [--runs 5] [--peer-wheel PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from faults.slurm_private import PrivateSlurm  # noqa: E402

PEER = "jupyter-slurm-provisioner==0.6.0"
JUTIL = Path("/usr/libexec/jutil-exe")
INSIDE = ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"]

#: One sample, in a fresh process: start, kernel_info, restart, kernel_info, shutdown; prints
#: JSON with the times (seconds) and the job id, or the error.
DRIVER = textwrap.dedent(
    """
    import asyncio, json, sys, time, traceback
    from jupyter_client.manager import AsyncKernelManager

    async def main(name, restart):
        out = {}
        km = AsyncKernelManager(kernel_name=name)
        try:
            t0 = time.monotonic()
            await km.start_kernel()
            kc = km.client(); kc.start_channels()
            await kc.wait_for_ready(timeout=120)
            out["start"] = time.monotonic() - t0
            prov = km.provisioner
            job = getattr(getattr(prov, "job", None), "job_id", None) or getattr(
                prov, "slurm_allocation_id", None)
            out["job"] = job
            if restart:
                t0 = time.monotonic()
                await km.restart_kernel()
                await kc.wait_for_ready(timeout=120)
                out["restart"] = time.monotonic() - t0
            kc.stop_channels()
            out["shutdown_started"] = time.time()
            await km.shutdown_kernel()
        except Exception as exc:
            out["error"] = f"{type(exc).__name__}: {exc}"[-600:]
            try:
                await km.shutdown_kernel(now=True)
            except Exception:
                pass
        print("RESULT " + json.dumps(out), flush=True)

    asyncio.run(main(sys.argv[1], sys.argv[2] == "1"))
    """
)


def build_image() -> str:
    done = subprocess.run(
        ["bash", str(ROOT / "tests" / "support" / "build_image.sh")],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def install_peer(target: Path, wheel: str | None) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
         wheel or PEER],
        check=True,
    )  # fmt: skip


def write_kernels(data_dir: Path, image: str, cluster: PrivateSlurm) -> None:
    def kernel(name: str, provisioner: str, config: dict[str, Any], argv: list[str]) -> None:
        folder = data_dir / "kernels" / name
        folder.mkdir(parents=True)
        spec = {
            "argv": argv,
            "display_name": name,
            "language": "python",
            "interrupt_mode": "message",
            "metadata": {"kernel_provisioner": {"provisioner_name": provisioner, "config": config}},
        }
        (folder / "kernel.json").write_text(json.dumps(spec))

    ours = {"image": image, "runtime": "charliecloud", "gpu": "none"}
    kernel("ours-node", "container-provisioner", {**ours, "slurm": {"time": "10"}}, INSIDE)
    kernel("ours-local", "container-provisioner", ours, INSIDE)
    peer = {
        "kernel_argv": ["ch-run", image, "--", *INSIDE],
        "project": "bench",
        "partition": "debug",
        "nodes": "1",
        "runtime": "10",
    }
    kernel("peer", "slurm-provisioner", peer, INSIDE)


def sample(name: str, env: dict[str, str], cluster: PrivateSlurm, restart: bool) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, name, "1" if restart else "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if not lines:
        return {"error": f"exit {done.returncode}: {done.stderr[-600:]}"}
    out = json.loads(lines[-1][len("RESULT ") :])
    if "error" not in out and out.get("job") and restart:
        t0 = out.pop("shutdown_started")
        while out["job"] in queue(cluster) and time.time() - t0 < 120:
            time.sleep(0.02)
        out["gone"] = time.time() - t0
    return out


def queue(cluster: PrivateSlurm) -> list[str]:
    return cluster.run("squeue", "-h", "-t", "PD,R,CG,CF", "-o", "%A", check=False).split()


def floor_sample(name: str, env: dict[str, str], cluster: PrivateSlurm) -> dict:
    t0 = time.monotonic()
    job = cluster.run("sbatch", "--parsable", "-o", "/dev/null", "--wrap", "sleep 300").strip()
    while cluster.run("squeue", "-h", "-j", job, "-o", "%T", check=False).strip() != "RUNNING":
        time.sleep(0.01)
    queued = time.monotonic() - t0
    cluster.run("scancel", job, check=False)
    local = sample(name, env, cluster, restart=False)
    if "error" in local:
        return local
    return {"start": queued + local["start"], "queued": queued, "local": local["start"]}


def median(samples: list[dict], key: str) -> float | None:
    values = [s[key] for s in samples if key in s and s[key] is not None]
    return statistics.median(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--peer-wheel", help="a local jupyter_slurm_provisioner wheel")
    args = parser.parse_args()
    # SIGTERM (a timeout, Ctrl-C's cousin) unwinds the context managers: the private cluster,
    # its network namespace and the /etc/hosts line go too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    image = build_image()
    with tempfile.TemporaryDirectory(prefix="jck-bench-") as tmp:
        tmp_path = Path(tmp)
        install_peer(tmp_path / "peer", args.peer_wheel)
        data = tmp_path / "data"
        runtime = tmp_path / "runtime"  # under /tmp: ch-run binds it, the peer's file is seen
        runtime.mkdir()
        had_jutil = JUTIL.exists()
        if not had_jutil:
            JUTIL.write_text('#!/bin/sh\necho "export BUDGET_ACCOUNTS=bench;"\n')
            JUTIL.chmod(0o755)
        try:
            with PrivateSlurm(netns=True, accounting=True, cpus=8, min_job_age=600) as cluster:
                write_kernels(data, image, cluster)
                env = {
                    **os.environ,
                    "SLURM_CONF": str(cluster.conf),
                    "JUPYTER_DATA_DIR": str(data),
                    "JUPYTER_RUNTIME_DIR": str(runtime),
                    "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
                    "PYTHONPATH": os.pathsep.join(
                        [str(ROOT), str(tmp_path / "peer"), os.environ.get("PYTHONPATH", "")]
                    ),
                    "USER": os.environ.get("USER") or pwd.getpwuid(os.getuid()).pw_name,
                }
                results: dict[str, list[dict]] = {"a": [], "b": [], "c": []}
                sample("ours-node", env, cluster, restart=False)  # warm the page cache
                for i in range(args.runs):
                    order = ["a", "b", "c"][i % 3 :] + ["a", "b", "c"][: i % 3]
                    for which in order:
                        if which == "a":
                            results["a"].append(sample("ours-node", env, cluster, True))
                        elif which == "b":  # its failures are counted; retried up to 3x
                            for _ in range(3):
                                results["b"].append(sample("peer", env, cluster, True))
                                if "error" not in results["b"][-1]:
                                    break
                                for job in queue(cluster):
                                    cluster.run("scancel", job, check=False)
                        else:
                            results["c"].append(floor_sample("ours-local", env, cluster))
                        print(which, json.dumps(results[which][-1]), flush=True)
                        # nothing may be left from one sample to the next
                        for job in queue(cluster):
                            cluster.run("scancel", job, check=False)
                        time.sleep(0.5)
        finally:
            if not had_jutil:
                JUTIL.unlink(missing_ok=True)
    report(results, args.runs)


def report(results: dict[str, list[dict]], runs: int) -> None:
    def ok(which: str) -> list[dict]:
        return [s for s in results[which] if "error" not in s]

    print(f"\nmedians of successful samples ({runs} runs each, interleaved)")
    for which, label in (("a", "ours (node kernel)"), ("b", "jupyter-slurm-provisioner 0.6.0"),
                         ("c", "floor: sbatch->RUNNING + local start")):  # fmt: skip
        good, failed = ok(which), [s for s in results[which] if "error" in s]
        line = f"  {which}: {label}: {len(good)}/{len(results[which])} ok"
        for key in ("start", "restart", "gone"):
            value = median(good, key)
            if value is not None:
                line += f", {key} {value:.2f} s"
        print(line)
        if failed:
            print(f"     first failure: {failed[0]['error'][:300]}")
    a_start, b_start, c_start = (median(ok(w), "start") for w in "abc")
    a_restart, b_restart = median(ok("a"), "restart"), median(ok("b"), "restart")
    if a_start and b_start:
        print(f"start    a/b = {a_start / b_start:.2f}  (target <= 0.75)")
    if a_start and c_start:
        print(f"start    a/c = {a_start / c_start:.2f}  (target <= 1.15)")
    if a_restart and b_restart:
        print(f"restart  a/b = {a_restart / b_restart:.2f}  (target <= 0.50)")
    gone_a, gone_b = median(ok("a"), "gone"), median(ok("b"), "gone")
    if gone_a is not None:
        print(f"shutdown a: job gone after {gone_a:.2f} s (target <= 2 s)" + (
            f"; b: {gone_b:.2f} s" if gone_b is not None else ""))  # fmt: skip


if __name__ == "__main__":
    main()
