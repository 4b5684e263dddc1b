"""A runtime's :class:`~..runtimes.base.EnvPolicy` rendered as bash, for job scripts.

:meth:`Runtime.environment <..runtimes.base.Runtime.environment>` applies the policy in Python
to a known host environment; a job script must take the same decisions on the node, where the
job's environment (after ``module load``) is known. ``tests/batch/test_parity.py`` runs both
and compares what the runtime is started with. Also here: reading the kernel's ``env`` values
from the job's env file (:attr:`.script.JobScript.env_file`) instead of the script.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..runtimes import Runtime
from ..runtimes.base import (
    DEFAULT_CONTAINER_PATH,
    HOST_ONLY_VARS,
    SECRET_VARS,
    container_environment,
    forced_names,
)
from .bash import VAR, q, word

if TYPE_CHECKING:  # script.py imports this module
    from .script import JobScript

#: Shell variables kept (with cleanenv) for ``srun`` and MPI/torch inside the container.
LAUNCHER_VARS = ("SLURM_*", "PMI_*", "PMIX_*", "OMPI_*", "MASTER_ADDR", "MASTER_PORT")


def _from_file(job: JobScript) -> bool:
    """Whether the spec's ``env`` values are read from :attr:`JobScript.env_file`."""
    return job.env_file is not None and bool(job.spec.env)


def read_env_file_lines(job: JobScript) -> list[str]:
    """Bash that reads :attr:`JobScript.env_file` into the array ``jck_value`` (name -> value)."""
    if not _from_file(job):
        return []
    path = q(job.env_file or "")
    missing = (
        f"jupyter-container-kernels: {job.env_file} (the kernel's env values) cannot be read; "
        "it is written next to this script when the job is submitted: submit the job again."
    )
    return [
        f"[ -r {path} ] || {{ printf '%s\\n' {q(missing)} >&2; exit 1; }}",
        "declare -A jck_value=()",
        "while IFS= read -r -d '' jck_kv; do",
        "  jck_value[${jck_kv%%=*}]=${jck_kv#*=}",
        f"done < {path}",
    ]


def _secret_cases(passthrough: Sequence[str]) -> tuple[str, str]:
    """``(allowed, secrets)`` as bash ``case`` patterns: the site's pass-through entries that
    name a credential exactly (let in), and :data:`SECRET_VARS` (kept out), as
    :func:`~..runtimes.base.is_secret` decides."""
    allowed = [
        p
        for p in passthrough
        if not any(c in p for c in "*?[") and any(fnmatch.fnmatchcase(p, s) for s in SECRET_VARS)
    ]
    return "|".join(allowed), "|".join(SECRET_VARS)


def environment_lines(
    job: JobScript, runtime: Runtime, keep: Sequence[str], launcher: bool
) -> tuple[list[str], list[str]]:
    """Bash that builds ``jck_env`` (``env`` arguments giving the runtime its environment) and
    the runtime's variable options (``jck_envargs``), and those options as argv words.

    The runtime's declared :class:`~..runtimes.base.EnvPolicy`, rendered as bash: the same
    decisions :meth:`Runtime.environment` takes in Python, with the host environment being the
    job's (after ``module load``), known only on the node. ``keep`` are the cleanenv patterns.
    Credentials (:func:`_secret_cases`) are dropped from both the runtime's environment and the
    container's; the spec's ``env`` values come from ``jck_value`` when there is an env file.
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
    allowed, secrets = _secret_cases(job.passthrough)
    let_in = f"{allowed}) ;; " if allowed else ""
    unset = 'jck_unset+=(-u "$jck_name") ;;'
    if policy.inherits and not policy.cleanenv_flag and cleanenv:
        # the runtime gets only the container's variables (and what it needs itself)
        cases = "|".join([*keep, *copied, *([] if policy.image_path else ["PATH"])])
        rest = f"{cases}) ;; *) {unset}"
    else:
        rest = ""  # the runtime keeps the rest of the job's environment
    lines = [
        "jck_unset=()",
        "while IFS= read -r jck_name; do",
        f'  case "$jck_name" in {let_in}{secrets}) {unset} {rest}{" " if rest else ""}esac',
        "done < <(compgen -e)",
    ]
    words.append('"${jck_unset[@]}"')
    if policy.inherits and not (not policy.cleanenv_flag and cleanenv):
        words += [w for n in sorted(HOST_ONLY_VARS - {"PATH"}) for w in ("-u", n)]
    for c in policy.copied:
        fallback = (
            "".join("${" + f + ":-" for f in c.fallbacks) + c.default + "}" * len(c.fallbacks)
        )
        assignments[c.name] = VAR.format(f"{c.name}:-{fallback}")
    if policy.image_path:
        assignments["PATH"] = DEFAULT_CONTAINER_PATH
    from_file = set(spec.env_dict) if _from_file(job) else set()
    for name in names:
        value = VAR.format(f"jck_value[{name}]") if name in from_file else explicit[name]
        if delivery == "prefix":
            assignments[policy.prefix + name] = value
        elif delivery == "value":
            option_words.append(word(f"{policy.value_option}={name}={value}"))
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
            let_in = f"{allowed}) {action} ;; " if allowed else ""
            lines += [
                "while IFS= read -r jck_name; do",
                f'  case "$jck_name" in {"|".join(skip)}) ;; {let_in}{secrets}) ;; '
                f"{take}) {action} ;; esac",
                "done < <(compgen -e)",
            ]
    # the forced PYTHONNOUSERSITE makes option_words non-empty whenever options are used
    return lines, [VAR.format("jck_envargs[@]")] if option_words else []
