"""Time from ``start_kernel()`` to the first ``kernel_info`` reply, three ways, side by side.

(a) the container provisioner, kernel.json config with two modules (``apptainer``,
    ``cuda/12.4``), module cache warm (one untimed start first);
(b) the "seed" approach sites use today: kernel.json ``argv`` is an ``init.sh`` that sources
    Lmod, runs ``module purge; module load apptainer cuda/12.4`` and ``exec apptainer exec IMAGE
    python3 -m ipykernel_launcher "$@"``;
(c) a kernel.json whose ``argv`` is the ``apptainer exec IMAGE python3 -m ipykernel_launcher``
    command written by hand (full path of the runtime, no modules).

All three use the same runtime: the test suite's Apptainer stand-in (tests/support/bin/apptainer,
a Python script that execs Charliecloud's ``ch-run``) and the same directory image (built by
tests/support/build_image.sh), and the real Lmod with tests/support/modulefiles. Runs are
interleaved (a, b, c, then rotated) so machine load affects all three alike; medians are
printed with the ratios a/b (target <= 0.80) and a/c (target <= 1.05).

PATH is the plain system one (``/usr/local/sbin:…:/bin``) for all three, as on a compute node:
the stand-in is a ``#!/usr/bin/env python3`` script, and a development PATH whose ``python3`` is
a pyenv shim adds ~90 ms to every start (real Apptainer is a Go binary). ``--keep-path`` uses
this process's PATH instead.

    python benchmarks/kernel_start.py [--runs 15] [--keep-path]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pwd
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = ROOT / "tests" / "support"
STANDIN = SUPPORT / "bin" / "apptainer"
MODULES = ["apptainer", "cuda/12.4"]
LMOD_INIT = "/usr/share/lmod/lmod/init/bash"
INIT_SH = """#!/bin/bash
# The seed approach: a shell on every start, Lmod sourced, modules loaded, then the runtime.
source {lmod_init}
module purge
module load {modules}
exec apptainer exec {image} python3 -m ipykernel_launcher "$@"
"""


def build_image() -> str:
    done = subprocess.run(
        ["bash", str(SUPPORT / "build_image.sh")], capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1]  # py-ipykernel


def write_kernels(data_dir: Path, image: str) -> dict[str, str]:
    inside = ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    init_sh = data_dir / "init.sh"
    init_sh.write_text(INIT_SH.format(lmod_init=LMOD_INIT, modules=" ".join(MODULES), image=image))
    init_sh.chmod(0o755)
    specs = {
        "a": {
            "argv": inside,
            "metadata": {
                "kernel_provisioner": {
                    "provisioner_name": "container-provisioner",
                    "config": {
                        "image": image,
                        "runtime": "apptainer",
                        "modules": MODULES,
                        "gpu": "none",
                    },
                }
            },
        },
        "b": {"argv": [str(init_sh), "-f", "{connection_file}"]},
        "c": {"argv": [str(STANDIN), "exec", image, *inside]},
    }
    for name, spec in specs.items():
        folder = data_dir / "kernels" / f"bench-{name}"
        folder.mkdir(parents=True)
        spec.update(display_name=f"bench {name}", language="python", interrupt_mode="message")
        (folder / "kernel.json").write_text(json.dumps(spec))
    return {name: f"bench-{name}" for name in specs}


async def time_to_kernel_info(kernel_name: str) -> float:
    from jupyter_client.manager import AsyncKernelManager

    km = AsyncKernelManager(kernel_name=kernel_name)
    began = time.perf_counter()
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        msg_id = kc.kernel_info()
        while True:
            reply = await kc.get_shell_msg(timeout=60)
            if reply["parent_header"].get("msg_id") == msg_id:
                elapsed = time.perf_counter() - began
                break
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
    return elapsed


SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


async def main(runs: int, keep_path: bool) -> None:
    image = build_image()
    with tempfile.TemporaryDirectory(prefix="jck-bench-") as tmp:
        data_dir = Path(tmp)
        os.environ["JUPYTER_DATA_DIR"] = str(data_dir)
        os.environ["JUPYTER_PATH"] = str(data_dir)
        os.environ["MODULEPATH"] = str(SUPPORT / "modulefiles")
        os.environ["LMOD_PKG"] = os.path.dirname(os.path.dirname(LMOD_INIT))
        path = os.environ["PATH"] if keep_path else SYSTEM_PATH
        os.environ["PATH"] = os.pathsep.join(
            p for p in path.split(os.pathsep) if Path(p).resolve() != STANDIN.parent.resolve()
        )  # the stand-in comes from the apptainer module, as on a cluster
        os.environ.setdefault("USER", pwd.getpwuid(os.getuid()).pw_name)
        kernels = write_kernels(data_dir, image)
        for name in kernels.values():  # warm-up, untimed: module cache, page cache
            await time_to_kernel_info(name)
        times: dict[str, list[float]] = {k: [] for k in kernels}
        order = list(kernels)
        for i in range(runs):
            for key in order[i % 3 :] + order[: i % 3]:
                times[key].append(await time_to_kernel_info(kernels[key]))
    med = {k: statistics.median(v) for k, v in times.items()}
    labels = {
        "a": f"container provisioner, modules {' + '.join(MODULES)} (warm cache)",
        "b": "init.sh seed: module purge; module load ...; apptainer exec ...",
        "c": "hand-written `apptainer exec` argv, no modules",
    }
    print(f"Start to first kernel_info reply; Apptainer stand-in over ch-run; image {image};")
    print(f"{runs} interleaved runs each; {os.cpu_count()} CPUs; PATH {os.environ['PATH']}")
    for key in "abc":
        spread = f"min {min(times[key]):.3f}  max {max(times[key]):.3f}"
        print(f"  ({key}) {labels[key]:<66} median {med[key]:.3f} s  ({spread})")
    print(f"  a/b = {med['a'] / med['b']:.2f}  (target <= 0.80)")
    print(f"  a/c = {med['a'] / med['c']:.2f}  (target <= 1.05)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", type=int, default=15, help="timed starts per variant (default 15)"
    )
    parser.add_argument("--keep-path", action="store_true", help="use this process's PATH")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.keep_path))
