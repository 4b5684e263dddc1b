"""A site catalog: one TOML file declaring every kernel a site provides, and ``sync``.

::

    catalog = "hpc-site"          # optional identity (default: the file's absolute path)

    [defaults]                    # optional: applied to every kernel that does not set the key
    runtime = "apptainer"
    binds = ["/scratch"]

    [kernels.pytorch-2-7]         # the kernel name; quote names with dots: [kernels."torch-2.7"]
    display_name = "PyTorch 2.7 (container)"
    image = "/shared/images/pytorch-2.7.sif"
    gpu = "auto"
    modules = ["cuda/12.4"]
    logo = "/shared/images/pytorch.png"     # optional .png or .svg

An entry takes ``display_name``, ``logo`` and every spec setting (``image`` [required],
``runtime``, ``gpu``, ``binds``, ``modules``, ``env``, ``cleanenv``, ``python``, ``workdir``,
``runtime_args``). A key set in an entry replaces the ``[defaults]`` value (lists are not merged);
settings set nowhere take the site's defaults (``SiteConfig.default_runtime``…).

:func:`sync` makes one scope's kernels match the catalog: it creates and updates the catalog's
kernels and removes those it created earlier that the catalog no longer lists. Kernels are
recognised by ``metadata.container_kernels`` (``managed_by: "catalog"`` and the catalog's
identity), so kernels anybody else installed are never touched; an entry whose name is taken by
such a kernel stops the sync before anything changes. Running it twice changes nothing the
second time. It does not probe images unless asked (``probe=True``): an admin often syncs before
every node has the images, and a probe would make the sync depend on this node's runtime.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConflictError, ContainerKernelError, ImageError, PolicyError, SpecError
from ..nodes.settings import NodeSettings
from ..site import SiteConfig, load_site_config
from ..spec import ContainerSpec
from .files import (
    check_writable,
    kernel_files,
    kernel_json,
    logo_files,
    write_kernel_dir,
)
from .kernelspecs import check_name, kernels_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: Keys of a ``[kernels.NAME]`` entry besides the spec's.
ENTRY_KEYS = ("display_name", "logo")
#: Keys of ``[defaults]``.
DEFAULT_KEYS = (*tuple(k for k in ContainerSpec.KEYS if k != "image"), "logo", "slurm")
ACTIONS = ("created", "updated", "removed", "unchanged")


class CatalogError(SpecError):
    """One or more invalid catalog entries; ``errors`` holds each, naming entry and field."""

    def __init__(self, path: str, errors: list[SpecError | PolicyError]) -> None:
        self.errors = errors
        if len(errors) == 1:
            super().__init__(path, str(errors[0]))
        else:
            lines = "".join(f"\n  {e}" for e in errors)
            super().__init__(path, f"{len(errors)} problems:{lines}")


@dataclass(frozen=True)
class CatalogEntry:
    """One validated ``[kernels.NAME]`` entry."""

    name: str
    display_name: str
    spec: ContainerSpec
    logo: str | None = None
    #: ``[kernels.NAME.slurm]``: a node kernel (runs in a Slurm job on a compute node).
    slurm: NodeSettings | None = None


@dataclass(frozen=True)
class Catalog:
    """A validated catalog file. Build it with :meth:`load` or :meth:`parse`."""

    path: str
    identity: str
    entries: tuple[CatalogEntry, ...]

    @classmethod
    def load(cls, path: str | os.PathLike[str], site: SiteConfig | None = None) -> Catalog:
        """Read and validate the TOML file at ``path``."""
        path = os.path.abspath(path)
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
            raise SpecError(path, f"cannot read the catalog: {reason}.") from None
        return cls.parse(text, path, site)

    @classmethod
    def parse(cls, text: str, path: str, site: SiteConfig | None = None) -> Catalog:
        """Validate catalog ``text`` (from ``path``); every problem is reported at once."""
        site = site or load_site_config()
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SpecError(path, f"is not valid TOML: {exc}.") from None
        errors: list[SpecError | PolicyError] = []
        for key in data:
            if key not in ("catalog", "defaults", "kernels"):
                errors.append(
                    SpecError(key, "unknown key; a catalog has: catalog, defaults, kernels.")
                )
        identity = data.get("catalog", path)
        if not isinstance(identity, str) or not identity.strip():
            errors.append(SpecError("catalog", f"expected a non-empty name, got {identity!r}."))
        defaults = data.get("defaults", {})
        if not isinstance(defaults, dict):
            errors.append(SpecError("defaults", "expected a table: [defaults]."))
            defaults = {}
        for key in defaults:
            if key not in DEFAULT_KEYS:
                errors.append(
                    SpecError(
                        f"defaults.{key}", f"unknown key; defaults take: {', '.join(DEFAULT_KEYS)}."
                    )
                )
        kernels = data.get("kernels", {})
        if not isinstance(kernels, dict):
            errors.append(SpecError("kernels", "expected tables: [kernels.NAME]."))
            kernels = {}
        entries = []
        for name, entry in kernels.items():
            try:
                entries.append(_entry(name, entry, defaults, site))
            except (SpecError, PolicyError) as exc:  # every bad entry reported, not the first
                if not any(str(e) == str(exc) for e in errors):  # a [defaults] error, once
                    errors.append(exc)
        if errors:
            raise CatalogError(path, errors)
        return cls(path, identity, tuple(entries))


def _entry(name: str, entry: Any, defaults: dict[str, Any], site: SiteConfig) -> CatalogEntry:
    where = f"kernels.{name}"
    try:
        check_name(name)
    except SpecError as exc:
        raise SpecError(where, str(exc).removeprefix("name: ")) from None
    if not isinstance(entry, dict):
        raise SpecError(where, "expected a table of settings.")
    for key in entry:
        if key not in (*ENTRY_KEYS, *ContainerSpec.KEYS, "slurm"):
            keys = ", ".join((*ENTRY_KEYS, *ContainerSpec.KEYS, "slurm"))
            raise SpecError(f"{where}.{key}", f"unknown key; an entry takes: {keys}.")
    merged = {**defaults, **entry}
    display_name = merged.pop("display_name", f"{name} (container)")
    if not isinstance(display_name, str) or not display_name.strip():
        raise SpecError(
            f"{where}.display_name", f"expected a non-empty string, got {display_name!r}."
        )
    logo = merged.pop("logo", None)
    logo_field = f"{where}.logo" if "logo" in entry else "defaults.logo"
    if logo is not None and (not isinstance(logo, str) or not logo.startswith("/")):
        raise SpecError(
            logo_field, f"expected the absolute path of a .png or .svg file, got {logo!r}."
        )
    if logo is not None and Path(logo).suffix.lower() not in (".png", ".svg"):
        raise SpecError(logo_field, f"{logo!r} is not a .png or .svg file.")
    block = merged.pop("slurm", None)
    try:
        spec = site.build_spec(merged, where=where)
        slurm = None if block is None else NodeSettings.from_dict(block, where=f"{where}.slurm")
    except SpecError as exc:
        raise _blame_defaults(exc, where, entry, defaults) from None
    return CatalogEntry(name, display_name, spec, logo, slurm)


def _blame_defaults(
    exc: SpecError, where: str, entry: Mapping[str, Any], defaults: Mapping[str, Any]
) -> SpecError:
    """Name ``defaults.KEY`` when the bad value came from ``[defaults]``, not the entry."""
    rest = exc.field.removeprefix(where + ".")
    key = re.match(r"\w*", rest).group()  # type: ignore[union-attr]
    if rest == exc.field or key in entry or key not in defaults:
        return exc
    message = str(exc)[len(exc.field) + 2 :]
    return SpecError(f"defaults.{rest}", message)


@dataclass(frozen=True)
class Change:
    """What :func:`sync` did (or, in a dry run, would do) to one kernel."""

    action: str  # one of ACTIONS
    name: str
    resource_dir: str
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "action": self.action,
            "name": self.name,
            "resource_dir": self.resource_dir,
            "detail": self.detail,
        }


def _marker(directory: Path) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(kernel.json, its ``metadata.container_kernels``) of ``directory``; (None, {}) if unreadable."""
    try:
        data = json.loads((directory / "kernel.json").read_text(encoding="utf-8"))
        ours = (data.get("metadata") or {}).get("container_kernels")  # absent: not a catalog kernel
        return data, ours if isinstance(ours, dict) else {}
    except (OSError, ValueError, AttributeError):
        return None, {}


def _differences(directory: Path, current: dict[str, Any], files: dict[str, bytes]) -> list[str]:
    """Names of what differs between the installed kernel and ``files`` (empty: up to date)."""
    wanted = json.loads(files["kernel.json"])
    diffs = [
        k
        for k in ("display_name", "argv", "language", "interrupt_mode")
        if current.get(k) != wanted.get(k)
    ]
    have = (current.get("metadata") or {}).get("kernel_provisioner") or {}
    want = wanted["metadata"]["kernel_provisioner"]
    if have.get("provisioner_name") != want["provisioner_name"]:
        diffs.append("provisioner")
    old, new = have.get("config") or {}, want["config"]
    diffs += sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    if (current.get("metadata") or {}).get("container_kernels") != wanted["metadata"].get(
        "container_kernels"
    ):
        diffs.append("metadata")
    others = {p.name for p in directory.iterdir() if p.name != "kernel.json"}
    logos = {n: b for n, b in files.items() if n != "kernel.json"}
    if others != set(logos) or any((directory / n).read_bytes() != b for n, b in logos.items()):
        diffs.append("logo")
    return diffs


async def sync(
    catalog: str | os.PathLike[str] | Catalog,
    *,
    scope: str = "user",
    prefix: str | None = None,
    dry_run: bool = False,
    probe: bool = False,
    site: SiteConfig | None = None,
) -> list[Change]:
    """Make ``scope``'s kernels match ``catalog``; return one :class:`Change` per kernel.

    Refuses (:class:`ConflictError`, before changing anything) an entry whose name belongs to a
    kernel this catalog did not create. With ``probe``, new and changed images are probed first
    and the sync stops (:class:`ImageError`) if any cannot run a kernel. ``dry_run`` computes the
    same changes and writes nothing.
    """
    site = site or load_site_config()
    if not isinstance(catalog, Catalog):
        catalog = Catalog.load(catalog, site)
    target = kernels_dir(scope, prefix)
    ours = {"managed_by": "catalog", "catalog": catalog.identity}
    plan: list[tuple[Change, dict[str, bytes] | None]] = []
    conflicts = []
    for entry in catalog.entries:
        directory = target / entry.name
        field = f"kernels.{entry.name}.logo" if entry.logo else "logo"
        files = kernel_files(
            kernel_json(entry.spec, entry.display_name, slurm=entry.slurm, **ours),
            logo_files(site, entry.logo, field),
        )
        current, marker = _marker(directory)
        if not directory.exists():
            plan.append((Change("created", entry.name, str(directory)), files))
        elif current is None or {k: marker.get(k) for k in ours} != ours:
            owner = (
                f"the catalog {marker.get('catalog')}"
                if marker.get("managed_by") == "catalog"
                else None
            )
            conflicts.append(
                f"kernels.{entry.name}: {directory} already exists and was not created by this "
                f"catalog{f' (it belongs to {owner})' if owner else ''}; sync never replaces such "
                f"kernels. Rename the entry, or remove that kernel first (`jupyter kernelspec "
                f"remove {entry.name}`)."
            )
        elif diffs := _differences(directory, current, files):
            plan.append((Change("updated", entry.name, str(directory), ", ".join(diffs)), files))
        else:
            plan.append((Change("unchanged", entry.name, str(directory)), None))
    if conflicts:
        raise ConflictError("\n".join(conflicts))
    listed = {e.name for e in catalog.entries}
    for directory in sorted(target.iterdir()) if target.is_dir() else ():
        marker = _marker(directory)[1]
        if directory.name not in listed and {k: marker.get(k) for k in ours} == ours:
            plan.append((Change("removed", directory.name, str(directory)), None))
    plan.sort(key=lambda item: item[0].name)

    changing = [c for c, _ in plan if c.action != "unchanged"]
    if probe:
        await _probe_all(catalog, {c.name for c in changing if c.action != "removed"}, site)
    if not dry_run and changing:
        check_writable(target, scope)
        for change, files in plan:
            if files is not None:
                write_kernel_dir(Path(change.resource_dir), files)
            elif change.action == "removed":
                shutil.rmtree(change.resource_dir)
    return [c for c, _ in plan]


async def _probe_all(catalog: Catalog, names: set[str], site: SiteConfig) -> None:
    from .probe import probe_image

    problems = []
    for entry in catalog.entries:
        if entry.name not in names:
            continue
        try:
            result = await probe_image(entry.spec, site=site)
        except ContainerKernelError as exc:
            problems.append(f"kernels.{entry.name}: {exc}")
            continue
        if not result.ok:
            problems.append(f"kernels.{entry.name}: {entry.spec.image}: {result.message}")
    if problems:
        raise ImageError("Nothing was changed; the probe refused:\n" + "\n".join(problems))
