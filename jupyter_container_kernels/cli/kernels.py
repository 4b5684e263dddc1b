"""``jupyter container-kernels install | list | show | remove | sync | probe``.

Thin: parse flags, call :mod:`..registry`, print. Container settings given as flags go through
the spec's own validators (``--gpu yes`` says which values are valid), like kernel.json and the
REST API.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any, ClassVar

from traitlets import Bool, Enum, List

from ..errors import SpecError
from ..nodes.settings import RESOURCE_KEYS
from ..site import SiteConfig
from ..spec import ContainerSpec
from .base import JSON_FLAG, SlurmResourceOptions, Text, Verb

SCOPE_FLAGS: dict[str, Any] = {
    "user": ({"ScopedVerb": {"scope": "user"}}, "Your own kernels (jupyter_data_dir()/kernels): the default."),
    "sys-prefix": ({"ScopedVerb": {"scope": "sys-prefix"}}, "This Python environment's kernels (sys.prefix/share/jupyter/kernels)."),
    "system": ({"ScopedVerb": {"scope": "system"}}, "The system kernels (/usr/local/share/jupyter/kernels): for administrators."),
}  # fmt: skip


class ScopedVerb(Verb):
    """A verb that acts on one kernel scope (``--user``, ``--sys-prefix``, ``--system``,
    ``--prefix``)."""

    scope = Enum(("user", "sys-prefix", "prefix", "system"), "user", config=True,
                 help="Where kernels are installed: user, sys-prefix, prefix (with --prefix) or system.")  # fmt: skip
    prefix = Text(config=True, help="--prefix PREFIX: use PREFIX/share/jupyter/kernels.")

    def where(self) -> tuple[str, str | None]:
        if self.prefix:
            return "prefix", self.prefix
        return self.scope, None


_SPEC_ALIASES = {
    "runtime": "SpecOptions.runtime", "gpu": "SpecOptions.gpu", "python": "SpecOptions.python",
    "bind": "SpecOptions.bind", "module": "SpecOptions.module", "env": "SpecOptions.env",
}  # fmt: skip


class SpecOptions(ScopedVerb):
    """Container settings given as flags (install, probe)."""

    # Checked by the spec (with the list of valid values), not by traitlets.
    runtime = Text(config=True, help="Container runtime (default: the site's).")
    gpu = Text(config=True, help="GPU access: auto (default), nvidia, rocm or none.")
    python = Text(config=True, help="Python inside the image (default python3).")
    bind = List(Text().tag(flag="bind"), config=True, help="--bind SRC[:DST[:ro|rw]], repeatable.")
    module = List(
        Text().tag(flag="module"),
        config=True,
        help="--module NAME, repeatable: loaded before the runtime starts.",
    )
    env = List(
        Text().tag(flag="env"),
        config=True,
        help="--env NAME=VALUE, repeatable: set inside the container.",
    )

    #: Spec fields that come from a flag with a fixed set of values: a bad one is a usage error.
    CHOICE_FIELDS = ("runtime", "gpu")

    def build_spec(self, site: SiteConfig) -> ContainerSpec:
        """The spec the flags and IMAGE describe, checked by the spec's own validators (the
        messages kernel.json and the REST API give)."""
        try:
            return site.build_spec(self.spec_data(self.extra_args[0]))
        except SpecError as exc:
            if exc.field in self.CHOICE_FIELDS:
                self.usage_error(str(exc))
            raise

    def spec_data(self, image: str) -> dict[str, Any]:
        data: dict[str, Any] = {"image": image}
        for key in ("runtime", "gpu", "python"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        if self.bind:
            data["binds"] = list(self.bind)
        if self.module:
            data["modules"] = list(self.module)
        env = {}
        for item in self.env:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise SpecError("--env", f"{item!r} is not NAME=VALUE.")
            env[key] = value
        if env:
            data["env"] = env
        return data


class InstallApp(SpecOptions, SlurmResourceOptions):
    """Register a container image as a Jupyter kernel."""

    name = "jupyter-container-kernels-install"
    description = (
        "Install IMAGE as a Jupyter kernel. The image is probed first (it needs ipykernel); "
        "user installs must use an image under the site's allowed image roots."
    )
    examples = (
        "jupyter container-kernels install /shared/images/pytorch-2.7.sif --name pytorch-2.7 "
        '--display-name "PyTorch 2.7 (container)" --gpu auto --bind /scratch --module cuda/12.4'
    )
    positional = (1, 1)
    usage_args = "one IMAGE"
    kernel_name = Text(config=True, help="Kernel name (default: from the image's file name).").tag(
        flag="name"
    )
    display_name = Text(config=True, help="Name shown in the launcher (default: NAME (container)).")
    no_probe = Bool(False, config=True, help="Install without probing the image.")
    force = Bool(False, config=True, help="Replace a kernel of the same name.")
    # A node kernel (runs in a Slurm job on a compute node): submit's resource names.
    slurm = Bool(
        False,
        config=True,
        help="Run the kernel on a compute node Slurm allocates (the site's node_defaults; "
        "implied by any of the resource options).",
    )
    pending_timeout = Text(
        config=True, help="Node kernel: seconds the job may wait in the queue (0: no limit)."
    )
    aliases: ClassVar[dict[str, Any]] = {
        **_SPEC_ALIASES, "name": "InstallApp.kernel_name", "display-name": "InstallApp.display_name",
        "prefix": "ScopedVerb.prefix",
        **{k.replace("_", "-"): f"InstallApp.{k}" for k in (*RESOURCE_KEYS, "pending_timeout")},
    }  # fmt: skip
    flags: ClassVar[dict[str, Any]] = {
        **SCOPE_FLAGS,
        "no-probe": ({"InstallApp": {"no_probe": True}}, "Do not probe the image first."),
        "force": ({"InstallApp": {"force": True}}, "Replace an existing kernel of that name."),
        "slurm": (
            {"InstallApp": {"slurm": True}},
            "Run the kernel on a compute node (in a Slurm job) with the site's node_defaults.",
        ),
    }

    def slurm_data(self) -> dict[str, Any] | None:
        """The ``slurm`` block the flags describe (None: a kernel where the server runs)."""
        data: dict[str, Any] = {k: getattr(self, k) for k in RESOURCE_KEYS if getattr(self, k)}
        if self.pending_timeout:
            try:
                data["pending_timeout"] = float(self.pending_timeout)
            except ValueError:
                raise SpecError(
                    "--pending-timeout", f"{self.pending_timeout!r} is not a number of seconds."
                ) from None
        return data if data or self.slurm else None

    def run(self) -> None:
        from ..images.sources import is_archive
        from ..images.store import PULL_RUNTIMES
        from ..registry.kernelspecs import install_kernel
        from .images import pull_source

        scope, prefix = self.where()
        site = self.site()
        text = self.extra_args[0]
        # Pull first, and the kernel runs the stored image: an archive, or a registry's image
        # when --runtime names a runtime to pull for (without it, a reference is registered as
        # it is: Apptainer pulls it into its cache at each start).
        registry = text.startswith(("docker://", "oras://"))
        if is_archive(text) or (registry and self.runtime in PULL_RUNTIMES):
            if self.runtime not in (None, *PULL_RUNTIMES):
                self.usage_error(
                    f"--runtime {self.runtime}: pulled images run with "
                    f"{', '.join(PULL_RUNTIMES)} only"
                )
            self.runtime = self.runtime or "charliecloud"
            self.extra_args[0] = pull_source(
                text, site, runtime=self.runtime, name=self.kernel_name
            )
        kernel = asyncio.run(
            install_kernel(
                self.build_spec(site),
                name=self.kernel_name or None,
                display_name=self.display_name or None,
                scope=scope,
                prefix=prefix,
                probe=not self.no_probe,
                force=self.force,
                site=site,
                slurm=self.slurm_data(),
            )
        )
        probe = f"; {kernel.probe.message}" if kernel.probe else ""
        print(f"Installed {kernel.name} ({kernel.display_name}) in {kernel.resource_dir}{probe}")


class ListApp(Verb):
    """List container kernels."""

    name = "jupyter-container-kernels-list"
    description = "List the container kernels Jupyter sees (reads kernel.json files; runs nothing)."
    flags: ClassVar[dict[str, Any]] = JSON_FLAG

    def run(self) -> None:
        from ..registry.kernelspecs import BrokenKernel, scan_kernels

        found = scan_kernels(self.site())
        kernels = [k for k in found if not isinstance(k, BrokenKernel)]
        for broken in (k for k in found if isinstance(k, BrokenKernel)):
            print(
                f"Warning: {broken.name} ({broken.resource_dir}) is unusable: {broken.error}",
                file=sys.stderr,
            )
        if self.json:
            return self.emit({"kernels": [k.to_dict() for k in kernels]})
        if not kernels:
            print("No container kernels. Add one with `jupyter container-kernels install IMAGE`.")
            return
        rows = [
            (
                "NAME",
                "DISPLAY NAME",
                "IMAGE",
                "RUNTIME",
                "GPU",
                "MODULES",
                "RUNS ON",
                "SCOPE",
                "IMAGE PRESENT",
            )
        ]
        for k in kernels:
            rows.append((k.name, k.display_name, k.spec.image, k.spec.runtime, k.spec.gpu,
                         ",".join(k.spec.modules) or "-", _runs_on(k),
                         k.scope + (" (catalog)" if k.managed else ""),
                         "yes" if k.image_present else "NO"))  # fmt: skip
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        for row in rows:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1])


def _runs_on(kernel: Any) -> str:
    """``server``, or ``node (sbatch options)`` for a node kernel."""
    if kernel.slurm is None:
        return "server"
    options = " ".join(
        o if v is None else f"{o}={v}" for o, v in kernel.slurm.resources.directives()
    )
    return f"node ({options or 'site defaults'})"


class ShowApp(Verb):
    """Show one container kernel."""

    name = "jupyter-container-kernels-show"
    description = "Show NAME's settings, location and (cached) probe result."
    positional = (1, 1)
    usage_args = "one kernel NAME"
    flags: ClassVar[dict[str, Any]] = JSON_FLAG

    def run(self) -> None:
        from ..registry.kernelspecs import get_kernel

        kernel = get_kernel(self.extra_args[0], self.site())
        if self.json:
            return self.emit(kernel.to_dict())
        print(f"{kernel.name}: {kernel.display_name}")
        print(
            f"  directory: {kernel.resource_dir} ({kernel.scope}{', catalog ' + str(kernel.catalog) if kernel.managed else ''})"
        )
        print(f"  image present: {'yes' if kernel.image_present else 'NO'}")
        if kernel.image_digest:
            print(f"  image digest: {kernel.image_digest}")
        print(f"  runs on: {_runs_on(kernel)}")
        for key, value in kernel.spec.to_dict().items():
            print(f"  {key}: {json.dumps(value) if not isinstance(value, str) else value}")
        print(
            f"  probe: {kernel.probe.message if kernel.probe else 'not probed (jupyter container-kernels probe)'}"
        )


class RemoveApp(ScopedVerb):
    """Remove a container kernel."""

    name = "jupyter-container-kernels-remove"
    description = "Remove the container kernel NAME (give the scope to remove a system kernel)."
    positional = (1, 1)
    usage_args = "one kernel NAME"
    force = Bool(False, config=True, help="Also remove a catalog-managed kernel.")
    aliases: ClassVar[dict[str, Any]] = {"prefix": "ScopedVerb.prefix"}
    flags: ClassVar[dict[str, Any]] = {
        **SCOPE_FLAGS,
        "force": ({"RemoveApp": {"force": True}}, "Remove even a kernel a catalog manages."),
    }
    _scope_given = False

    def parse_command_line(self, argv: Any = None) -> None:
        super().parse_command_line(argv)
        self._scope_given = any(
            a.lstrip("-").split("=")[0] in (*SCOPE_FLAGS, "prefix") for a in self.argv
        )

    def run(self) -> None:
        from ..registry.kernelspecs import remove_kernel

        scope, prefix = self.where()
        removed = remove_kernel(
            self.extra_args[0],
            scope if self._scope_given else None,
            prefix=prefix,
            force=self.force,
        )
        print(f"Removed {removed}")


class SyncApp(ScopedVerb):
    """Make the installed kernels match a catalog file."""

    name = "jupyter-container-kernels-sync"
    description = (
        "Create, update and remove exactly the kernels CATALOG (a TOML file) manages, in one "
        "scope. Kernels it did not create are never touched."
    )
    examples = (
        "jupyter container-kernels sync /etc/jupyter/container-kernels.toml --system --dry-run"
    )
    positional = (1, 1)
    usage_args = "one CATALOG file"
    dry_run = Bool(False, config=True, help="Show what would change; change nothing.")
    probe = Bool(
        False, config=True, help="Probe new and changed images (refuse those without ipykernel)."
    )
    aliases: ClassVar[dict[str, Any]] = {"prefix": "ScopedVerb.prefix"}
    flags: ClassVar[dict[str, Any]] = {
        **SCOPE_FLAGS,
        **JSON_FLAG,
        "dry-run": ({"SyncApp": {"dry_run": True}}, "Show the changes without making them."),
        "probe": ({"SyncApp": {"probe": True}}, "Probe new and changed images first."),
    }

    def run(self) -> None:
        from ..registry.catalog import sync

        scope, prefix = self.where()
        changes = asyncio.run(
            sync(self.extra_args[0], scope=scope, prefix=prefix, dry_run=self.dry_run,
                 probe=self.probe, site=self.site())
        )  # fmt: skip
        if self.json:
            return self.emit({"dry_run": self.dry_run, "changes": [c.to_dict() for c in changes]})
        verb = "would be " if self.dry_run else ""
        for change in changes:
            print(
                f"{change.action:>9}  {change.name}"
                + (f"  ({change.detail})" if change.detail else "")
            )
        counts = {
            a: sum(c.action == a for c in changes)
            for a in ("created", "updated", "removed", "unchanged")
        }
        print(", ".join(f"{n} {verb}{a}" for a, n in counts.items()), file=sys.stderr)


class ProbeApp(SpecOptions):
    """Probe an image: Python, ipykernel, platform, frameworks."""

    name = "jupyter-container-kernels-probe"
    description = (
        "Run a short Python program inside IMAGE and report its Python and ipykernel versions, "
        "platform and torch/tensorflow/jax versions. Results are cached by image path, size "
        "and mtime."
    )
    examples = "jupyter container-kernels probe /shared/images/pytorch-2.7.sif --runtime apptainer"
    positional = (1, 1)
    usage_args = "one IMAGE"
    no_cache = Bool(False, config=True, help="Probe again even if a cached result exists.")
    aliases: ClassVar[dict[str, Any]] = dict(_SPEC_ALIASES)
    flags: ClassVar[dict[str, Any]] = {
        **JSON_FLAG,
        "no-cache": ({"ProbeApp": {"no_cache": True}}, "Ignore the cache."),
    }

    def run(self) -> None:
        from ..registry.probe import probe_image, report

        site = self.site()
        spec = self.build_spec(site)
        result = asyncio.run(probe_image(spec, site=site, use_cache=not self.no_cache))
        answer = report(result, spec)
        if self.json:
            self.emit(answer)
        else:
            print(
                ("OK: " if result.ok else "UNUSABLE: ")
                + result.message
                + (" (cached)" if result.cached else "")
            )
            if "image_digest" in answer:
                print(f"image digest: {answer['image_digest']}")
        if not result.ok:
            self.exit(1)
