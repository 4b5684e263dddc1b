"""Charliecloud: ``ch-run [opts] IMAGE -- CMD…`` for directory and SquashFS images.

ch-run passes its own environment (``PATH`` included) into the container, so the environment
the process must see is given to ch-run itself, with ``PATH`` set to the image default.
Bind destinations must already exist in the image and binds are read-write only.
GPU support comes from libraries injected into the image with ``ch-fromhost``; there is no
run-time flag, so ``gpu`` adds nothing here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

from ..errors import SpecError
from .base import Copied, EnvPolicy, Runtime, all_binds

if TYPE_CHECKING:  # runtimes need the spec for annotations only; spec.py imports them
    from ..spec import Bind, ContainerSpec


class CharliecloudRuntime(Runtime):
    name = "charliecloud"
    executable = "ch-run"
    options: ClassVar[Mapping[str, bool]] = {"--bind": True, "-b": True, "--cd": True, "-c": True, "--gid": True, "-g": True,
               "--uid": True, "-u": True, "--home": False, "--no-passwd": False,
               "--private-tmp": False, "-t": False, "--write": False, "-w": False,
               "--mount": True, "-m": True, "--storage": True, "-s": True,
               "--set-env": True, "--unset-env": True, "--env-no-expand": False,
               "--verbose": False, "-v": False, "--join": False, "-j": False}  # fmt: skip
    # ch-run passes its own environment in, PATH included, and refuses to start without USER.
    env_policy = EnvPolicy(image_path=True, copied=(Copied("USER", ("LOGNAME",), "nobody"),))
    creates_bind_destinations = False
    always_shared = ("/tmp",)
    # ch-run execs the command for directory images; SquashFS images make it fork.
    forwards_signals = False

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
        argv = [executable]
        for bind in all_binds(spec, binds):
            if bind.read_only:
                raise SpecError(
                    "binds",
                    f"{bind} asks for read-only, but ch-run binds read-write only; remove ':ro' "
                    "or use the apptainer runtime.",
                )
            argv += ["-b", f"{bind.src}:{bind.dst}"]
        if spec.workdir:
            argv += ["--cd", spec.workdir]
        return [*argv, *env_args, *spec.runtime_args, spec.image, "--", *cmd]
