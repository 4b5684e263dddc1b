"""Shifter (NERSC): ``shifter --image=docker:NAME:TAG [opts] -- CMD…``.

Shifter passes the host environment in; ``--clearenv`` starts from an empty one. GPU support
is the site's ``gpu`` module (``--module=gpu``); Shifter has no ROCm support.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

from ..errors import SpecError
from .base import HOST_ONLY_VARS, Invocation, Runtime, all_binds, container_environment

if TYPE_CHECKING:  # runtimes need the spec for annotations only; spec.py imports them
    from ..spec import Bind, ContainerSpec


class ShifterRuntime(Runtime):
    name = "shifter"
    executable = "shifter"
    options: ClassVar[Mapping[str, bool]] = {"--module": True, "-m": True, "--entrypoint": False, "--workdir": True,
               "--volume": True, "-V": True, "--env-file": True}  # fmt: skip

    def gpu_args(self, vendor: str | None) -> list[str]:
        if vendor == "rocm":
            raise SpecError("gpu", "shifter has no ROCm support; use gpu: none or another runtime.")
        return ["--module=gpu"] if vendor == "nvidia" else []

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
        argv = [executable, f"--image={spec.image}", *self.gpu_args(gpu)]
        if spec.cleanenv:
            argv.append("--clearenv")
        for bind in all_binds(spec, binds):
            argv.append(f"--volume={bind.src}:{bind.dst}" + (":ro" if bind.read_only else ""))
        if spec.workdir:
            argv.append(f"--workdir={spec.workdir}")
        inside = container_environment(spec, host_env, passthrough)
        env = {k: v for k, v in host_env.items() if k not in HOST_ONLY_VARS or k == "PATH"}
        if spec.cleanenv:
            # --clearenv empties the environment; only --env brings variables back in (their
            # values are then visible in `ps`: keep secrets out of cleanenv kernels' env).
            argv += [f"--env={k}={v}" for k, v in inside.items()]
        else:
            # Shifter passes its own environment in: values stay off the command line.
            env.update({k: inside[k] for k in (*spec.env_dict, "PYTHONNOUSERSITE")})
        argv += [*spec.runtime_args, "--", *cmd]
        return Invocation(argv, env)
