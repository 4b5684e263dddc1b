"""Which GPU vendor this node has, for kernels with ``gpu: auto``.

Detection is cheap (a few ``stat`` calls and a ``PATH`` lookup, no process) and cached for the
life of the process: a node does not grow GPUs while the server runs. Sites whose nodes hide the
devices (or expose them only inside a job) set ``c.SiteConfig.node_gpu`` instead.
"""

from __future__ import annotations

import functools
import os
import shutil

#: Device nodes the NVIDIA driver creates (``nvidiactl`` exists even before a GPU is opened).
NVIDIA_DEVICES = ("/dev/nvidiactl", "/dev/nvidia0")
#: The AMD kernel fusion driver, present on every ROCm node.
ROCM_DEVICES = ("/dev/kfd",)


@functools.cache
def detect_gpu() -> str | None:
    """``"nvidia"``, ``"rocm"`` or ``None`` for this node (cached; ``detect_gpu.cache_clear()``).

    NVIDIA: a driver device node or ``nvidia-smi`` on ``PATH``. AMD: ``/dev/kfd`` or
    ``rocm-smi`` on ``PATH``. NVIDIA wins on a node that has both.
    """
    if any(os.path.exists(d) for d in NVIDIA_DEVICES) or shutil.which("nvidia-smi"):
        return "nvidia"
    if any(os.path.exists(d) for d in ROCM_DEVICES) or shutil.which("rocm-smi"):
        return "rocm"
    return None


def node_gpu(setting: str = "auto") -> str | None:
    """The node's vendor given ``SiteConfig.node_gpu`` (``auto`` detects, ``none`` is None)."""
    if setting == "auto":
        return detect_gpu()
    return None if setting == "none" else setting
