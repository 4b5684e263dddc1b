"""Job watching at scale: 100 tracked jobs, 10 concurrent status readers, one Slurm query a round.

Against the real single-node Slurm of the tests (``tests/support/slurm.sh start``; started here
if it is not running), with a container kernelspec in a temporary Jupyter data directory:

1. **Submit cost.** 100 notebook jobs are submitted through ``BatchService.submit`` (the path
   the REST handler and the CLI take). They are held with ``--begin=now+1hour`` (a site-allowed
   directive) so none runs. For each, the server-side time excluding ``sbatch`` itself
   (validation, kernelspec, rendering, files, record) is taken from ``BatchService.timings``.
   Target: median <= 50 ms.
2. **Queries per round.** The watcher loop runs for ``--seconds`` while 10 reader tasks call
   ``list()`` and ``api(get(id), with_log=True)`` as fast as they can (10 browser tabs polling).
   Every Slurm command is counted (``Slurm.calls``). Target: exactly 1 query per watcher round,
   readers 0.
3. **Side by side:** one batched ``squeue --jobs=<100 ids>`` against the naive 100 single-job
   queries a per-job poller makes per reader per interval (x10 readers).

    python benchmarks/job_watch.py [--jobs 100] [--readers 10] [--seconds 10] [--interval 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def kernelspec(data_dir: Path, image: Path) -> str:
    """A container kernelspec (the image is a placeholder file: nothing runs)."""
    image.write_bytes(b"placeholder image, never run")
    folder = data_dir / "kernels" / "bench-container"
    folder.mkdir(parents=True)
    (folder / "kernel.json").write_text(
        json.dumps(
            {
                "argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "bench",
                "language": "python",
                "metadata": {
                    "kernel_provisioner": {
                        "provisioner_name": "container-provisioner",
                        "config": {
                            "image": str(image),
                            "runtime": "apptainer",
                            "binds": ["/scratch"],
                            "modules": ["apptainer/1.3"],
                        },
                    }
                },
            }
        )
    )
    return "bench-container"


def notebook(path: Path, kernel: str) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": kernel, "display_name": kernel, "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("lr = 0.1", metadata={"tags": ["parameters"]}),
        *(nbformat.v4.new_code_cell(f"x{i} = lr * {i}") for i in range(30)),
    ]
    nbformat.write(nb, str(path))


async def main(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="jck-bench-watch-"))
    os.environ["JUPYTER_DATA_DIR"] = str(work / "data")
    from jupyter_container_kernels.batch.service import BatchService

    kernel = kernelspec(work / "data", work / "bench.sif")
    notebook(work / "train.ipynb", kernel)
    batch = BatchService(
        root_dir=str(work),
        jobs_dir=str(work / "jobs"),
        extra_directives={"begin": r"now\+[0-9]+hours?"},
        poll_interval=args.interval,
        max_poll_interval=args.interval,
    )
    ids: list[str] = []
    try:
        for i in range(args.jobs):
            request = batch.request(
                {
                    "notebook": "train.ipynb",
                    "parameters": {"lr": i / 100},
                    "resources": {"begin": "now+1hour", "time": "10"},
                }
            )
            ids.append((await batch.submit(request)).id)
        costs = [own * 1000 for own, _ in batch.timings]
        sbatch = [sb * 1000 for _, sb in batch.timings]
        print(
            f"submit x{args.jobs}: server-side cost excluding sbatch: median "
            f"{statistics.median(costs):.1f} ms, p90 {_p90(costs):.1f} ms, first {costs[0]:.1f} ms"
            f" (sbatch itself: median {statistics.median(sbatch):.1f} ms)"
        )

        calls_before = dict(batch.slurm.calls)
        reads = 0
        stop = time.monotonic() + args.seconds

        async def reader(n: int) -> None:
            nonlocal reads
            while time.monotonic() < stop:
                batch.list()
                job = ids[(reads + n) % len(ids)]
                batch.api(batch.get(job), with_log=True)
                reads += 1
                await asyncio.sleep(0.01)  # each "tab" polls 100 times a second

        batch.watcher.start()
        await asyncio.gather(*(reader(n) for n in range(args.readers)))
        await batch.watcher.stop()
        rounds = batch.watcher.rounds
        queries = {
            k: v - calls_before.get(k, 0)
            for k, v in batch.slurm.calls.items()
            if v - calls_before.get(k, 0)
        }
        total = sum(queries.values())
        states = {batch.get(i).state for i in ids}
        print(
            f"watch {args.seconds:g} s, {args.readers} readers: {reads} reads, {rounds} watcher "
            f"rounds, Slurm queries {queries or '{}'} -> {total / max(rounds, 1):.2f} per round "
            f"(target 1), states seen {sorted(states)}"
        )

        batched, naive = await asyncio.to_thread(
            side_by_side, batch.slurm.executable("squeue"), ids
        )
        print(
            f"one interval, {args.readers} readers: batched 1 query {batched * 1000:.1f} ms vs "
            f"naive {args.jobs * args.readers} queries ~{naive * args.readers * 1000:.0f} ms "
            f"(measured {args.jobs} in {naive * 1000:.0f} ms): "
            f"{naive * args.readers / batched:.0f}x less scheduler work"
        )
        ok = rounds > 0 and total == rounds and statistics.median(costs) <= 50
        print("RESULT:", "OK" if ok else "MISSED TARGET")
        return 0 if ok else 1
    finally:
        for job in ids:
            try:
                await batch.slurm.cancel(job)
            except Exception as exc:
                print(f"cancel {job}: {exc}")


def side_by_side(squeue: str, ids: list[str]) -> tuple[float, float]:
    """Seconds for one batched squeue of all ``ids``, and for one squeue per id."""
    t0 = time.perf_counter()
    subprocess.run(
        [squeue, "--noheader", "--states=all", f"--jobs={','.join(ids)}"],
        capture_output=True,
        check=True,
    )
    batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    for job in ids:
        subprocess.run(
            [squeue, "--noheader", "--states=all", f"--jobs={job}"], capture_output=True, check=True
        )
    return batched, time.perf_counter() - t0


def _p90(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.9) - 1]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--readers", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--no-start", action="store_true", help="do not start Slurm")
    options = parser.parse_args()
    if not options.no_start:
        subprocess.run(
            ["bash", str(ROOT / "tests" / "support" / "slurm.sh"), "start"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    raise SystemExit(asyncio.run(main(options)))
