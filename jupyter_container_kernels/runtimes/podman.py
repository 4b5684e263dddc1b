"""Podman (and NERSC's podman-hpc wrapper): ``podman run --rm --network host … IMAGE CMD…``.

The kernel's ports are on the host network (``--network host``); variables go in by name
(``--env NAME``), so Podman reads their values from its own environment and they never appear
on the command line. A kernel's container is named (``--name``): a ``podman run`` killed with
SIGKILL (a forced shutdown or restart) leaves its container running, holding the kernel's
ports, so the provisioner removes it by name (``podman rm --force``) after every stop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

from .base import EnvPolicy, Runtime, all_binds

if TYPE_CHECKING:  # runtimes need the spec for annotations only; spec.py imports them
    from ..spec import Bind, ContainerSpec

#: Host paths Podman must not pass in: the image has its own home and temporary directory.
HOST_PATH_VARS = frozenset({"HOME", "TMPDIR"})


class PodmanRuntime(Runtime):
    name = "podman"
    executable = "podman"
    env_policy = EnvPolicy(inherits=False, name_option="--env", unnamed=HOST_PATH_VARS)
    options: ClassVar[Mapping[str, bool]] = {"--userns": True, "--user": True, "-u": True, "--security-opt": True,
               "--device": True, "--group-add": True, "--shm-size": True, "--ulimit": True,
               "--cap-add": True, "--cap-drop": True, "--pull": True, "--privileged": False,
               "--ipc": True, "--pids-limit": True, "--memory": True, "--cpus": True,
               "--tmpfs": True, "--mount": True, "--hooks-dir": True, "--annotation": True,
               "--env-file": True, "--entrypoint": True, "--read-only": False,
               "--log-driver": True, "--init": False}  # fmt: skip

    def gpu_args(self, vendor: str | None) -> list[str]:
        if vendor == "nvidia":
            return ["--device", "nvidia.com/gpu=all"]  # CDI, as nvidia-ctk generates it
        if vendor == "rocm":
            return ["--device", "/dev/kfd", "--device", "/dev/dri", "--group-add", "keep-groups"]
        return []

    def named(self, argv: list[str], name: str) -> list[str]:
        return [*argv[:2], "--name", name, *argv[2:]]  # after `podman run`

    def remove_argv(self, executable: str, name: str) -> list[str] | None:
        return [executable, "rm", "--force", "--ignore", "--time", "0", name]

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
        argv = [executable, "run", "--rm", "-i", "--network", "host", *self.gpu_args(gpu)]
        for bind in all_binds(spec, binds):
            argv += ["--volume", f"{bind.src}:{bind.dst}:{'ro' if bind.read_only else 'rw'}"]
        if spec.workdir:
            argv += ["--workdir", spec.workdir]
        return [*argv, *env_args, *spec.runtime_args, spec.image, *cmd]


class PodmanHpcRuntime(PodmanRuntime):
    """podman-hpc: Podman's CLI plus site hooks; ``--gpu`` sets up NVIDIA devices."""

    name = "podman-hpc"
    executable = "podman-hpc"
    options: ClassVar[Mapping[str, bool]] = {
        **PodmanRuntime.options,
        "--gpu": False,
        "--mpi": False,
        "--cuda-mpi": False,
    }

    def gpu_args(self, vendor: str | None) -> list[str]:
        return ["--gpu"] if vendor == "nvidia" else super().gpu_args(vendor)
