"""Container kernels as Jupyter kernelspecs: list, get, install, update, remove.

A container kernel is an ordinary ``kernel.json`` whose ``metadata.kernel_provisioner`` names the
``container-provisioner``, so ``jupyter kernelspec list``, JupyterLab's launcher and every
jupyter_client see it. Where it lives is its *scope*:

=============  =========================================================================
``user``       ``jupyter_data_dir()/kernels`` (``~/.local/share/jupyter/kernels``)
``sys-prefix`` ``sys.prefix/share/jupyter/kernels`` (this Python environment)
``prefix``     ``PREFIX/share/jupyter/kernels`` (any other directory on the Jupyter path)
``system``     the first system data directory (``/usr/local/share/jupyter/kernels``)
=============  =========================================================================

Listing reads ``kernel.json`` files only: it never starts a process (probe results come from the
:mod:`.probe` cache). ``metadata.container_kernels`` records who manages a kernel (``managed_by:
"catalog"`` plus the catalog's path for kernels a site catalog created).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jupyter_core.paths
from jupyter_client.kernelspec import KernelSpecManager

from ..errors import (
    ConflictError,
    ContainerKernelError,
    ImageError,
    NotFoundError,
    PolicyError,
    SpecError,
)
from ..images.store import stored_digest
from ..nodes.settings import NodeSettings
from ..site import SiteConfig, load_site_config
from ..spec import ContainerSpec
from .files import (
    PROVISIONER_NAME,
    atomic_write,
    check_writable,
    kernel_files,
    kernel_json,
    logo_files,
    write_kernel_dir,
)
from .probe import ProbeResult, cached_probe, probe_image

log = logging.getLogger(__name__)

SCOPES = ("user", "sys-prefix", "prefix", "system")
_NAME = re.compile(r"[a-z0-9._-]+\Z")
_IMAGE_SUFFIXES = (".sif", ".simg", ".img", ".sqfs", ".squashfs", ".tar.gz", ".tgz", ".tar")


@dataclass(frozen=True)
class ContainerKernel:
    """One installed container kernel; :meth:`to_dict` is the REST ``Kernel`` shape."""

    name: str
    display_name: str
    spec: ContainerSpec
    scope: str
    resource_dir: str
    managed: bool
    editable: bool
    image_present: bool
    probe: ProbeResult | None
    catalog: str | None = None
    image_digest: str | None = None  # what the image store recorded for a pulled image
    #: A node kernel's Slurm settings (None: it runs where the server runs).
    slurm: NodeSettings | None = None

    def to_dict(self) -> dict[str, Any]:
        digest = {"image_digest": self.image_digest} if self.image_digest else {}
        if self.slurm is not None:
            digest["slurm"] = self.slurm.to_dict()
        return {
            "name": self.name,
            "display_name": self.display_name,
            "scope": self.scope,
            "editable": self.editable,
            "managed": self.managed,
            "resource_dir": self.resource_dir,
            "spec": self.spec.to_dict(),
            "image_present": self.image_present,
            "probe": self.probe.to_dict() if self.probe else None,
            **digest,
        }


@dataclass(frozen=True)
class BrokenKernel:
    """A container kernelspec whose ``kernel.json`` cannot be read or validated."""

    name: str
    resource_dir: str
    error: str


# -- scopes and names -----------------------------------------------------------------------


def kernels_dir(scope: str, prefix: str | None = None) -> Path:
    """The kernels directory of ``scope`` (``prefix`` only with ``scope="prefix"``)."""
    if scope == "user":
        return Path(jupyter_core.paths.jupyter_data_dir()) / "kernels"
    if scope == "sys-prefix":
        return Path(jupyter_core.paths.ENV_JUPYTER_PATH[0]) / "kernels"
    if scope == "system":
        return Path(jupyter_core.paths.SYSTEM_JUPYTER_PATH[0]) / "kernels"
    if scope == "prefix":
        if not prefix:
            raise SpecError("prefix", "scope 'prefix' needs a directory (--prefix PREFIX).")
        return Path(os.path.abspath(prefix)) / "share" / "jupyter" / "kernels"
    raise SpecError("scope", f"{scope!r} is not one of: {', '.join(SCOPES)}.")


def scope_of(resource_dir: str) -> str:
    """Which scope a kernel directory belongs to (``prefix`` for any other Jupyter path)."""
    parent = os.path.realpath(os.path.dirname(resource_dir))
    for scope in ("user", "sys-prefix", "system"):
        if parent == os.path.realpath(kernels_dir(scope)):
            return scope
    if any(
        parent == os.path.realpath(Path(p) / "kernels")
        for p in jupyter_core.paths.SYSTEM_JUPYTER_PATH
    ):
        return "system"
    return "prefix"


def check_name(name: str) -> str:
    """Return ``name`` if it is a valid kernel name, else raise :class:`SpecError`."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise SpecError(
            "name",
            f"{name!r} is not a valid kernel name: use lower-case letters, digits and . _ - "
            "(e.g. pytorch-2.7).",
        )
    return name


def name_from_image(image: str) -> str:
    """A kernel name derived from an image path or reference (``pytorch-2.7.sif`` → ``pytorch-2.7``)."""
    base = image.rstrip("/").rsplit("/", 1)[-1]
    for suffix in _IMAGE_SUFFIXES:
        if base.lower().endswith(suffix) and len(base) > len(suffix):
            base = base[: -len(suffix)]
            break
    name = re.sub(r"[^a-z0-9._-]+", "-", base.lower()).strip("-.")
    if not name:
        raise SpecError("name", f"cannot derive a kernel name from {image!r}; give --name.")
    return name


# -- reading ------------------------------------------------------------------------------


def _read(name: str, resource_dir: str, site: SiteConfig) -> ContainerKernel | BrokenKernel | None:
    """The kernel in ``resource_dir``; ``None`` when it is not a container kernel."""
    path = os.path.join(resource_dir, "kernel.json")
    if not os.path.isfile(path):  # e.g. ipykernel's built-in python3, generated on the fly
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        return BrokenKernel(name, resource_dir, f"{path}: {exc}")
    metadata = data.get("metadata") if isinstance(data, dict) else None
    provisioner = metadata.get("kernel_provisioner") if isinstance(metadata, dict) else None
    if not isinstance(provisioner, dict) or provisioner.get("provisioner_name") != PROVISIONER_NAME:
        return None
    config = dict(provisioner.get("config") or {})
    block = config.pop("slurm", None)
    try:
        spec = site.build_spec(config, where=f"{path}: config")
        slurm = (
            None if block is None else NodeSettings.from_dict(block, where=f"{path}: config.slurm")
        )
    except ContainerKernelError as exc:
        return BrokenKernel(name, resource_dir, str(exc))
    ours = metadata.get("container_kernels") or {}
    managed = isinstance(ours, dict) and ours.get("managed_by") == "catalog"
    scope = scope_of(resource_dir)
    editable = not managed and scope != "system" and os.access(resource_dir, os.W_OK)
    present = os.path.exists(spec.image) if spec.is_path_image else True
    return ContainerKernel(
        name=name,
        display_name=str(data.get("display_name") or name),
        spec=spec,
        scope=scope,
        resource_dir=resource_dir,
        managed=managed,
        editable=editable,
        image_present=present,
        probe=cached_probe(spec),
        catalog=ours.get("catalog") if managed else None,
        image_digest=stored_digest(spec.image) if spec.is_path_image and present else None,
        slurm=slurm,
    )


def scan_kernels(site: SiteConfig | None = None) -> list[ContainerKernel | BrokenKernel]:
    """Every container kernel on the Jupyter path, usable or not (broken ones say why)."""
    site = site or load_site_config()
    found = KernelSpecManager().find_kernel_specs()
    out = []
    for name in sorted(found):
        kernel = _read(name, found[name], site)
        if kernel is not None:
            out.append(kernel)
    return out


def list_kernels(site: SiteConfig | None = None) -> list[ContainerKernel]:
    """Every container kernel visible on the Jupyter path, sorted by name. Never runs a process;
    kernels whose kernel.json is broken are left out (see :func:`broken_kernels`)."""
    kernels = []
    for kernel in scan_kernels(site):
        if isinstance(kernel, BrokenKernel):
            log.warning("Ignoring container kernel %s: %s", kernel.name, kernel.error)
        else:
            kernels.append(kernel)
    return kernels


def broken_kernels(site: SiteConfig | None = None) -> list[BrokenKernel]:
    """Container kernelspecs that cannot be used, each with the reason."""
    return [k for k in scan_kernels(site) if isinstance(k, BrokenKernel)]


def get_kernel(name: str, site: SiteConfig | None = None) -> ContainerKernel:
    """The container kernel ``name``; :class:`NotFoundError` (listing the known names) or the
    :class:`SpecError` of a broken kernel.json otherwise."""
    site = site or load_site_config()
    resource_dir = KernelSpecManager().find_kernel_specs().get(name.lower())
    kernel = _read(name.lower(), resource_dir, site) if resource_dir else None
    if isinstance(kernel, BrokenKernel):
        raise SpecError(kernel.name, f"the kernel cannot be used: {kernel.error}")
    if kernel is None:
        known = ", ".join(k.name for k in list_kernels(site)) or "none"
        what = "is not a container kernel" if resource_dir else "does not exist"
        raise NotFoundError(
            f"Container kernel {name!r} {what}; the container kernels are: {known}."
        )
    return kernel


async def install_kernel(
    spec: ContainerSpec | dict[str, Any],
    *,
    name: str | None = None,
    display_name: str | None = None,
    scope: str = "user",
    prefix: str | None = None,
    probe: bool = True,
    force: bool = False,
    site: SiteConfig | None = None,
    slurm: NodeSettings | dict[str, Any] | None = None,
) -> ContainerKernel:
    """Install a container kernel in ``scope`` and return it.

    ``slurm`` makes it a node kernel (its block validated like batch resources; errors name
    ``slurm.<field>``).

    ``spec`` may be a dict (validated with the site's defaults; errors name ``spec.<field>``);
    ``name`` defaults to one derived from the image. User installs must use an image under
    ``SiteConfig.allowed_image_roots`` (:class:`PolicyError` listing them). With ``probe`` the
    image is probed first and one without ipykernel is refused (:class:`ImageError` with the
    fix). A kernel of the same name anywhere on the Jupyter path is a :class:`ConflictError`
    unless ``force`` (which replaces it in ``scope``).
    """
    site = site or load_site_config()
    if not isinstance(spec, ContainerSpec):
        spec = site.build_spec(spec, where="spec")
    if slurm is not None and not isinstance(slurm, NodeSettings):
        slurm = NodeSettings.from_dict(slurm, where="slurm")
    name = check_name(name) if name else name_from_image(spec.image)
    display_name = display_name or f"{name} (container)"
    target = kernels_dir(scope, prefix)
    if scope == "user":
        site.check_image_allowed(spec.image)
    existing = KernelSpecManager().find_kernel_specs().get(name)
    if (target / name / "kernel.json").is_file():
        existing = str(target / name)
    if existing and not force:
        raise ConflictError(
            f"A kernel named {name!r} already exists ({existing}); choose another --name, or "
            "replace it with --force."
        )
    check_writable(target, scope)
    files = kernel_files(kernel_json(spec, display_name, slurm=slurm), logo_files(site))
    if probe:
        result = await probe_image(spec, site=site)
        if not result.ok:
            raise ImageError(
                f"{spec.image} cannot run a Jupyter kernel: {result.message}. (To register it "
                'anyway, skip the probe: --no-probe, or "probe": false.)'
            )
    write_kernel_dir(target / name, files)
    return _read_ok(name, str(target / name), site)


def _read_ok(name: str, resource_dir: str, site: SiteConfig) -> ContainerKernel:
    kernel = _read(name, resource_dir, site)
    if not isinstance(kernel, ContainerKernel):  # we just wrote it: only a race gets here
        raise NotFoundError(f"The kernel {name!r} in {resource_dir} changed while it was written.")
    return kernel


#: ``update_kernel(slurm=UNCHANGED)``: keep the kernel's ``slurm`` block as it is.
UNCHANGED: Any = object()


def update_kernel(
    name: str,
    display_name: str | None = None,
    changes: dict[str, Any] | None = None,
    *,
    site: SiteConfig | None = None,
    slurm: Any = UNCHANGED,
) -> ContainerKernel:
    """Change a user kernel's display name and/or spec fields (PATCH semantics: given fields
    replace, a ``None`` value resets a field to its default, the others stay; the result is
    validated again). ``slurm``: a block makes it a node kernel, ``None`` one that runs where
    the server runs. Kernels that are not :attr:`~ContainerKernel.editable` (system kernels,
    catalog-managed kernels, read-only directories) are refused with :class:`PolicyError`."""
    site = site or load_site_config()
    kernel = get_kernel(name, site)
    if not kernel.editable:
        why = (
            f"it is managed by the catalog {kernel.catalog}; change the catalog and sync it"
            if kernel.managed
            else f"it is a {kernel.scope} kernel ({kernel.resource_dir}); an administrator "
            "changes it with `jupyter container-kernels install --force` in that scope"
        )
        raise PolicyError(f"Kernel {kernel.name!r} cannot be edited: {why}.")
    spec = kernel.spec
    if changes is not None:
        if not isinstance(changes, dict):
            raise SpecError("spec", f"expected a mapping of settings, got {changes!r}.")
        merged = {k: v for k, v in {**spec.to_dict(), **changes}.items() if v is not None}
        spec = site.build_spec(merged, where="spec")
        if kernel.scope == "user" and spec.image != kernel.spec.image:
            site.check_image_allowed(spec.image)
    path = Path(kernel.resource_dir) / "kernel.json"
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if slurm is UNCHANGED:
        slurm = kernel.slurm
    elif slurm is not None and not isinstance(slurm, NodeSettings):
        slurm = NodeSettings.from_dict(slurm, where="slurm")
    new = kernel_json(spec, display_name or kernel.display_name, slurm=slurm)
    data["display_name"] = new["display_name"]
    data["argv"] = new["argv"]
    data["metadata"]["kernel_provisioner"] = new["metadata"]["kernel_provisioner"]
    # Keep the file's permissions: a kernel.json its owner made private (env secrets) stays so.
    mode = stat.S_IMODE(os.stat(path).st_mode)
    atomic_write(path, (json.dumps(data, indent=1) + "\n").encode(), mode)
    return _read_ok(kernel.name, kernel.resource_dir, site)


def remove_kernel(
    name: str,
    scope: str | None = None,
    *,
    prefix: str | None = None,
    force: bool = False,
    site: SiteConfig | None = None,
) -> str:
    """Remove container kernel ``name`` and return its directory.

    Without ``scope`` this is the kernel Jupyter sees under that name, and a system kernel is
    refused: an administrator says ``scope="system"``. Catalog-managed kernels are refused
    unless ``force`` (the next sync would bring them back).
    """
    site = site or load_site_config()
    found: ContainerKernel | BrokenKernel | None
    if scope is not None:
        directory = kernels_dir(scope, prefix) / name.lower()
        if not (directory / "kernel.json").is_file():
            raise NotFoundError(
                f"There is no kernel {name!r} in the {scope} kernels ({directory.parent})."
            )
        found = _read(name.lower(), str(directory), site)
        if found is None:
            raise NotFoundError(
                f"{directory} is not a container kernel; use `jupyter kernelspec remove`."
            )
    else:
        try:
            found = get_kernel(name, site)
        except SpecError:  # a broken kernel.json can still be removed
            found = next(k for k in broken_kernels(site) if k.name == name.lower())
    if isinstance(found, ContainerKernel):
        if found.managed and not force:
            raise PolicyError(
                f"Kernel {found.name!r} is managed by the catalog {found.catalog}; remove it "
                "from the catalog and sync, or pass --force."
            )
        if found.scope == "system" and scope != "system":
            raise PolicyError(
                f"Kernel {found.name!r} is a system kernel ({found.resource_dir}); an "
                "administrator removes it with `jupyter container-kernels remove --system`."
            )
    directory = Path(found.resource_dir)
    if not os.access(directory.parent, os.W_OK):
        raise PolicyError(f"Cannot remove {directory}: its directory is not writable by this user.")
    shutil.rmtree(directory)
    return str(directory)
