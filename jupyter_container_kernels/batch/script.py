"""The sbatch script: a pure function of a :class:`JobScript` (no files, no processes, no clock).

Two modes, one container spec:

``notebook`` (default)
    The job runs ``python -m jupyter_container_kernels.batch run`` on the node, which executes
    the notebook with nbclient and the *container kernel itself* (started through the
    provisioner: same image, binds, modules, env and GPU flags as interactively) and writes the
    output notebook after every cell, with provenance. Fits: anything that ran interactively,
    when this package's Python environment and the kernelspec are visible on the compute nodes
    (a shared ``$HOME`` or software tree). One kernel, so one node does the work.
``script``
    The notebook, converted to a Python script, runs with the container runtime directly:
    ``module load`` of the spec's modules, then the runtime's own command line for
    ``[spec.python, SCRIPT]``. No Jupyter on the node, no output notebook (output goes to the
    log). Fits: nodes without this package, long unattended runs, and the multi-node templates:

    * ``mpi``: ``srun`` starts one container per Slurm task (``--ntasks``); MPI inside the image
      wires up through Slurm's PMI. Limits: the image's MPI must be built against a PMI/PMIx
      the host's Slurm offers (``srun --mpi=list``), and fast interconnects need the host's
      libraries bound in (site binds / modules).
    * ``torchrun``: ``srun`` starts one container per node running
      ``python -m torch.distributed.run --nnodes $SLURM_NNODES --rdzv-backend c10d
      --rdzv-endpoint FIRST_NODE:PORT``; c10d rendezvous gives each node its rank (so no
      per-node ``--node-rank`` is needed), ``--nproc-per-node`` is the node's GPU count
      (``$SLURM_GPUS_ON_NODE``, else 1). Limits: homogeneous nodes, the image must contain
      PyTorch, the port must be free and reachable between nodes.

Quoting: every shell word comes from :func:`shlex.quote`; ``#SBATCH`` values too (sbatch reads
single quotes, and backslashes, which are therefore refused in directive values, like newlines).
Parameter values never appear in the script: they are in a JSON file (notebook mode) or in the
converted scripts (script mode), one entry per array task. Nor do the values of the kernel's
``env`` (script mode, which starts the runtime itself): they may be credentials, and Slurm keeps
the script where others can read it (``scontrol write batch_script``, ``sacct -B``), so they are
in a file next to it (:attr:`JobScript.env_file`, written from :func:`job_files`) that the
script reads on the node. Credentials of the Jupyter server and JupyterHub
(:data:`~..runtimes.base.SECRET_VARS`) in the job's environment stay out of the container, as
they do for interactive kernels.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .. import __version__
from ..errors import SpecError
from ..gpu import gpu_detection_bash
from ..modules import job_lines
from ..runtimes import Runtime, get_runtime
from ..runtimes.base import ALWAYS_PASSED
from ..spec import Bind, ContainerSpec
from .bash import VAR, q, word
from .envpolicy import LAUNCHER_VARS, environment_lines, read_env_file_lines
from .resources import Resources

MODES = ("notebook", "script")
TEMPLATES = ("none", "mpi", "torchrun")
_PATTERN = re.compile(r"[A-Za-z0-9_*?]+\Z")
_KERNEL_NAME = re.compile(r"[A-Za-z0-9._\-]+\Z")
# Values substituted by the shell at run time; NUL cannot occur in a validated spec.


@dataclass(frozen=True)
class JobScript:
    """Everything the script depends on. Paths are absolute; the spec is the effective one
    (site binds and modules already applied, see ``SiteConfig.effective``)."""

    spec: ContainerSpec
    kernel: str
    notebook: str
    output_dir: str
    #: File-name stem of logs, outputs and scripts (``safe_stem`` of the notebook name).
    stem: str
    resources: Resources = field(default_factory=Resources)
    mode: str = "notebook"
    #: None: a single job. N: a job array of N tasks (``--array=0-(N-1)``).
    array_size: int | None = None
    #: Notebook mode: JSON file with one parameter set per task (None: no parameters).
    parameters_file: str | None = None
    #: Script mode: the converted Python script, one per array task.
    python_scripts: tuple[str, ...] = ()
    template: str = "none"
    #: Host interpreter (with this package) that runs the executor in notebook mode.
    executor_python: str = "python3"
    #: Script mode: the runtime executable (absolute, or a name looked up after module load).
    runtime_executable: str = ""
    srun: str = "srun"
    scontrol: str = "scontrol"
    #: Shell script that defines ``module`` (Lmod's init/bash); needed when there are modules.
    module_init: str | None = None
    #: Script mode: 'nvidia', 'rocm' or 'none' fixes the GPU vendor; None detects it on the node.
    gpu: str | None = None
    #: Script mode: binds added to the spec's (e.g. the directory of the script).
    extra_binds: tuple[Bind, ...] = ()
    #: Site pass-through patterns kept with cleanenv (``SiteConfig.env_passthrough``).
    passthrough: tuple[str, ...] = ()
    torchrun_port: int = 29500
    #: Script mode: absolute path of the file the script reads the spec's ``env`` values from
    #: on the node, so they stay out of the script Slurm stores; write it (0600, before
    #: submitting) with :func:`job_files`. None: the values are written into the script itself.
    env_file: str | None = None
    #: Script mode: the command run inside the container instead of ``[spec.python, SCRIPT]``
    #: (a node kernel's ``python -m ipykernel_launcher -f …``); ``python_scripts`` then unused.
    command: tuple[str, ...] = ()


def log_pattern(output_dir: str, stem: str, array: bool) -> str:
    """Slurm ``--output`` pattern of the job's log (``%j`` / ``%A_%a`` filled in by Slurm)."""
    return f"{output_dir.rstrip('/')}/{stem}-{'%A_%a' if array else '%j'}.log"


def output_pattern(output_dir: str, stem: str, array: bool) -> str:
    """Output notebook path pattern, same placeholders (filled in by the executor)."""
    return f"{output_dir.rstrip('/')}/{stem}-{'%A_%a' if array else '%j'}.ipynb"


def fill_pattern(pattern: str, job_id: str, task: int | None = None) -> str:
    """``pattern`` with ``%j``/``%A`` set to ``job_id`` and ``%a`` to ``task``."""
    out = pattern.replace("%A", job_id).replace("%j", job_id)
    return out.replace("%a", str(task)) if task is not None else out


def safe_stem(name: str) -> str:
    """A file-name stem safe in ``#SBATCH`` lines and Slurm patterns (unicode letters kept)."""
    stem = re.sub(r"[^\w.\-]+", "_", name).strip("._") or "notebook"
    return stem[:80]


def check_directive_path(field_name: str, path: str) -> str:
    """Refuse what an ``#SBATCH`` path cannot carry: newlines, backslashes and ``%``."""
    if not path.startswith("/"):
        raise SpecError(field_name, f"{path!r} is not an absolute path.")
    bad = re.search(r"[\x00-\x1f\x7f\\%]", path)
    if bad:
        raise SpecError(
            field_name,
            f"{path!r} contains {bad.group()!r}, which Slurm's #SBATCH lines cannot carry "
            "(newlines end the directive, '\\' escapes, '%' is a file-name pattern); choose "
            "another directory.",
        )
    return path


def env_file_text(job: JobScript) -> str:
    """The content of :attr:`JobScript.env_file`: ``NAME=VALUE`` of the spec's ``env``, each
    ended by NUL (no value holds one), read by the script with ``read -d ''``."""
    return "".join(f"{name}={value}\0" for name, value in job.spec.env)


def job_files(job: JobScript) -> dict[str, str]:
    """Files the script of ``job`` reads besides the ones named in it as inputs (path ->
    content): write them next to the script, mode 0600, before submitting. Today: the
    :attr:`JobScript.env_file` of a script-mode job whose spec has ``env``."""
    if job.mode != "script" or not job.spec.env or job.env_file is None:
        return {}
    return {job.env_file: env_file_text(job)}


def render(job: JobScript) -> str:
    """The complete sbatch script for ``job``, byte for byte reproducible."""
    if job.mode not in MODES:
        raise SpecError("mode", f"{job.mode!r} is not one of: {', '.join(MODES)}.")
    if job.template not in TEMPLATES:
        raise SpecError("template", f"{job.template!r} is not one of: {', '.join(TEMPLATES)}.")
    if job.template != "none" and job.mode != "script":
        raise SpecError(
            "template",
            f"the {job.template} template runs the notebook converted to a script; "
            "choose mode 'script' (a notebook kernel runs on one node only).",
        )
    if not _KERNEL_NAME.match(job.kernel):
        raise SpecError("kernel", f"{job.kernel!r} is not a kernel name.")
    array = job.array_size is not None
    if array and not 1 <= job.array_size <= 1001:  # type: ignore[operator]
        raise SpecError("sweep", f"an array of {job.array_size} tasks is out of range (1-1001).")
    check_directive_path("output_dir", job.output_dir)
    if job.env_file is not None and not job.env_file.startswith("/"):
        raise SpecError("env_file", f"{job.env_file!r} is not an absolute path.")
    if not re.fullmatch(r"[\w.\-]+", job.stem):
        raise SpecError("stem", f"{job.stem!r} is not a file-name stem; use safe_stem().")
    log = log_pattern(job.output_dir, job.stem, array)

    lines = ["#!/bin/bash"]
    for option, value in job.resources.directives():
        lines.append(f"#SBATCH {option}" if value is None else f"#SBATCH {option}={q(value)}")
    if array:
        lines.append(f"#SBATCH --array=0-{job.array_size - 1}")  # type: ignore[operator]
    lines += [f"#SBATCH --output={q(log)}", f"#SBATCH --error={q(log)}"]
    lines += [
        f"# Generated by jupyter-container-kernels {__version__}: {job.mode} mode, "
        f"kernel {job.kernel}" + (f", {job.template} template" if job.template != "none" else ""),
        "# Submit again with: sbatch THIS_FILE",
        "set -euo pipefail",
        f"cd -- {q(_dirname(job.notebook))}",
    ]
    if job.mode == "notebook":
        body = _notebook_body(job, array)
        lines += [line + " \\" for line in body[:-1]] + body[-1:]
    else:
        lines += _script_body(job, array)
    return "\n".join(lines) + "\n"


def _notebook_body(job: JobScript, array: bool) -> list[str]:
    options = [
        ("--notebook", job.notebook),
        ("--kernel", job.kernel),
        ("--output", output_pattern(job.output_dir, job.stem, array)),
    ]
    if job.parameters_file:
        options.append(("--parameters-file", job.parameters_file))
        if array:
            options.append(("--task-index", VAR.format("SLURM_ARRAY_TASK_ID")))
    argv = (job.executor_python, "-m", "jupyter_container_kernels.batch", "run")
    head = " ".join(word(a) for a in argv)
    return [f"exec {head}"] + [f"  {o} {word(v)}" for o, v in options]


def container_lines(job: JobScript) -> list[str]:
    """Script mode's body alone (module loads, the runtime found, the environment, the GPU
    detected on the node, ``exec`` of the runtime): what a node kernel's agent runs for each
    (re)start, with ``job.command`` as the command inside the container."""
    return _script_body(job, False)


def _script_body(job: JobScript, array: bool) -> list[str]:
    spec = job.spec
    runtime = get_runtime(spec.runtime)
    scripts = job.python_scripts
    if not job.command and len(scripts) != (job.array_size or 1):
        raise SpecError("python_scripts", "script mode needs one converted script per task.")
    out: list[str] = []
    if spec.modules:
        if not job.module_init:
            raise SpecError(
                "modules",
                "the kernel loads modules, but no module system was found to load them in the "
                "job; set c.SiteConfig.module_init to Lmod's init/bash.",
            )
        out += job_lines(job.module_init, spec.modules)
    exe = job.runtime_executable or runtime.executable
    out.append(
        f"jck_runtime=$(command -v -- {q(exe)}) || "
        f"{{ printf '%s\\n' {q(f'jupyter-container-kernels: {exe} not found on PATH')} >&2; "
        "exit 127; }"
    )
    if job.command:
        script_word = ""
    elif array:
        out.append("jck_scripts=(" + " ".join(q(s) for s in scripts) + ")")
        out.append("jck_script=${jck_scripts[$SLURM_ARRAY_TASK_ID]}")
        script_word = VAR.format("jck_script")
    else:
        script_word = scripts[0]

    launcher: list[str] = []
    inner = list(job.command) or [spec.python, script_word]
    keep = list(ALWAYS_PASSED) + list(job.passthrough)
    if job.template == "mpi":
        launcher = [VAR.format("jck_srun")]
        keep += LAUNCHER_VARS
    elif job.template == "torchrun":
        out.append(
            f'jck_head=$({q(job.scontrol)} show hostnames "$SLURM_JOB_NODELIST" | head -n 1)'
        )
        launcher = [
            VAR.format("jck_srun"),
            "--nodes",
            VAR.format("SLURM_NNODES"),
            "--ntasks",
            VAR.format("SLURM_NNODES"),
            "--ntasks-per-node",
            "1",
        ]
        inner = [
            spec.python,
            "-m",
            "torch.distributed.run",
            "--nnodes",
            VAR.format("SLURM_NNODES"),
            "--nproc-per-node",
            VAR.format("SLURM_GPUS_ON_NODE:-1"),
            "--rdzv-backend",
            "c10d",
            "--rdzv-endpoint",
            VAR.format("jck_head") + f":{job.torchrun_port}",
            "--rdzv-id",
            VAR.format("SLURM_JOB_ID"),
            script_word,
        ]
        keep += LAUNCHER_VARS
    if launcher:
        out.append(f"jck_srun=$(command -v -- {q(job.srun)})")
    for pattern in keep:
        if not _PATTERN.match(pattern):
            raise SpecError(
                "SiteConfig.env_passthrough", f"{pattern!r} is not a variable name pattern."
            )

    vendors = [job.gpu] if job.gpu in ("nvidia", "rocm", "none") else ["nvidia", "rocm", "none"]
    if spec.gpu != "auto":
        vendors = [spec.gpu]
    env_lines, env_args = environment_lines(job, runtime, keep, bool(launcher))
    commands = {v: _container_command(job, runtime, inner, v, env_args) for v in vendors}
    out += read_env_file_lines(job) + env_lines
    if len(set(map(tuple, commands.values()))) == 1:
        out.append("jck_cmd=(" + " ".join(word(a) for a in commands[vendors[0]]) + ")")
    else:
        out += [
            *gpu_detection_bash("jck_gpu"),  # gpu.detect_gpu, on the node at run time
            'case "$jck_gpu" in',
            *(
                f"  {'*' if v == 'none' else v}) jck_cmd=("
                + " ".join(word(a) for a in commands[v])
                + ") ;;"
                for v in vendors
            ),
            "esac",
        ]
    out.append(
        "exec "
        + " ".join(word(a) for a in launcher)
        + (" " if launcher else "")
        + 'env "${jck_env[@]}" "${jck_cmd[@]}"'
    )
    return out


def _container_command(
    job: JobScript, runtime: Runtime, inner: Sequence[str], vendor: str, env_args: Sequence[str]
) -> list[str]:
    return runtime.argv(
        job.spec,
        inner,
        executable=VAR.format("jck_runtime"),
        gpu=None if vendor == "none" else vendor,
        binds=job.extra_binds,
        env_args=env_args,
    )


def _dirname(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"
