"""Container runtimes: one small module each. Adding a runtime is one new file plus one line here."""

from __future__ import annotations

from ..errors import SpecError
from .apptainer import ApptainerRuntime, SingularityRuntime
from .base import EnvPolicy, Invocation, Runtime, container_environment
from .charliecloud import CharliecloudRuntime
from .podman import PodmanHpcRuntime, PodmanRuntime
from .shifter import ShifterRuntime

_RUNTIMES: dict[str, Runtime] = {
    r.name: r
    for r in (
        ApptainerRuntime(),
        SingularityRuntime(),
        CharliecloudRuntime(),
        PodmanRuntime(),
        PodmanHpcRuntime(),
        ShifterRuntime(),
    )
}


def get_runtime(name: str) -> Runtime:
    """The runtime called ``name``; a :class:`SpecError` lists the known ones otherwise."""
    try:
        return _RUNTIMES[name]
    except KeyError:
        raise SpecError("runtime", f"{name!r} is not one of: {', '.join(_RUNTIMES)}.") from None


__all__ = ["EnvPolicy", "Invocation", "Runtime", "container_environment", "get_runtime"]
