"""The files of one container kernel directory, and writing them safely.

:func:`kernel_json` is the one definition of a container kernel's ``kernel.json``;
:func:`write_kernel_dir` makes a directory hold exactly a set of files, with ``kernel.json``
written last and atomically, so Jupyter never lists a half-written kernel. Kernels of the
:data:`SHARED_SCOPES` are made world-readable (0644, directories 0755), so that system kernels
written by a root with a strict umask are still usable by everyone; other kernels get the
writer's umask, as kernel.json may carry secrets in ``env``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import shutil
from pathlib import Path
from typing import Any

from ..errors import ConflictError, PolicyError, SpecError
from ..nodes.settings import NodeSettings
from ..site import SiteConfig
from ..spec import ContainerSpec

PROVISIONER_NAME = "container-provisioner"
#: Version of ``metadata.container_kernels`` (the marker of kernels this package wrote).
METADATA_VERSION = 1
RESOURCES = Path(__file__).parent.parent / "resources"
#: Scopes whose kernels every user of the machine runs: written world-readable, whatever the
#: umask. Kernels of the other scopes (user, prefix) get the writer's umask.
SHARED_SCOPES = ("system", "sys-prefix")


def kernel_json(
    spec: ContainerSpec,
    display_name: str,
    *,
    managed_by: str | None = None,
    catalog: str | None = None,
    slurm: NodeSettings | None = None,
) -> dict[str, Any]:
    """The kernel.json of a container kernel. Catalog kernels (``managed_by="catalog"``) carry
    the ``metadata.container_kernels`` marker; other kernels need none (their provisioner name
    says they are container kernels), which keeps kernel.json small for listings."""
    metadata: dict[str, Any] = {
        "kernel_provisioner": {"provisioner_name": PROVISIONER_NAME, "config": spec.to_dict()},
    }
    if slurm is not None:  # a node kernel: runs in a Slurm job on a compute node
        metadata["kernel_provisioner"]["config"]["slurm"] = slurm.to_dict()
    if managed_by:
        metadata["container_kernels"] = {
            "version": METADATA_VERSION,
            "managed_by": managed_by,
            "catalog": catalog,
        }
    return {
        "argv": [spec.python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": display_name,
        "language": "python",
        "interrupt_mode": "message",
        "metadata": metadata,
    }


def logo_files(site: SiteConfig, logo: str | None = None, field: str = "logo") -> dict[str, bytes]:
    """Launcher logo files: ``logo`` (a .png or .svg), else ``SiteConfig.default_logo``, else
    the package's own PNG and SVG."""
    if not logo and site.default_logo:
        logo, field = site.default_logo, "SiteConfig.default_logo"
    if not logo:
        return {n: (RESOURCES / n).read_bytes() for n in ("logo-64x64.png", "logo-svg.svg")}
    suffix = Path(logo).suffix.lower()
    if suffix not in (".png", ".svg"):
        raise SpecError(field, f"{logo!r} is not a .png or .svg file.")
    try:
        data = Path(logo).read_bytes()
    except OSError as exc:
        raise SpecError(field, f"cannot read {logo!r}: {exc.strerror}.") from None
    return {"logo-svg.svg" if suffix == ".svg" else "logo-64x64.png": data}


def kernel_files(kernel: dict[str, Any], logos: dict[str, bytes]) -> dict[str, bytes]:
    """Every file of a kernel directory, by name."""
    return {**logos, "kernel.json": (json.dumps(kernel, indent=1) + "\n").encode()}


def atomic_write(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``path`` so that readers see the old or the new content, never half of it.

    The file gets permissions ``mode``, or, when ``None``, those the umask gives a new file.
    """
    tmp = path.parent / f".tmp-{secrets.token_hex(8)}-{path.name}"
    # 0o666 less the umask, as for any new file; O_EXCL: never through a planted link.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if mode is not None:
                os.fchmod(f.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_kernel_dir(directory: Path, files: dict[str, bytes]) -> None:
    """Make ``directory`` hold exactly ``files``. kernel.json is written last, so Jupyter never
    sees a kernel without its logo; other files already there are removed.

    Kernels of the :data:`SHARED_SCOPES` are made world-readable, others get the umask. A
    kernel directory or kernel.json that is a symbolic link is refused (:class:`ConflictError`):
    writing through it would empty and replace the link's target.
    """
    from .kernelspecs import scope_of  # kernelspecs imports this module

    for path in (directory, directory / "kernel.json"):
        if path.is_symlink():
            raise ConflictError(
                f"Cannot write the kernel {directory}: {path} is a symbolic link (to "
                f"{os.readlink(path)}), and writing through it would replace what is there. "
                f"Remove the link (`rm {shlex.quote(str(path))}`) and try again, or use another "
                "kernel name."
            )
    shared = scope_of(str(directory)) in SHARED_SCOPES
    directory.mkdir(parents=True, exist_ok=True)  # 0o777 less the umask
    if shared:
        os.chmod(directory, 0o755)
    for name in sorted(files, key=lambda n: n == "kernel.json"):
        atomic_write(directory / name, files[name], 0o644 if shared else None)
    for extra in directory.iterdir():
        if extra.name not in files:
            shutil.rmtree(extra) if extra.is_dir() and not extra.is_symlink() else extra.unlink()


def check_writable(directory: Path, scope: str) -> None:
    """Raise :class:`PolicyError` unless this user may create kernels in ``directory``."""
    existing = directory
    while not existing.exists():
        existing = existing.parent
    if not os.access(existing, os.W_OK):
        other = "--user" if scope != "user" else "--prefix PREFIX"
        raise PolicyError(
            f"Cannot write {scope} kernels: {existing} is not writable by this user. Run as an "
            f"administrator, or use {other}."
        )
