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
converted scripts (script mode), one entry per array task.
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
from ..runtimes.base import (
    ALWAYS_PASSED,
    DEFAULT_CONTAINER_PATH,
    HOST_ONLY_VARS,
    container_environment,
    forced_names,
)
from ..spec import Bind, ContainerSpec
from .bash import VAR, q, word
from .resources import Resources

MODES = ("notebook", "script")
TEMPLATES = ("none", "mpi", "torchrun")
#: Shell variables kept (with cleanenv) for ``srun`` and MPI/torch inside the container.
LAUNCHER_VARS = ("SLURM_*", "PMI_*", "PMIX_*", "OMPI_*", "MASTER_ADDR", "MASTER_PORT")
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


def _script_body(job: JobScript, array: bool) -> list[str]:
    spec = job.spec
    runtime = get_runtime(spec.runtime)
    scripts = job.python_scripts
    if len(scripts) != (job.array_size or 1):
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
    if array:
        out.append("jck_scripts=(" + " ".join(q(s) for s in scripts) + ")")
        out.append("jck_script=${jck_scripts[$SLURM_ARRAY_TASK_ID]}")
        script_word = VAR.format("jck_script")
    else:
        script_word = scripts[0]

    launcher: list[str] = []
    inner = [spec.python, script_word]
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
    env_lines, env_args = _environment(job, runtime, keep, bool(launcher))
    commands = {v: _container_command(job, runtime, inner, v, env_args) for v in vendors}
    out += env_lines
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


def _environment(
    job: JobScript, runtime: Runtime, keep: Sequence[str], launcher: bool
) -> tuple[list[str], list[str]]:
    """Bash that builds ``jck_env`` (``env`` arguments giving the runtime its environment) and
    the runtime's variable options (``jck_envargs``), and those options as argv words.

    The runtime's declared :class:`~..runtimes.base.EnvPolicy`, rendered as bash: the same
    decisions :meth:`Runtime.environment` takes in Python, with the host environment being the
    job's (after ``module load``), known only on the node. ``keep`` are the cleanenv patterns.
    """
    spec = job.spec
    policy = runtime.env_policy
    cleanenv = spec.cleanenv
    delivery = policy.delivery(cleanenv)
    explicit = container_environment(spec, {})  # the forced variables' values
    names = forced_names(spec)
    words: list[str] = []
    assignments: dict[str, str] = {}
    option_words: list[str] = []
    lines: list[str] = []
    copied = [c.name for c in policy.copied]
    if policy.inherits and not policy.cleanenv_flag and cleanenv:
        # the runtime gets only the container's variables (and what it needs itself)
        cases = "|".join([*keep, *copied, *([] if policy.image_path else ["PATH"])])
        lines = [
            "jck_unset=()",
            "while IFS= read -r jck_name; do",
            f'  case "$jck_name" in {cases}) ;; *) jck_unset+=(-u "$jck_name") ;; esac',
            "done < <(compgen -e)",
        ]
        words.append('"${jck_unset[@]}"')
    elif policy.inherits:
        words += [w for n in sorted(HOST_ONLY_VARS - {"PATH"}) for w in ("-u", n)]
    for c in policy.copied:
        fallback = (
            "".join("${" + f + ":-" for f in c.fallbacks) + c.default + "}" * len(c.fallbacks)
        )
        assignments[c.name] = VAR.format(f"{c.name}:-{fallback}")
    if policy.image_path:
        assignments["PATH"] = DEFAULT_CONTAINER_PATH
    for name in names:
        value = explicit[name]
        if delivery == "prefix":
            assignments[policy.prefix + name] = value
        elif delivery == "value":
            option_words.append(q(f"{policy.value_option}={name}={value}"))
        else:
            assignments[name] = value
            if delivery == "name" and name not in policy.unnamed:
                option_words += [q(policy.name_option or ""), q(name)]
    words += [word(f"{k}={v}") for k, v in sorted(assignments.items())]
    lines.append("jck_env=(" + " ".join(words) + ")")
    if option_words:
        lines.append("jck_envargs=(" + " ".join(option_words) + ")")
    if policy.forces_all(cleanenv):
        # every container variable is forced: those the job has too, found on the node
        skip = [*names, *(["PATH"] if cleanenv else sorted(HOST_ONLY_VARS))]
        if delivery == "name":
            skip += sorted(policy.unnamed)
        elif launcher:
            # srun gives each task its own SLURM_PROCID, PMI_RANK…: values read here would be
            # the batch step's, so these stay out (Podman's by-name options read them per task)
            skip += LAUNCHER_VARS
        take = "|".join(keep) if cleanenv else "*"
        action = {
            "prefix": f'jck_env+=("{policy.prefix}$jck_name=${{!jck_name}}")',
            "name": f'jck_envargs+=({q(policy.name_option or "")} "$jck_name")',
            "value": f'jck_envargs+=("{policy.value_option}=$jck_name=${{!jck_name}}")',
            "env": "",
        }[delivery]
        if action:
            lines += [
                "while IFS= read -r jck_name; do",
                f'  case "$jck_name" in {"|".join(skip)}) ;; {take}) {action} ;; esac',
                "done < <(compgen -e)",
            ]
    # the forced PYTHONNOUSERSITE makes option_words non-empty whenever options are used
    return lines, [VAR.format("jck_envargs[@]")] if option_words else []


def _dirname(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"
