"""Site policy and defaults, set by admins in traitlets config.

One :class:`SiteConfig` serves the provisioner, the CLI, the batch executor and the server, so a
default set once applies to kernels however they are started. It reads
``jupyter_container_kernels_config.{json,py}`` from every Jupyter config directory (system,
environment, user: see ``jupyter --paths``) and, when given a parent (the server, the kernel
manager), that application's config on top::

    # /etc/jupyter/jupyter_container_kernels_config.py
    c.SiteConfig.runtime_paths = {"apptainer": "/opt/apptainer/1.3/bin/apptainer"}
    c.SiteConfig.default_binds = ["/scratch", "/projects:/projects:ro"]
    c.SiteConfig.default_modules = ["apptainer"]
    c.SiteConfig.allowed_image_roots = ["/shared/images", "/scratch"]
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_config_path
from traitlets import Bool, Dict, Enum, List, TraitError, Unicode, validate
from traitlets.config import Config, Configurable
from traitlets.config.loader import ConfigFileNotFound, JSONFileConfigLoader, PyFileConfigLoader

from .errors import PolicyError, SpecError
from .spec import GPU_CHOICES, RUNTIMES, Bind, ContainerSpec

CONFIG_FILE_NAME = "jupyter_container_kernels_config"


class SiteConfig(Configurable):
    """Defaults and policy for every container kernel and batch job of this installation."""

    default_runtime = Enum(
        RUNTIMES,
        default_value="apptainer",
        config=True,
        help="Runtime used when a kernel or CLI call names none.",
    )
    runtime_paths = Dict(
        value_trait=Unicode(),
        config=True,
        help="Full path of a runtime's executable, by runtime name, e.g. "
        "{'apptainer': '/opt/apptainer/bin/apptainer'}. Runtimes not listed are looked up on "
        "PATH after the kernel's modules are loaded.",
    )
    default_binds = List(
        Unicode(),
        config=True,
        help="Binds (src[:dst[:ro|rw]]) added to every container kernel and batch job. A "
        "kernel's own bind to the same destination wins.",
    )
    default_modules = List(
        Unicode(),
        config=True,
        help="Modules loaded before every kernel's own modules (e.g. the runtime's module).",
    )
    default_cleanenv = Bool(
        False,
        config=True,
        help="cleanenv for kernels that do not set it: when true only TERM, locale, proxy, "
        "JPY_*/JUPYTER_* and env_passthrough variables enter the container.",
    )
    env_passthrough = List(
        Unicode(),
        config=True,
        help="Host variables (shell-style patterns, e.g. 'SLURM_*') passed into containers even "
        "with cleanenv.",
    )
    allowed_image_roots = List(
        Unicode(),
        config=True,
        help="Directories under which users may register images (CLI without --system and the "
        "REST API). Empty means anywhere. Admin installs (--system, --sys-prefix, --prefix) and "
        "the catalog are not restricted.",
    )
    default_logo = Unicode(
        "",
        config=True,
        help="PNG or SVG file used as the launcher logo of new container kernels. Empty: the "
        "package's own logo.",
    )
    module_init = Unicode(
        "",
        config=True,
        help="Shell init script that defines the `module` command (Lmod's init/bash or "
        "Environment Modules' init/bash). Empty: found from LMOD_PKG / MODULESHOME or the "
        "usual install locations.",
    )
    node_gpu = Enum(
        ("auto", *GPU_CHOICES[1:]),
        default_value="auto",
        config=True,
        help="GPU vendor of this node for kernels with gpu: auto. 'auto' detects NVIDIA (driver "
        "device or nvidia-smi) and AMD (/dev/kfd or rocm-smi) hardware.",
    )

    @validate("default_binds")
    def _valid_binds(self, proposal: Any) -> list[str]:
        for i, bind in enumerate(proposal["value"]):
            Bind.parse(bind, f"SiteConfig.default_binds[{i}]")
        return proposal["value"]

    @validate("runtime_paths")
    def _valid_runtime_paths(self, proposal: Any) -> dict[str, str]:
        for name, path in proposal["value"].items():
            if name not in RUNTIMES:
                raise SpecError(
                    "SiteConfig.runtime_paths", f"{name!r} is not one of: {', '.join(RUNTIMES)}."
                )
            if not os.path.isabs(path):
                raise SpecError(f"SiteConfig.runtime_paths.{name}", f"{path!r} is not absolute.")
        return proposal["value"]

    # -- what the rest of the package asks ------------------------------------------------

    @property
    def binds(self) -> tuple[Bind, ...]:
        return tuple(Bind.parse(b) for b in self.default_binds)

    def build_spec(self, data: Mapping[str, Any], *, where: str = "") -> ContainerSpec:
        """Validate ``data`` into a spec, with this site's runtime and cleanenv defaults."""
        data = {"runtime": self.default_runtime, "cleanenv": self.default_cleanenv, **data}
        return ContainerSpec.from_dict(data, where=where)

    def effective(self, spec: ContainerSpec) -> ContainerSpec:
        """``spec`` with the site's binds and modules added: what actually runs."""
        return spec.with_site_defaults(self.binds, self.default_modules)

    def check_image_allowed(self, image: str) -> None:
        """Refuse a user-registered image outside :attr:`allowed_image_roots`."""
        if not self.allowed_image_roots or not image.startswith("/"):
            if self.allowed_image_roots:
                raise PolicyError(
                    f"{image!r} is not a file under the allowed image roots "
                    f"({', '.join(self.allowed_image_roots)}); copy the image there or ask "
                    "your site's administrators."
                )
            return
        real = Path(os.path.realpath(image))
        for root in self.allowed_image_roots:
            if real.is_relative_to(os.path.realpath(root)):
                return
        raise PolicyError(
            f"{image!r} is outside the directories where this site allows images: "
            f"{', '.join(self.allowed_image_roots)}. Copy the image under one of them, or ask "
            "your site's administrators to register it."
        )


def load_site_config(parent: Configurable | None = None) -> SiteConfig:
    """The site config from the config files, with ``parent``'s config (if any) on top."""
    config = _config_files()
    if parent is not None:
        config.merge(parent.config)
    try:
        return SiteConfig(config=config)
    except TraitError as exc:
        raise SpecError(
            "SiteConfig",
            f"{exc} Fix it in {CONFIG_FILE_NAME}.py/.json (see `jupyter --paths` for where those "
            "files are read) or in the application's config.",
        ) from None


def _config_files() -> Config:
    """``container_kernels_config.py`` / ``.json`` from every Jupyter config directory, merged
    as Jupyter applications merge theirs: lower-priority directories first, JSON over Python."""
    config = Config()
    for directory in reversed(jupyter_config_path()):
        for loader in (
            PyFileConfigLoader(f"{CONFIG_FILE_NAME}.py", path=directory),
            JSONFileConfigLoader(f"{CONFIG_FILE_NAME}.json", path=directory),
        ):
            try:
                config.merge(loader.load_config())
            except ConfigFileNotFound:
                continue
            except Exception as exc:  # a site file with a syntax error or bad JSON
                raise SpecError(
                    "SiteConfig", f"{loader.full_filename} cannot be read: {exc}"
                ) from None
    return config
