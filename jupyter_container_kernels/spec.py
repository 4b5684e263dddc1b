"""The one validated description of "how to run Python in this image".

A :class:`ContainerSpec` is built at every edge (kernel.json provisioner config, CLI flags, REST
bodies, catalog entries) with :meth:`ContainerSpec.from_dict`; everything inside the package
trusts it. The same spec serves interactive kernels, batch jobs and image probes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import SpecError
from .runtimes import get_runtime

RUNTIMES = ("apptainer", "singularity", "charliecloud", "podman", "podman-hpc", "shifter")
GPU_CHOICES = ("auto", "nvidia", "rocm", "none")
#: Runtimes whose image is a file or directory on a shared filesystem.
PATH_IMAGE_RUNTIMES = ("apptainer", "singularity", "charliecloud")
#: Image URIs Apptainer/Singularity pull or resolve themselves.
APPTAINER_URI_SCHEMES = (
    "docker://",
    "docker-archive:",
    "oras://",
    "library://",
    "shub://",
    "instance://",
)
#: Variables every runtime sets (or refuses) itself; a spec may not override them.
RESERVED_ENV = ("PATH", "HOME")

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MODULE = re.compile(r"[A-Za-z0-9_.+][A-Za-z0-9_.+\-/]*\Z")
_PYTHON = re.compile(r"(/[^\x00-\x1f]+|python[0-9.]*)\Z")
_OCI_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+\-]*\Z")
_SHIFTER_REF = re.compile(r"(docker|id|custom):[A-Za-z0-9][A-Za-z0-9._/:@+\-]*\Z")
_FORBIDDEN_PATH_CHARS = re.compile(r"[\x00-\x1f,:]")


def _check_path(field_name: str, value: Any, *, what: str = "path") -> str:
    if not isinstance(value, str) or not value:
        raise SpecError(field_name, f"expected a non-empty {what}, got {value!r}.")
    if not value.startswith("/"):
        raise SpecError(
            field_name, f"{value!r} is not an absolute path; write it starting with '/'."
        )
    if _FORBIDDEN_PATH_CHARS.search(value):
        raise SpecError(
            field_name,
            f"{value!r} contains a comma, colon or control character, which container runtimes "
            "use as separators; rename or symlink the path.",
        )
    return value.rstrip("/") or "/"


@dataclass(frozen=True)
class Bind:
    """One host path made visible inside the container."""

    src: str
    dst: str
    read_only: bool = False

    @classmethod
    def parse(cls, value: Any, field_name: str = "binds") -> Bind:
        """Parse ``src[:dst[:ro|rw]]`` (or a ``{"src", "dst", "mode"}`` mapping)."""
        if isinstance(value, Bind):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {"src", "dst", "mode"}
            if unknown:
                raise SpecError(field_name, f"unknown keys {sorted(unknown)}; use src, dst, mode.")
            parts = [
                value.get("src"),
                value.get("dst") or value.get("src"),
                value.get("mode", "rw"),
            ]
        elif isinstance(value, str):
            parts = value.split(":")
            if len(parts) > 3:
                raise SpecError(
                    field_name,
                    f"{value!r} has too many ':'; write src[:dst[:ro|rw]], e.g. /data:/data:ro.",
                )
            parts += [None] * (3 - len(parts))
            parts[1] = parts[1] or parts[0]
            parts[2] = parts[2] or "rw"
        else:
            raise SpecError(field_name, f"expected 'src[:dst[:ro|rw]]', got {value!r}.")
        src = _check_path(f"{field_name} (source)", parts[0])
        dst = _check_path(f"{field_name} (destination)", parts[1])
        if parts[2] not in ("ro", "rw"):
            raise SpecError(field_name, f"mode {parts[2]!r} is not allowed; use 'ro' or 'rw'.")
        return cls(src, dst, parts[2] == "ro")

    def __str__(self) -> str:
        if self.read_only:
            return f"{self.src}:{self.dst}:ro"
        return self.src if self.dst == self.src else f"{self.src}:{self.dst}"


@dataclass(frozen=True)
class ContainerSpec:
    """How to run Python inside one container image. Build it with :meth:`from_dict`."""

    image: str
    runtime: str = "apptainer"
    gpu: str = "auto"
    binds: tuple[Bind, ...] = ()
    modules: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cleanenv: bool = False
    python: str = "python3"
    workdir: str | None = None
    runtime_args: tuple[str, ...] = field(default=())

    #: The keys of kernel.json's ``metadata.kernel_provisioner.config`` (the public interface).
    KEYS = ("image", "runtime", "gpu", "binds", "modules", "env", "cleanenv", "python", "workdir",
            "runtime_args")  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "") -> ContainerSpec:
        """Validate ``data`` (kernel.json config, a REST body, a catalog entry) into a spec.

        ``where`` prefixes field names in error messages (e.g. ``kernels.pytorch``).
        """
        if not isinstance(data, Mapping):
            raise SpecError(where or "spec", f"expected a mapping of settings, got {data!r}.")

        def name(key: str) -> str:
            return f"{where}.{key}" if where else key

        unknown = [k for k in data if k not in cls.KEYS]
        if unknown:
            raise SpecError(
                name(str(unknown[0])), f"unknown setting; the settings are: {', '.join(cls.KEYS)}."
            )
        if "image" not in data:
            raise SpecError(name("image"), "is required: the path (or reference) of the image.")

        runtime = data.get("runtime", "apptainer")
        if runtime not in RUNTIMES:
            raise SpecError(name("runtime"), f"{runtime!r} is not one of: {', '.join(RUNTIMES)}.")
        gpu = data.get("gpu", "auto")
        if gpu not in GPU_CHOICES:
            raise SpecError(name("gpu"), f"{gpu!r} is not one of: {', '.join(GPU_CHOICES)}.")
        cleanenv = data.get("cleanenv", False)
        if not isinstance(cleanenv, bool):
            raise SpecError(name("cleanenv"), f"expected true or false, got {cleanenv!r}.")

        image = _check_image(name("image"), runtime, data["image"])
        binds = tuple(
            Bind.parse(b, f"{name('binds')}[{i}]")
            for i, b in enumerate(_as_list(name("binds"), data.get("binds", ())))
        )
        modules = tuple(
            _check_module(f"{name('modules')}[{i}]", m)
            for i, m in enumerate(_as_list(name("modules"), data.get("modules", ())))
        )
        env = _check_env(name("env"), data.get("env", {}))

        python = data.get("python", "python3")
        if not isinstance(python, str) or not _PYTHON.match(python):
            raise SpecError(
                name("python"),
                f"{python!r} is not an interpreter; give an absolute path inside the image "
                "(e.g. /opt/conda/envs/torch/bin/python) or a name like python3.",
            )
        workdir = data.get("workdir")
        if workdir is not None:
            workdir = _check_path(name("workdir"), workdir)

        runtime_args = tuple(_as_list(name("runtime_args"), data.get("runtime_args", ())))
        for i, arg in enumerate(runtime_args):
            if not isinstance(arg, str) or "\x00" in arg or "\n" in arg:
                raise SpecError(
                    f"{name('runtime_args')}[{i}]", f"expected one option, got {arg!r}."
                )
        get_runtime(runtime).check_options(runtime_args, name("runtime_args"))

        return cls(
            image, runtime, gpu, binds, modules, env, cleanenv, python, workdir, runtime_args
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to kernel.json (defaults left out, so files stay short; the
        values a site default could otherwise change, ``runtime`` and ``cleanenv``, always in)."""
        out: dict[str, Any] = {"image": self.image, "runtime": self.runtime, "gpu": self.gpu}
        if self.binds:
            out["binds"] = [str(b) for b in self.binds]
        if self.modules:
            out["modules"] = list(self.modules)
        if self.env:
            out["env"] = dict(self.env)
        # Always explicit: absent, the site's default_cleanenv would decide at start.
        out["cleanenv"] = self.cleanenv
        if self.python != "python3":
            out["python"] = self.python
        if self.workdir:
            out["workdir"] = self.workdir
        if self.runtime_args:
            out["runtime_args"] = list(self.runtime_args)
        return out

    @property
    def env_dict(self) -> dict[str, str]:
        return dict(self.env)

    @property
    def is_path_image(self) -> bool:
        """True when the image is a file or directory on this filesystem (not a URI/reference)."""
        return self.runtime in PATH_IMAGE_RUNTIMES and self.image.startswith("/")

    def with_site_defaults(
        self, binds: Iterable[Bind] = (), modules: Iterable[str] = ()
    ) -> ContainerSpec:
        """Site binds and modules first (kernel's own win on the same destination / name)."""
        own_dsts = {b.dst for b in self.binds}
        merged_binds = tuple(b for b in binds if b.dst not in own_dsts) + self.binds
        own_modules = set(self.modules)
        merged_modules = tuple(m for m in modules if m not in own_modules) + self.modules
        return replace(self, binds=merged_binds, modules=merged_modules)


def _as_list(field_name: str, value: Any) -> list[Any]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise SpecError(field_name, f"expected a list, got {value!r}.")
    return list(value)


def _check_image(field_name: str, runtime: str, image: Any) -> str:
    if not isinstance(image, str) or not image.strip():
        raise SpecError(field_name, f"expected an image path or reference, got {image!r}.")
    if runtime in ("apptainer", "singularity") and image.startswith(APPTAINER_URI_SCHEMES):
        if any(c.isspace() for c in image):
            raise SpecError(field_name, f"{image!r} contains whitespace.")
        return image
    if runtime in PATH_IMAGE_RUNTIMES:
        if not image.startswith("/"):
            raise SpecError(
                field_name,
                f"{image!r} is not an absolute path; kernels start from any directory, so give "
                "the full path (e.g. /shared/images/pytorch-2.7.sif)"
                + (" or a docker:// / oras:// URI." if runtime != "charliecloud" else "."),
            )
        if re.search(r"[\x00-\x1f]", image):
            raise SpecError(field_name, f"{image!r} contains a control character.")
        return image
    pattern, example = (
        (_SHIFTER_REF, "docker:pytorch/pytorch:2.7.0")
        if runtime == "shifter"
        else (_OCI_REF, "docker.io/pytorch/pytorch:2.7.0")
    )
    if not pattern.match(image):
        raise SpecError(
            field_name, f"{image!r} is not a {runtime} image reference (e.g. {example})."
        )
    return image


def _check_module(field_name: str, module: Any) -> str:
    if not isinstance(module, str) or not _MODULE.match(module):
        raise SpecError(
            field_name,
            f"{module!r} is not a module name; use names like 'cuda' or 'cuda/12.4' "
            "(letters, digits, . _ + - /).",
        )
    return module


def _check_env(field_name: str, env: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(env, Mapping):
        raise SpecError(field_name, f"expected a mapping of NAME: value, got {env!r}.")
    out = []
    for key, value in env.items():
        if not isinstance(key, str) or not _ENV_NAME.match(key):
            raise SpecError(field_name, f"{key!r} is not a valid variable name.")
        if key in RESERVED_ENV:
            raise SpecError(
                f"{field_name}.{key}",
                f"{key} cannot be set: inside the container it is always the image's own "
                "(Apptainer refuses it too). Set it in the image instead.",
            )
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise SpecError(f"{field_name}.{key}", f"expected a string value, got {value!r}.")
        value = str(value)
        if "\x00" in value:
            raise SpecError(f"{field_name}.{key}", "the value contains a NUL character.")
        out.append((key, value))
    return tuple(out)
