"""What every runtime module provides: spec + in-container command -> argv and environment.

Runtimes are pure: no filesystem access, no processes, nothing about Jupyter. The caller
(provisioner, batch script, probe) resolves modules, GPU vendor and extra binds first.

Environment semantics, the same for every runtime (the README documents them):

* ``PATH`` inside is always the image's own; the host's never leaks in.
* Without ``cleanenv`` the host environment (after ``module load``) passes in, except
  :data:`HOST_ONLY_VARS` (library and interpreter paths that only make sense on the host).
* With ``cleanenv`` only :data:`ALWAYS_PASSED` plus the site's pass-through list go in.
* The spec's ``env`` is applied last, and ``PYTHONNOUSERSITE=1`` keeps a bound ``$HOME``'s
  ``~/.local`` packages out of the image's Python.
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
#: Passed even with ``cleanenv`` (patterns): terminal, locale, proxies, Jupyter's own.
ALWAYS_PASSED = ("TERM", "LANG", "LC_*", "http_proxy", "https_proxy", "no_proxy", "all_proxy",
                 "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "JPY_*", "JUPYTER_*")  # fmt: skip
#: PATH inside containers whose runtime makes us set it (Debian/RHEL/conda images all have it).
DEFAULT_CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Invocation:
    """What to execute on the host: the runtime's argv and that process's environment."""

    argv: list[str]
    env: dict[str, str]


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
    env.pop("PATH", None)
    env["PYTHONNOUSERSITE"] = "1"
    env.update(spec.env)
    return env


class Runtime(abc.ABC):
    """One container runtime's command-line conventions. Subclasses set the class attributes
    and implement :meth:`command`."""

    #: Spec ``runtime`` value(s) this class serves.
    name: str = ""
    #: Executable looked up on PATH unless the site configures a full path.
    executable: str = ""
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

    @abc.abstractmethod
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

        ``binds`` are added to the spec's own (site binds, the connection-file directory);
        ``gpu`` is the resolved vendor (``spec.gpu`` with ``auto`` already decided).
        """


def all_binds(spec: ContainerSpec, extra: Sequence[Bind]) -> list[Bind]:
    """Spec binds then extra ones, one per destination (the spec's win)."""
    seen = {b.dst for b in spec.binds}
    return [*spec.binds, *(b for b in extra if b.dst not in seen and not seen.add(b.dst))]  # type: ignore[func-returns-value]
