"""What an output notebook records about where and in what it ran: the container kernel's
effective spec and image identity, and the Slurm job (``metadata.container_kernels.provenance``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
from collections.abc import Mapping
from typing import Any

#: Image files up to this size get a sha256 in the provenance (hashing is ~1 s per GB).
HASH_LIMIT = 64 * 1024 * 1024


def image_identity(image: str) -> dict[str, Any]:
    """Cheap identity of an image: size and mtime; sha256 too for files up to HASH_LIMIT; the
    digest the image store recorded (``image_digest``) for a pulled directory image."""
    if not image.startswith("/"):
        return {"reference": image}
    try:
        st = os.stat(image)
    except OSError as exc:
        return {"path": image, "error": exc.strerror}
    out: dict[str, Any] = {
        "path": image,
        "kind": "directory" if os.path.isdir(image) else "file",
        "size": st.st_size,
        "mtime": _iso(st.st_mtime),
    }
    if out["kind"] == "file" and st.st_size <= HASH_LIMIT:
        digest = hashlib.sha256()
        with open(image, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        out["sha256"] = digest.hexdigest()
    if out["kind"] == "directory":
        from ..images.store import stored_digest

        if stored := stored_digest(image):
            out["image_digest"] = stored
    return out


def container_provenance(kernel: str) -> dict[str, Any]:
    """What the container kernel ``kernel`` runs: effective spec, image identity, GPU.

    The spec comes from :func:`..kernelspecs.get_kernel` with the site's defaults, exactly as
    the kernel gets it interactively; NotFoundError/SpecError if it is not a usable container
    kernel."""
    from ..launch import effective_gpu
    from ..registry.kernelspecs import get_kernel
    from ..runtimes import get_runtime
    from ..site import load_site_config

    site = load_site_config()
    spec = site.effective(get_kernel(kernel, site).spec)
    vendor = effective_gpu(spec, site)
    return {
        "image": spec.image,
        "image_identity": image_identity(spec.image),
        "runtime": spec.runtime,
        "modules": list(spec.modules),
        "binds": [str(b) for b in spec.binds],
        "cleanenv": spec.cleanenv,
        "gpu": spec.gpu,
        "gpu_vendor": vendor,
        "gpu_flags": get_runtime(spec.runtime).gpu_args(vendor),
        "spec": spec.to_dict(),
    }


def slurm_provenance(env: Mapping[str, str]) -> dict[str, Any]:
    keys = (
        "SLURM_JOB_ID",
        "SLURM_ARRAY_JOB_ID",
        "SLURM_ARRAY_TASK_ID",
        "SLURM_JOB_NAME",
        "SLURM_JOB_PARTITION",
        "SLURM_JOB_NODELIST",
        "SLURM_CPUS_ON_NODE",
        "SLURM_GPUS_ON_NODE",
        "CUDA_VISIBLE_DEVICES",
        "ROCR_VISIBLE_DEVICES",
    )
    return {k.lower().removeprefix("slurm_"): env[k] for k in keys if k in env}


def _iso(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat(timespec="seconds")
