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

Policy is enforced wherever a kernel or job could escape it: ``allowed_image_roots`` and
``allowed_runtime_args`` apply to every spec that is about to run (:meth:`SiteConfig.effective`,
used by every kernel start, probe and batch submit), whoever wrote the kernel.json; the
runtime_args allow-list also applies when a spec is built (:meth:`SiteConfig.build_spec`: CLI,
REST, catalog, kernel listing).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_config_path
from traitlets import Bool, Dict, Enum, Float, List, TraitError, Unicode, validate
from traitlets.config import Config, Configurable
from traitlets.config.loader import ConfigFileNotFound, JSONFileConfigLoader, PyFileConfigLoader

from .errors import PolicyError, SpecError
from .runtimes import get_runtime
from .spec import GPU_CHOICES, RUNTIMES, Bind, ContainerSpec

CONFIG_FILE_NAME = "jupyter_container_kernels_config"

_APPTAINER_ARGS = ("--contain", "-c", "--containall", "-C", "--compat", "--no-home", "--no-init",
                   "--no-umask", "--no-eval", "--no-privs", "--writable-tmpfs", "--cleanenv", "-e",
                   "--pwd", "--cwd", "--nv", "--rocm")  # fmt: skip
_PODMAN_ARGS = ("--cap-drop", "--cpus", "--init", "--memory", "--pull", "--read-only",
                "--shm-size", "--tmpfs")  # fmt: skip
#: ``runtime_args`` a site allows unless ``c.SiteConfig.allowed_runtime_args`` says otherwise:
#: options that only narrow what the container sees, or set details inside it. Left out on
#: purpose: whatever reaches more of the host or more privilege (``--bind``/``-B``/``--mount``/
#: ``--volume``, which go through the validated ``binds``; ``--overlay``, ``--writable``,
#: ``--fakeroot``, ``--userns``, ``--home``, ``--env-file``/``--set-env``, ``--privileged``,
#: ``--hooks-dir``, ``--security-opt``, ``--cap-add``, ``--device``, ``--user``,
#: ``--entrypoint``, ``--annotation``…).
DEFAULT_ALLOWED_RUNTIME_ARGS: dict[str, tuple[str, ...]] = {
    "apptainer": _APPTAINER_ARGS,
    "singularity": _APPTAINER_ARGS,
    "charliecloud": ("--cd", "-c", "--no-passwd", "--private-tmp", "-t", "--env-no-expand",
                     "--verbose", "-v"),
    "podman": _PODMAN_ARGS,
    "podman-hpc": (*_PODMAN_ARGS, "--gpu", "--mpi", "--cuda-mpi"),
    "shifter": ("--module", "-m", "--workdir"),
}  # fmt: skip


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
        "JPY_PARENT_PID/JPY_SESSION_NAME/JUPYTER_* and env_passthrough variables enter the "
        "container.",
    )
    env_passthrough = List(
        Unicode(),
        config=True,
        help="Host variables (shell-style patterns, e.g. 'SLURM_*') passed into containers even "
        "with cleanenv. Credentials of the Jupyter server and JupyterHub (JUPYTERHUB_API_TOKEN, "
        "JPY_API_TOKEN, JUPYTER_TOKEN, JUPYTERHUB_*TOKEN*…: SECRET_VARS in "
        "jupyter_container_kernels.runtimes.base) never go in unless listed here by their exact "
        "name.",
    )
    allowed_image_roots = List(
        Unicode(),
        config=True,
        help="Where images may come from. Absolute paths are directories (an image must resolve, "
        "symbolic links followed, to a path under one); other entries are prefixes of image "
        "references, ending in '/' or ':' (e.g. 'docker://ghcr.io/myorg/', 'docker.io/library/'"
        "). Checked when users register images (CLI without --system, the REST API) and at "
        "every kernel start, probe and batch submit, for every kernel whoever installed it. "
        "Empty means anywhere.",
    )
    allowed_runtime_args = Dict(
        key_trait=Unicode(),
        value_trait=List(Unicode()),
        config=True,
        help="Options a kernel's runtime_args may use, by runtime; a runtime listed here gets "
        "exactly this list, the others keep their default (DEFAULT_ALLOWED_RUNTIME_ARGS in "
        "jupyter_container_kernels.site: options that only narrow what the container sees, such "
        "as --containall, --no-home, --writable-tmpfs). E.g. {'apptainer': ['--containall', "
        "'--fakeroot']}. Binds never go here: they are the validated 'binds' setting.",
    )
    default_logo = Unicode(
        "",
        config=True,
        help="PNG or SVG file used as the launcher logo of new container kernels. Empty: the "
        "package's own logo.",
    )
    image_store = Unicode(
        "",
        config=True,
        help="Directory where `jupyter container-kernels pull` stores images unpacked from "
        "archives (one directory image and one NAME.json metadata file each). Empty: "
        "{jupyter_data_dir}/container-kernels/images, per user.",
    )
    registry_cert_dir = Unicode(
        "",
        config=True,
        help="Directory of CA certificates (ca.crt, *.crt) that pulls from docker:// registries "
        "trust, for a registry with a private CA; `pull --cert-dir` overrides it. Empty: "
        "skopeo's defaults (the system's CAs and /etc/containers/certs.d/HOST:PORT/).",
    )
    registry_authfile = Unicode(
        "",
        config=True,
        help="Credentials file (as `skopeo login --authfile FILE` writes it) for pulls from "
        "docker:// registries; `pull --authfile` overrides it. Empty: skopeo's default, "
        "$XDG_RUNTIME_DIR/containers/auth.json.",
    )
    shared_image_stores = List(
        Unicode(),
        config=True,
        help="Read-only image stores admins fill (e.g. `jupyter container-kernels pull --store "
        "DIR` as root): a user's pull of an image whose digest one of them holds uses that "
        "image instead of pulling a copy into the user's store. List them in "
        "allowed_image_roots too, so user kernels may use their images.",
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

    node_kernels = Enum(
        ("when-configured", "always", "never"),
        default_value="when-configured",
        config=True,
        help="Where container kernels run. 'when-configured': on a compute node Slurm allocates "
        "when the kernel.json has a 'slurm' block, else where the Jupyter server runs. 'always': "
        "every container kernel runs on a compute node (node_defaults give the resources of "
        "kernels without a block): for servers on login nodes. 'never': every kernel runs "
        "where the server runs, 'slurm' blocks are ignored (servers that are themselves a job "
        "on a compute node; batch jobs set it for the kernel they run).",
    )
    node_defaults = Dict(
        config=True,
        help="Default 'slurm' settings of node kernels, under each kernel's own block, e.g. "
        "{'partition': 'interactive', 'time': '8:00:00', 'pending_timeout': 900}. Same names "
        "and validation as a kernel's block (batch jobs' resource fields).",
    )
    node_address = Unicode(
        "hostname",
        config=True,
        help="How the server finds a node kernel's address, evaluated on the node: 'hostname' "
        "(the Slurm node name, resolved there), 'hostname:SUFFIX' (name + suffix, e.g. "
        "'hostname:-ib' for node12-ib), 'interface:NAME' (that interface's IPv4 address, e.g. "
        "'interface:ib0'), or 'address:IP'. The kernel and its agent listen on that address "
        "only; loopback addresses are refused.",
    )
    node_python = Unicode(
        "python3",
        config=True,
        help="Python 3.8+ on the compute nodes (outside the container) that runs the node "
        "kernel's agent, a single standard-library file copied next to the job script.",
    )
    node_lease = Float(
        120.0,
        config=True,
        help="Seconds a node kernel's job lives on without hearing from its Jupyter server (the "
        "server renews the lease every quarter of it). A server that is killed leaves jobs "
        "that end themselves after this grace period.",
    )
    node_kernel_dir = Unicode(
        "",
        config=True,
        help="Directory (on a file system the compute nodes share) for node kernels' private "
        "files: job script, agent, connection settings (0700 directories, 0600 files). Empty: "
        "{jupyter_runtime_dir}/container-kernels-nodes.",
    )

    @validate("node_defaults")
    def _valid_node_defaults(self, proposal: Any) -> dict[str, Any]:
        from .nodes.settings import NodeSettings

        NodeSettings.from_dict(None, defaults=proposal["value"])
        return proposal["value"]

    @validate("node_address")
    def _valid_node_address(self, proposal: Any) -> str:
        from .nodes.settings import check_address_rule

        return check_address_rule(proposal["value"])

    @validate("node_lease")
    def _valid_node_lease(self, proposal: Any) -> float:
        if proposal["value"] < 2:
            raise SpecError("SiteConfig.node_lease", "must be at least 2 seconds.")
        return proposal["value"]

    @validate("default_binds")
    def _valid_binds(self, proposal: Any) -> list[str]:
        for i, bind in enumerate(proposal["value"]):
            Bind.parse(bind, f"SiteConfig.default_binds[{i}]")
        return proposal["value"]

    @validate("allowed_image_roots")
    def _valid_image_roots(self, proposal: Any) -> list[str]:
        for i, root in enumerate(proposal["value"]):
            if not root.startswith("/") and not root.endswith(("/", ":")):
                raise SpecError(
                    f"SiteConfig.allowed_image_roots[{i}]",
                    f"{root!r} is neither an absolute directory nor an image reference prefix "
                    "ending in '/' or ':' (e.g. 'docker://ghcr.io/myorg/').",
                )
        return proposal["value"]

    @validate("allowed_runtime_args")
    def _valid_runtime_args(self, proposal: Any) -> dict[str, list[str]]:
        for name, options in proposal["value"].items():
            if name not in RUNTIMES:
                raise SpecError(
                    "SiteConfig.allowed_runtime_args",
                    f"{name!r} is not one of: {', '.join(RUNTIMES)}.",
                )
            known = get_runtime(name).options
            for i, option in enumerate(options):
                if option not in known:
                    raise SpecError(
                        f"SiteConfig.allowed_runtime_args.{name}[{i}]",
                        f"{option!r} is not an option of {name}; its options are: "
                        f"{', '.join(sorted(known))}.",
                    )
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
        """Validate ``data`` into a spec, with this site's runtime and cleanenv defaults.

        Raises :class:`SpecError` for an invalid value and :class:`PolicyError` for
        ``runtime_args`` outside :meth:`allowed_args`."""
        data = {"runtime": self.default_runtime, "cleanenv": self.default_cleanenv, **data}
        spec = ContainerSpec.from_dict(data, where=where)
        self.check_runtime_args(spec, where=where)
        return spec

    def effective(self, spec: ContainerSpec) -> ContainerSpec:
        """``spec`` with the site's binds and modules added: what actually runs.

        Every start, probe and batch submit comes through here, so the site's policy is
        checked here too, whoever wrote the spec: :class:`PolicyError` for an image outside
        :attr:`allowed_image_roots` or ``runtime_args`` outside :meth:`allowed_args`."""
        self.check_image_allowed(spec.image)
        self.check_runtime_args(spec)
        return spec.with_site_defaults(self.binds, self.default_modules)

    def check_image_allowed(self, image: str) -> None:
        """Refuse an image outside :attr:`allowed_image_roots` (:class:`PolicyError` naming the
        image, the roots and the fix)."""
        roots = self.allowed_image_roots
        if not roots:
            return
        if image.startswith("/"):
            real = Path(os.path.realpath(image))
            if any(r.startswith("/") and real.is_relative_to(os.path.realpath(r)) for r in roots):
                return
        elif any(not r.startswith("/") and image.startswith(r) for r in roots):
            return
        raise PolicyError(
            f"The image {image!r} is outside the directories where this site allows images: "
            f"{', '.join(roots)}. Use an image under one of them (copy it there and point the "
            "kernel's 'image' at the copy), or ask your site's administrators to add its "
            "directory (or, for an image reference, its prefix) to "
            "c.SiteConfig.allowed_image_roots."
        )

    def allowed_args(self, runtime: str) -> tuple[str, ...]:
        """The options a kernel's ``runtime_args`` may use with ``runtime``."""
        if runtime in self.allowed_runtime_args:
            return tuple(self.allowed_runtime_args[runtime])
        return DEFAULT_ALLOWED_RUNTIME_ARGS.get(runtime, ())

    def check_runtime_args(self, spec: ContainerSpec, *, where: str = "") -> None:
        """Refuse ``runtime_args`` options outside :meth:`allowed_args` (:class:`PolicyError`
        naming the option, what is allowed and how an administrator allows more)."""
        options = get_runtime(spec.runtime).options
        allowed = self.allowed_args(spec.runtime)
        args = spec.runtime_args
        i = 0
        while i < len(args):
            name, has_value, _ = args[i].partition("=")
            if name not in allowed:
                field = f"{where}.runtime_args[{i}]" if where else f"runtime_args[{i}]"
                listed = ", ".join(allowed) or "none"
                raise PolicyError(
                    f"{field}: {args[i]!r} is not allowed by this site's policy for "
                    f"{spec.runtime} (runtime options may reach more of the host than the "
                    f"kernel's settings allow). Allowed: {listed}. Remove it from the kernel's "
                    "runtime_args (binds belong in 'binds', variables in 'env'), or ask your "
                    "site's administrators to allow it with c.SiteConfig.allowed_runtime_args "
                    f"= {{{spec.runtime!r}: [...the options above..., {name!r}]}}."
                )
            i += 2 if options.get(name) and not has_value else 1


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
