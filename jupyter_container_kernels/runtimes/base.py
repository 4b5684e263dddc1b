"""What every runtime module provides: spec + in-container command -> argv and environment.

Runtimes are pure: no filesystem access, no processes, nothing about Jupyter. The caller
(provisioner, batch script, probe) resolves modules, GPU vendor and extra binds first.

Environment semantics, the same for every runtime (the README documents them):

* ``PATH`` inside is always the image's own; the host's never leaks in.
* Without ``cleanenv`` the host environment (after ``module load``) passes in, except
  :data:`HOST_ONLY_VARS` (library and interpreter paths that only make sense on the host).
* With ``cleanenv`` only :data:`ALWAYS_PASSED` plus the site's pass-through list go in.
* Credentials of the Jupyter server and JupyterHub (:data:`SECRET_VARS`) never go in, with or
  without ``cleanenv``, and are not given to the runtime process either; only the spec's own
  ``env`` or a site pass-through entry naming one exactly (no wildcard) lets one in.
* The spec's ``env`` is applied last, and ``PYTHONNOUSERSITE=1`` keeps a bound ``$HOME``'s
  ``~/.local`` packages out of the image's Python.

How a runtime gets those variables into the container differs (it passes its own environment
in, or only what is named on its command line; it has a cleanenv option, or not; a prefix…).
Each runtime declares that once, as an :class:`EnvPolicy`; :meth:`Runtime.command` applies it
to a known host environment (interactive kernels, probes), and ``batch/envpolicy.py`` renders the
same policy as bash for job scripts, where the host environment is only known on the node.
"""

from __future__ import annotations

import abc
import fnmatch
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ..errors import SpecError

if TYPE_CHECKING:  # runtimes need the spec for annotations only; spec.py imports them
    from ..spec import Bind, ContainerSpec

#: Never passed from the host into a container.
HOST_ONLY_VARS = frozenset(
    {"PATH", "LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP",
     "PYTHONEXECUTABLE", "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "CONDA_SHLVL",
     "CONDA_EXE", "CONDA_PYTHON_EXE", "_CE_CONDA", "_CE_M"}
)  # fmt: skip
#: Passed even with ``cleanenv`` (patterns): terminal, locale, proxies, and what kernels read
#: from Jupyter (ipykernel: ``JPY_PARENT_PID``, ``JPY_SESSION_NAME`` for ``__session__``,
#: ``JPY_INTERRUPT_EVENT`` on Windows; jupyter_core: ``JUPYTER_*`` paths), minus
#: :data:`SECRET_VARS`.
ALWAYS_PASSED = ("TERM", "LANG", "LC_*", "http_proxy", "https_proxy", "no_proxy", "all_proxy",
                 "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "JPY_PARENT_PID",
                 "JPY_SESSION_NAME", "JPY_INTERRUPT_EVENT", "JUPYTER_*")  # fmt: skip
#: Credentials of the Jupyter server and JupyterHub (patterns): never passed into a container,
#: nor left in the runtime's own environment, unless the spec's ``env`` sets one or
#: ``SiteConfig.env_passthrough`` names one exactly.
SECRET_VARS = ("JUPYTERHUB_*TOKEN*", "JUPYTERHUB_*SECRET*", "JUPYTERHUB_CRYPT_KEY", "JPY_API_TOKEN",
               "JPY_COOKIE_SECRET", "JUPYTER_TOKEN")  # fmt: skip
#: PATH inside containers whose runtime makes us set it (Debian/RHEL/conda images all have it).
DEFAULT_CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


#: Variables every kernel's container gets from the spec rather than from the host.
FORCED_VARS = {"PYTHONNOUSERSITE": "1"}


@dataclass(frozen=True)
class Copied:
    """A variable the runtime itself needs, copied from the host even with cleanenv: the
    host's value, else the first non-empty ``fallbacks`` variable, else ``default``."""

    name: str
    fallbacks: tuple[str, ...] = ()
    default: str = ""


@dataclass(frozen=True)
class EnvPolicy:
    """How one runtime takes the container's environment (see the module doc).

    The same fields drive :meth:`Runtime.environment` (Python, for a known host environment)
    and the job-script renderer (bash, evaluated on the node). A variable is *forced* when it
    must be given to the runtime explicitly rather than reaching the container by inheritance:
    the spec's ``env`` and ``PYTHONNOUSERSITE`` always, and every container variable when the
    runtime does not pass its own environment in (or its cleanenv option stops that).
    """

    #: The runtime copies its own environment into the container (Apptainer, ch-run, Shifter).
    #: False (Podman): only the variables named on its command line go in.
    inherits: bool = True
    #: Runtime option that empties the container's environment for ``cleanenv``
    #: (``--cleanenv``). None with ``inherits``: the runtime itself is given only the
    #: container's variables (ch-run).
    cleanenv_flag: str | None = None
    #: Forced variables travel in the runtime's environment as ``prefix + NAME`` (Apptainer's
    #: ``APPTAINERENV_``, which arrives even with its cleanenv option). Empty: as ``NAME``.
    prefix: str = ""
    #: Option naming each forced variable (``--env NAME``); the runtime reads the value from
    #: its own environment, so values stay off the command line (Podman).
    name_option: str | None = None
    #: Option carrying name and value (``--env=NAME=VALUE``): how forced variables go in when
    #: ``cleanenv_flag`` stops the runtime's own environment and there is no ``prefix``.
    value_option: str | None = None
    #: Variables never named with ``name_option`` (host paths that do not exist inside).
    unnamed: frozenset[str] = frozenset()
    #: Give the runtime ``PATH`` = :data:`DEFAULT_CONTAINER_PATH` (it would pass the host's in).
    image_path: bool = False
    #: Variables the runtime process itself needs, copied from the host even with cleanenv.
    copied: tuple[Copied, ...] = ()

    def __post_init__(self) -> None:
        if self.cleanenv_flag and not self.prefix and not self.value_option:
            raise ValueError("a cleanenv option without a prefix needs a value_option")

    def forces_all(self, cleanenv: bool) -> bool:
        """Whether every container variable is forced (nothing arrives by inheritance)."""
        return not self.inherits or (cleanenv and self.cleanenv_flag is not None)

    def delivery(self, cleanenv: bool) -> str:
        """How forced variables go in: ``"prefix"`` (``prefix + NAME`` in the runtime's
        environment), ``"name"`` (``name_option NAME``), ``"value"`` (``value_option``
        ``=NAME=VALUE``) or ``"env"`` (``NAME`` in the runtime's environment)."""
        if self.prefix:
            return "prefix"
        if self.name_option:
            return "name"
        if cleanenv and self.cleanenv_flag:
            return "value"
        return "env"

    def runtime_keeps(self, name: str) -> bool:
        """Whether a host variable stays in the runtime's own environment before forcing
        (runtimes with a cleanenv option; ch-run instead gets the container's variables)."""
        return not self.inherits or name not in HOST_ONLY_VARS or name == "PATH"


@dataclass(frozen=True)
class Invocation:
    """What to execute on the host: the runtime's argv and that process's environment."""

    argv: list[str]
    env: dict[str, str]


def is_secret(name: str, passthrough: Collection[str] = ()) -> bool:
    """Whether host variable ``name`` is a credential kept out of containers: it matches
    :data:`SECRET_VARS` and no ``passthrough`` entry names it exactly."""
    return name not in passthrough and any(fnmatch.fnmatchcase(name, p) for p in SECRET_VARS)


def container_environment(
    spec: ContainerSpec, host_env: Mapping[str, str], passthrough: Collection[str] = ()
) -> dict[str, str]:
    """The variables the process inside should see (``PATH`` excepted, see module doc)."""
    if spec.cleanenv:
        patterns = (*ALWAYS_PASSED, *passthrough)
        env = {
            k: v for k, v in host_env.items() if any(fnmatch.fnmatchcase(k, p) for p in patterns)
        }
    else:
        env = {k: v for k, v in host_env.items() if k not in HOST_ONLY_VARS}
    env = {k: v for k, v in env.items() if not is_secret(k, passthrough)}
    env.pop("PATH", None)
    env.update(FORCED_VARS)
    env.update(spec.env)
    return env


class Runtime(abc.ABC):
    """One container runtime's command-line conventions. Subclasses set the class attributes
    (``env_policy`` among them) and implement :meth:`argv`."""

    #: Spec ``runtime`` value(s) this class serves.
    name: str = ""
    #: Executable looked up on PATH unless the site configures a full path.
    executable: str = ""
    #: How the container's environment reaches the process inside (see :class:`EnvPolicy`).
    env_policy: ClassVar[EnvPolicy] = EnvPolicy()
    #: Options accepted in ``runtime_args``: option -> whether it takes a value.
    options: ClassVar[Mapping[str, bool]] = {}
    #: False when bind destinations must already exist in the image (Charliecloud).
    creates_bind_destinations: bool = True
    #: Directories the runtime always shares with the host at the same path.
    always_shared: tuple[str, ...] = ()
    #: Whether SIGINT sent to the runtime's pid reaches the process inside.
    forwards_signals: bool = True

    def check_options(self, args: Sequence[str], field_name: str = "runtime_args") -> None:
        """Refuse anything in ``args`` that is not a known option of this runtime."""
        i = 0
        while i < len(args):
            arg = args[i]
            name, has_value, _ = arg.partition("=")
            if not arg.startswith("-") or name not in self.options:
                known = ", ".join(sorted(self.options))
                raise SpecError(
                    f"{field_name}[{i}]",
                    f"{arg!r} is not an option {self.name} accepts here; known options: {known}.",
                )
            if self.options[name] and not has_value:
                if i + 1 >= len(args):
                    raise SpecError(f"{field_name}[{i}]", f"{name} needs a value.")
                i += 1
            elif has_value and not self.options[name]:
                raise SpecError(f"{field_name}[{i}]", f"{name} takes no value.")
            i += 1

    def gpu_args(self, vendor: str | None) -> list[str]:
        """Options that expose the GPUs of ``vendor`` ('nvidia', 'rocm' or None)."""
        return []

    def named(self, argv: list[str], name: str) -> list[str]:
        """``argv`` (from :meth:`argv`) with its container named ``name``, for runtimes whose
        container can outlive a killed client (see :meth:`remove_argv`); others ignore it."""
        return argv

    def remove_argv(self, executable: str, name: str) -> list[str] | None:
        """The command that removes the container ``name`` if it is still there (a client
        killed with SIGKILL cannot stop it), or None when the runtime's containers end with
        its process."""
        return None

    def command(
        self,
        spec: ContainerSpec,
        cmd: Sequence[str],
        *,
        executable: str,
        host_env: Mapping[str, str],
        gpu: str | None,
        binds: Sequence[Bind] = (),
        passthrough: Collection[str] = (),
    ) -> Invocation:
        """Wrap ``cmd`` (argv inside the image) so it runs in ``spec``'s container.

        ``host_env`` is the environment the runtime would start in (after ``module load``);
        ``binds`` are added to the spec's own (site binds, the connection-file directory);
        ``gpu`` is the resolved vendor (``spec.gpu`` with ``auto`` already decided).
        """
        env_args, env = self.environment(spec, host_env, passthrough)
        argv = self.argv(spec, cmd, executable=executable, gpu=gpu, binds=binds, env_args=env_args)
        return Invocation(argv, env)

    def environment(
        self, spec: ContainerSpec, host_env: Mapping[str, str], passthrough: Collection[str] = ()
    ) -> tuple[list[str], dict[str, str]]:
        """``(env_args, env)``: the runtime options that set variables inside (placed by
        :meth:`argv`) and the runtime process's environment, from :attr:`env_policy`."""
        policy = self.env_policy
        inside = container_environment(spec, host_env, passthrough)
        if policy.inherits and not policy.cleanenv_flag:
            env = {k: host_env[k] for k in ("PATH",) if k in host_env} | inside
        else:
            env = {
                k: v
                for k, v in host_env.items()
                if policy.runtime_keeps(k) and not is_secret(k, passthrough)
            }
        for copied in policy.copied:
            if not env.get(copied.name):
                sources = (copied.name, *copied.fallbacks)
                env[copied.name] = next(
                    (host_env[n] for n in sources if host_env.get(n)), copied.default
                )
        if policy.image_path:
            env["PATH"] = DEFAULT_CONTAINER_PATH
        explicit = forced_names(spec)
        if policy.forces_all(spec.cleanenv):
            names = [*explicit, *sorted(k for k in inside if k not in explicit)]
        else:
            names = explicit
        delivery = policy.delivery(spec.cleanenv)
        env_args: list[str] = []
        for name in names:
            value = inside[name]
            if delivery == "prefix":
                env[policy.prefix + name] = value
            elif delivery == "value":
                env_args.append(f"{policy.value_option}={name}={value}")
            else:
                env[name] = value
                if delivery == "name" and name not in policy.unnamed:
                    env_args += [policy.name_option, name]  # type: ignore[list-item]
        return env_args, env

    @abc.abstractmethod
    def argv(
        self,
        spec: ContainerSpec,
        cmd: Sequence[str],
        *,
        executable: str,
        gpu: str | None,
        binds: Sequence[Bind] = (),
        env_args: Sequence[str] = (),
    ) -> list[str]:
        """The runtime's command line for ``cmd``; ``env_args`` (from :meth:`environment`, or
        a placeholder in job scripts) go where the runtime reads options."""


def forced_names(spec: ContainerSpec) -> list[str]:
    """The variables every runtime sets explicitly: ``PYTHONNOUSERSITE``, then the spec's env."""
    return list(dict.fromkeys([*FORCED_VARS, *spec.env_dict]))


def all_binds(spec: ContainerSpec, extra: Sequence[Bind]) -> list[Bind]:
    """Spec binds then extra ones, one per destination (the spec's win)."""
    seen = {b.dst for b in spec.binds}
    return [*spec.binds, *(b for b in extra if b.dst not in seen and not seen.add(b.dst))]  # type: ignore[func-returns-value]
