"""Apptainer (and SingularityCE under its old name): ``apptainer exec [opts] IMAGE CMD…``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

from .base import EnvPolicy, Runtime, all_binds

if TYPE_CHECKING:  # runtimes need the spec for annotations only; spec.py imports them
    from ..spec import Bind, ContainerSpec

_VALUE_OPTIONS = ("--bind", "-B", "--env", "--env-file", "--pwd", "--home", "--mount", "--no-mount",
                  "--scratch", "-S", "--workdir", "-W", "--overlay", "-o", "--hostname", "--cwd",
                  "--security", "--network", "--network-args", "--dns", "--apply-cgroups", "--app",
                  "--fusemount", "--add-caps", "--drop-caps", "-H")  # fmt: skip
_FLAG_OPTIONS = ("--nv", "--rocm", "--nvccli", "--cleanenv", "-e", "--contain", "-c", "--containall",
                 "-C", "--writable", "-w", "--writable-tmpfs", "--no-home", "--userns", "-u",
                 "--fakeroot", "-f", "--net", "-n", "--ipc", "-i", "--pid", "-p", "--uts",
                 "--no-privs", "--keep-privs", "--no-init", "--unsquash", "--no-eval", "--compat",
                 "--no-umask", "--no-https", "--disable-cache", "--allow-setuid", "--no-setgroups",
                 "--sharens")  # fmt: skip


class ApptainerRuntime(Runtime):
    name = "apptainer"
    executable = "apptainer"
    # Apptainer passes its own environment in (PATH excepted, which it sets to the image's);
    # what must arrive regardless goes as APPTAINERENV_X, which also keeps values out of `ps`.
    env_policy = EnvPolicy(cleanenv_flag="--cleanenv", prefix="APPTAINERENV_")
    options: ClassVar[Mapping[str, bool]] = {
        **dict.fromkeys(_VALUE_OPTIONS, True),
        **dict.fromkeys(_FLAG_OPTIONS, False),
    }
    always_shared = ("/tmp",)

    def gpu_args(self, vendor: str | None) -> list[str]:
        return {"nvidia": ["--nv"], "rocm": ["--rocm"]}.get(vendor or "", [])

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
        argv = [executable, "exec", *self.gpu_args(gpu)]
        if spec.cleanenv and self.env_policy.cleanenv_flag:
            argv.append(self.env_policy.cleanenv_flag)
        argv += env_args
        for bind in all_binds(spec, binds):
            argv += ["--bind", str(bind)]
        if spec.workdir:
            argv += ["--pwd", spec.workdir]
        argv += [*spec.runtime_args, spec.image, *cmd]

        return argv


class SingularityRuntime(ApptainerRuntime):
    """SingularityCE / legacy Singularity: the same CLI under another name."""

    name = "singularity"
    executable = "singularity"
    env_policy = EnvPolicy(cleanenv_flag="--cleanenv", prefix="SINGULARITYENV_")
