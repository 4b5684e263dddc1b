"""How much container kernels cost the kernelspec listing (``GET /api/kernelspecs``, the launcher).

Times ``KernelSpecManager.get_all_specs()`` over a directory of 500 container kernels (written by
:func:`jupyter_container_kernels.registry.files.kernel_json`, as ``install`` writes them) and
over one of 500 plain ipykernel kernels, interleaved so machine noise hits both alike, and prints
the medians and their ratio. Target: ratio <= 1.10, since listing never runs a container, a probe
or a module command (the only extra work is jupyter_client checking that the provisioner's entry
point exists). Also reports ``jupyter_container_kernels.registry.kernelspecs.list_kernels()`` (what ``GET
container-kernels/kernels`` and ``jupyter container-kernels list`` use) for the same 500 kernels.

    python benchmarks/kernelspec_listing.py [--kernels 500] [--rounds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def populate(root: Path, count: int, container: bool) -> Path:
    from jupyter_container_kernels.registry.files import kernel_json
    from jupyter_container_kernels.spec import ContainerSpec

    kernels = root / "kernels"
    for i in range(count):
        folder = kernels / f"k{i:04d}"
        folder.mkdir(parents=True)
        if container:
            spec = ContainerSpec.from_dict(
                {
                    "image": f"/shared/images/img-{i}.sif",
                    "binds": ["/scratch"],
                    "modules": ["cuda/12.4"],
                }
            )
            data = kernel_json(spec, f"Image {i} (container)")
        else:
            data = {
                "argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": f"Python {i}",
                "language": "python",
                "metadata": {"debugger": True},
            }
        (folder / "kernel.json").write_text(json.dumps(data, indent=1))
    return kernels


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kernels", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        container_dir = populate(Path(tmp, "container"), args.kernels, container=True)
        plain_dir = populate(Path(tmp, "plain"), args.kernels, container=False)
        container = KernelSpecManager(kernel_dirs=[str(container_dir)])
        plain = KernelSpecManager(kernel_dirs=[str(plain_dir)])
        assert len(container.get_all_specs()) == len(plain.get_all_specs()) == args.kernels + 1, (
            "every container kernel must be listed (is the package installed, so that the "
            "container-provisioner entry point exists?)"
        )
        times: dict[str, list[float]] = {"container": [], "plain": []}
        for i in range(args.rounds):  # interleaved, alternating which goes first
            order = [("container", container), ("plain", plain)]
            for label, ksm in order if i % 2 == 0 else order[::-1]:
                times[label].append(timed(ksm.get_all_specs))

        # The package's own listing over the same kernels (jupyter data dir pointed there).
        os.environ["JUPYTER_DATA_DIR"] = str(container_dir.parent)
        os.environ["JUPYTER_PATH"] = ""
        from jupyter_container_kernels.registry.kernelspecs import list_kernels
        from jupyter_container_kernels.site import SiteConfig

        site = SiteConfig()
        assert len(list_kernels(site)) >= args.kernels
        ours = [timed(lambda: list_kernels(site)) for _ in range(max(5, args.rounds // 3))]

    c, p = statistics.median(times["container"]), statistics.median(times["plain"])
    ratio = c / p
    print(
        f"KernelSpecManager.get_all_specs(), {args.kernels} kernels, {args.rounds} interleaved rounds:"
    )
    print(f"  container kernels: median {c * 1000:.1f} ms")
    print(f"  plain kernels:     median {p * 1000:.1f} ms")
    print(f"  ratio: {ratio:.3f} (target <= 1.10) -> {'OK' if ratio <= 1.10 else 'OVER TARGET'}")
    print(
        f"list_kernels() over the {args.kernels} container kernels: median {statistics.median(ours) * 1000:.1f} ms"
    )
    return 0 if ratio <= 1.10 else 1


if __name__ == "__main__":
    sys.exit(main())
