"""Shifter (NERSC): ``shifter --image=docker:NAME:TAG [opts] -- CMD…``.

Shifter passes the host environment in; ``--clearenv`` starts from an empty one. GPU support
is the site's ``gpu`` module (``--module=gpu``); Shifter has no ROCm support.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

from ..errors import SpecError
from .base import EnvPolicy, Runtime, all_binds

if TYPE_CHECKING:  # runtimes need the spec for annotations only; spec.py imports them
    from ..spec import Bind, ContainerSpec


class ShifterRuntime(Runtime):
    name = "shifter"
    executable = "shifter"
    # Shifter passes its own environment in (values stay off the command line); --clearenv
    # empties it, and then only --env brings variables back (their values are visible in
    # `ps`: keep secrets out of cleanenv kernels' env).
    env_policy = EnvPolicy(cleanenv_flag="--clearenv", value_option="--env")
    options: ClassVar[Mapping[str, bool]] = {"--module": True, "-m": True, "--entrypoint": False, "--workdir": True,
               "--volume": True, "-V": True, "--env-file": True}  # fmt: skip

    def gpu_args(self, vendor: str | None) -> list[str]:
        if vendor == "rocm":
            raise SpecError("gpu", "shifter has no ROCm support; use gpu: none or another runtime.")
        return ["--module=gpu"] if vendor == "nvidia" else []

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
        argv = [executable, f"--image={spec.image}", *self.gpu_args(gpu)]
        if spec.cleanenv and self.env_policy.cleanenv_flag:
            argv.append(self.env_policy.cleanenv_flag)
        for bind in all_binds(spec, binds):
            argv.append(f"--volume={bind.src}:{bind.dst}" + (":ro" if bind.read_only else ""))
        if spec.workdir:
            argv.append(f"--workdir={spec.workdir}")
        return [*argv, *env_args, *spec.runtime_args, "--", *cmd]
