"""Which GPU vendor this node has, for kernels with ``gpu: auto``.

Detection is cheap (a few ``stat`` calls and a ``PATH`` lookup, no process) and cached for the
life of the process: a node does not grow GPUs while the server runs. Sites whose nodes hide the
devices (or expose them only inside a job) set ``c.SiteConfig.node_gpu`` instead.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
from dataclasses import dataclass


@dataclass(frozen=True)
class GpuProbe:
    """What shows that a node has one vendor's GPUs: any device node, or any tool on PATH."""

    vendor: str
    devices: tuple[str, ...]
    tools: tuple[str, ...]


#: Tried in order; the first that matches wins (NVIDIA on a node that has both).
#: ``/dev/nvidiactl`` exists even before a GPU is opened; ``/dev/kfd`` (the AMD kernel fusion
#: driver) is present on every ROCm node.
PROBES = (
    GpuProbe("nvidia", ("/dev/nvidiactl", "/dev/nvidia0"), ("nvidia-smi",)),
    GpuProbe("rocm", ("/dev/kfd",), ("rocm-smi",)),
)


@functools.cache
def detect_gpu() -> str | None:
    """``"nvidia"``, ``"rocm"`` or ``None`` for this node (cached; ``detect_gpu.cache_clear()``).

    The first of :data:`PROBES` whose device node exists or whose tool is on ``PATH``.
    """
    for probe in PROBES:
        if any(os.path.exists(d) for d in probe.devices) or any(map(shutil.which, probe.tools)):
            return probe.vendor
    return None


def gpu_detection_bash(variable: str = "jck_gpu") -> list[str]:
    """Bash lines doing what :func:`detect_gpu` does, on a node without this package: they set
    ``$variable`` to the vendor, or to ``none``."""
    lines = []
    for i, probe in enumerate(PROBES):
        tests = [f"[ -e {shlex.quote(d)} ]" for d in probe.devices]
        tests += [f"command -v {shlex.quote(t)} >/dev/null 2>&1" for t in probe.tools]
        keyword = "if" if i == 0 else "elif"
        lines.append(f"{keyword} {' || '.join(tests)}; then {variable}={probe.vendor}")
    return [*lines, f"else {variable}=none; fi"] if lines else [f"{variable}=none"]


def node_gpu(setting: str = "auto") -> str | None:
    """The node's vendor given ``SiteConfig.node_gpu`` (``auto`` detects, ``none`` is None)."""
    if setting == "auto":
        return detect_gpu()
    return None if setting == "none" else setting
