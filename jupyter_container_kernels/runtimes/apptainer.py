"""Apptainer (and SingularityCE under its old name): ``apptainer exec [opts] IMAGE CMD…``."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

from .base import HOST_ONLY_VARS, Invocation, Runtime, all_binds, container_environment

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
    #: Prefix Apptainer turns into variables inside (``APPTAINERENV_X`` -> ``X``).
    env_prefix = "APPTAINERENV_"
    options: ClassVar[Mapping[str, bool]] = {
        **dict.fromkeys(_VALUE_OPTIONS, True),
        **dict.fromkeys(_FLAG_OPTIONS, False),
    }
    always_shared = ("/tmp",)

    def gpu_args(self, vendor: str | None) -> list[str]:
        return {"nvidia": ["--nv"], "rocm": ["--rocm"]}.get(vendor or "", [])

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
        argv = [executable, "exec", *self.gpu_args(gpu)]
        if spec.cleanenv:
            argv.append("--cleanenv")
        for bind in all_binds(spec, binds):
            argv += ["--bind", str(bind)]
        if spec.workdir:
            argv += ["--pwd", spec.workdir]
        argv += [*spec.runtime_args, spec.image, *cmd]

        # Apptainer passes its own environment in (unless --cleanenv); what must arrive
        # regardless goes as APPTAINERENV_X, which also keeps values out of `ps`.
        inside = container_environment(spec, host_env, passthrough)
        env = {k: v for k, v in host_env.items() if k not in HOST_ONLY_VARS or k == "PATH"}
        forced = (
            inside
            if spec.cleanenv
            else {k: inside[k] for k in (*spec.env_dict, "PYTHONNOUSERSITE")}
        )
        env.update({self.env_prefix + k: v for k, v in forced.items()})
        return Invocation(argv, env)


class SingularityRuntime(ApptainerRuntime):
    """SingularityCE / legacy Singularity: the same CLI under another name."""

    name = "singularity"
    executable = "singularity"
    env_prefix = "SINGULARITYENV_"
