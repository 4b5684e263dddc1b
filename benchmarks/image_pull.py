"""A ``docker://`` pull for Charliecloud, ours against the underlying tools by hand, side by side.

The image: the test suite's Debian image with ipykernel (tests/support/build_image.sh) as an
OCI image of two gzipped layers (~90 MB compressed, ~265 MB unpacked), pushed into a local TLS
registry (Debian's docker-registry on 127.0.0.1, tests/images/registry.py). Every run downloads
everything again into empty directories.

(a) ours: ``jupyter container-kernels pull docker://… --cert-dir D --refresh`` (skopeo copy into
    an OCI layout, then this package's flattener into the image store, sidecar written);
(b) the same underlying tools by hand: ``skopeo copy docker://… oci:DIR`` then
    ``umoci unpack --rootless`` (the like-for-like baseline: same download tool, a standard
    flattener written in Go);
(c) Charliecloud's own: ``ch-image pull`` then ``ch-convert -i ch-image -o dir``.

Runs are interleaved (the order rotates) so machine load affects all alike; medians are printed
with the ratios a/b (target <= 1.10) and a/c, and the peak RSS of the Python process doing our
pull (its VmHWM: the layers are streamed, never held in memory; skopeo's own is not counted).

    python benchmarks/image_pull.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.images.dockersave import Entry  # noqa: E402 (needs ROOT on sys.path)
from tests.images.ocilayout import write  # noqa: E402
from tests.images.registry import Registry, start  # noqa: E402

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Runs our CLI in this interpreter and reports the process's own peak RSS (KiB) at exit:
#: VmHWM, which starts afresh at exec (ru_maxrss would count what the forking parent held).
OURS = (
    "import atexit, sys\n"
    "def hwm():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            print('MAXRSS', line.split()[1], file=sys.stderr)\n"
    "atexit.register(hwm)\n"
    "from jupyter_container_kernels.cli import main\n"
    "main(sys.argv[1:])\n"
)


def build_image() -> str:
    done = subprocess.run(
        ["bash", str(ROOT / "tests" / "support" / "build_image.sh")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]  # py-ipykernel


def ours(registry: Registry, ref: str, work: Path) -> tuple[float, int]:
    env = {**os.environ, "JUPYTER_DATA_DIR": str(work / "data"), "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-c", OURS, "pull", f"docker://{ref}",
            "--cert-dir", str(registry.cert_dir), "--refresh", "--name", "bench"]  # fmt: skip
    began = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"ours failed: {done.stderr}")
    line = next(x for x in done.stderr.splitlines() if x.startswith("MAXRSS"))
    assert (work / "data/container-kernels/images/bench/etc/jck-pulled").is_file()
    return took, int(line.split()[1])


def skopeo_umoci(registry: Registry, ref: str, work: Path) -> float:
    began = time.perf_counter()
    subprocess.run(["skopeo", "copy", "--quiet", f"--src-cert-dir={registry.cert_dir}",
                    f"docker://{ref}", f"oci:{work}/layout:bench"], check=True)  # fmt: skip
    subprocess.run(["umoci", "unpack", "--rootless", "--image", f"{work}/layout:bench",
                    str(work / "bundle")], check=True, capture_output=True)  # fmt: skip
    took = time.perf_counter() - began
    assert (work / "bundle/rootfs/etc/jck-pulled").is_file()
    return took


def charliecloud(registry: Registry, ref: str, work: Path) -> float:
    env = {**os.environ, "PATH": SYSTEM_PATH, "CH_IMAGE_STORAGE": str(work / "ch"),
           "REQUESTS_CA_BUNDLE": str(registry.folder / "cert.pem"), "USER": "root"}  # fmt: skip
    began = time.perf_counter()
    subprocess.run(["ch-image", "pull", ref], check=True, capture_output=True, env=env)
    subprocess.run(["ch-convert", "-i", "ch-image", "-o", "dir", ref, str(work / "dir")],
                   check=True, capture_output=True, env=env)  # fmt: skip
    took = time.perf_counter() - began
    assert (work / "dir/etc/jck-pulled").is_file()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="jck-bench-pull-"))
    registry = start(base / "registry")
    try:
        layout = base / "layout"
        upper = [Entry("etc/jck-pulled", b"benchmark\n")]
        write(layout, [("1", [Path(build_image()), upper])], gzip_layers=True, gzip_level=6)
        registry.push(layout, "1", "jck/bench:1")
        ref = f"{registry.host}/jck/bench:1"
        size = sum(f.stat().st_size for f in (layout / "blobs" / "sha256").iterdir())
        print(f"image: {ref}, {size / 1e6:.0f} MB of blobs; {args.runs} interleaved runs")
        kinds: dict[str, list[float]] = {"a": [], "b": [], "c": []}
        rss: list[int] = []
        order = ["a", "b", "c"]
        for run in range(args.runs):
            for kind in order[run % 3 :] + order[: run % 3]:
                work = Path(tempfile.mkdtemp(prefix=f"run-{kind}-", dir=base))
                if kind == "a":
                    took, peak = ours(registry, ref, work)
                    rss.append(peak)
                elif kind == "b":
                    took = skopeo_umoci(registry, ref, work)
                else:
                    took = charliecloud(registry, ref, work)
                kinds[kind].append(took)
                shutil.rmtree(work)
        med = {k: statistics.median(v) for k, v in kinds.items()}
        print(f"(a) ours, CLI pull docker:// for charliecloud: median {med['a']:.2f} s "
              f"{[round(x, 2) for x in kinds['a']]}")  # fmt: skip
        print(f"(b) skopeo copy + umoci unpack by hand:       median {med['b']:.2f} s "
              f"{[round(x, 2) for x in kinds['b']]}")  # fmt: skip
        print(f"(c) ch-image pull + ch-convert -o dir:         median {med['c']:.2f} s "
              f"{[round(x, 2) for x in kinds['c']]}")  # fmt: skip
        print(f"ratio a/b = {med['a'] / med['b']:.2f} (target <= 1.10); "
              f"a/c = {med['a'] / med['c']:.2f}")  # fmt: skip
        print(f"peak RSS of our pull process (VmHWM): max {max(rss) / 1024:.0f} MiB, "
              f"median {statistics.median(rss) / 1024:.0f} MiB")  # fmt: skip
        print(json.dumps({"median_s": med, "peak_rss_kib": max(rss)}))
    finally:
        registry.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
