"""A submit request becomes files on disk: the sbatch script and the files it refers to.

:func:`prepare_job` renders everything without touching the disk (so ``preview`` and ``export``
share it with ``submit``); :func:`write_files` creates the output directory and writes them.
Slurm does not create the ``--output`` directory, and a job fails without it.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..runtimes import get_runtime
from ..site import SiteConfig
from ..spec import Bind, ContainerSpec
from .convert import notebook_to_python
from .parameters import expand, inject
from .request import SubmitRequest
from .script import JobScript, job_files, render, safe_stem


@dataclass(frozen=True)
class PreparedJob:
    """What :meth:`BatchService.submit` writes and submits."""

    script: JobScript
    script_path: str
    files: dict[str, str]
    tasks: list[dict[str, Any]]
    text: str


@dataclass(frozen=True)
class JobSettings:
    """What every job of one service shares: the site, the executor and the Slurm tools."""

    site: SiteConfig
    executor_python: str
    srun: str
    scontrol: str
    torchrun_port: int


def read_notebook(path: str, given: str) -> Any:
    """The notebook at ``path`` (``given`` is how the user wrote it, for the message)."""
    try:
        import nbformat  # here: it costs seconds, and `jobs`/`cancel` never need it

        return nbformat.read(path, as_version=4)
    except (OSError, ValueError) as exc:
        raise SpecError("notebook", f"{given!r} is not a readable notebook: {exc}") from exc


def prepare_job(
    request: SubmitRequest,
    settings: JobSettings,
    *,
    nb: Any,
    notebook: str,
    output_dir: str,
    kernel: str,
    spec: ContainerSpec,
    stamp: str | None = None,
    attempt: int = 0,
) -> PreparedJob:
    """Render the script of ``request`` for ``notebook`` (real path, already read as ``nb``)
    run by ``kernel`` (``spec`` with the site's policy applied); nothing is written."""
    stem = safe_stem(Path(notebook).stem)
    stamp = (stamp or _stamp()) + (f"-{attempt}" if attempt else "")
    base = os.path.join(output_dir, f"{stem}-{stamp}")
    tasks = expand(request.parameters, request.sweep)
    array_size = len(tasks) if request.sweep else None
    resources = request.resources
    if resources.job_name is None:
        resources = replace(resources, job_name=_job_name(stem))

    files: dict[str, str] = {}
    parameters_file = None
    python_scripts: tuple[str, ...] = ()
    extra_binds: tuple[Bind, ...] = ()
    module_init = runtime_exe = env_file = None
    if request.mode == "notebook":
        if request.parameters or request.sweep:
            parameters_file = f"{base}.params.json"
            files[parameters_file] = json.dumps({"tasks": tasks}, indent=1) + "\n"
    else:
        names = (
            [f"{base}.py"]
            if array_size is None
            else [f"{base}.task{i}.py" for i in range(array_size)]
        )
        for name, params in zip(names, tasks, strict=True):
            files[name] = notebook_to_python(inject(nb, params), source=notebook)
        python_scripts = tuple(names)
        if spec.env:  # values in a 0600 file, not in the script Slurm keeps and shows
            env_file = f"{base}.env"
        extra_binds = _visible(spec, output_dir)
        runtime_exe = settings.site.runtime_paths.get(spec.runtime) or ""
        if spec.modules:
            from ..modules import find_module_init

            module_init = find_module_init(site=settings.site)
    job = JobScript(
        spec=spec,
        kernel=kernel,
        notebook=notebook,
        output_dir=output_dir,
        stem=stem,
        resources=resources,
        mode=request.mode,
        array_size=array_size,
        parameters_file=parameters_file,
        python_scripts=python_scripts,
        template=request.template,
        executor_python=settings.executor_python,
        runtime_executable=runtime_exe or "",
        srun=settings.srun,
        scontrol=settings.scontrol,
        module_init=module_init,
        gpu=None if settings.site.node_gpu == "auto" else settings.site.node_gpu,
        extra_binds=extra_binds,
        passthrough=tuple(settings.site.env_passthrough),
        torchrun_port=settings.torchrun_port,
        env_file=env_file,
    )
    files.update(job_files(job))
    text = render(job)
    script_path = f"{base}.sbatch"
    return PreparedJob(job, script_path, {**files, script_path: text}, tasks, text)


def write_files(prepared: PreparedJob, *, include_script: bool = True) -> None:
    """Create the output directory and write the script and the files it refers to.

    The output directory, when this creates it, is 0700. Every file is created exclusively
    (``O_CREAT | O_EXCL | O_NOFOLLOW``) with mode 0600: nothing already there is overwritten
    and no symbolic link is followed, even in a directory others can write to.
    """
    directory = prepared.script.output_dir
    created: list[str] = []
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        for path, text in prepared.files.items():
            if include_script or path != prepared.script_path:
                _create(path, text, created)
    except BaseException as exc:
        for path in created:  # nothing half-written is left (a full disk, a name taken)
            with contextlib.suppress(OSError):
                os.unlink(path)
        if isinstance(exc, OSError):
            raise SpecError(
                "output_dir",
                f"cannot write into {directory!r}: {exc.strerror}; choose a "
                "directory you can write to.",
            ) from exc
        raise


class NameTakenError(SpecError):
    """A file of the job's name already exists (another submit took the name): choose another."""


def _create(path: str, text: str, created: list[str]) -> None:
    """Write ``text`` into a new file ``path`` (0600), noted in ``created``; refuse anything
    already there (:class:`NameTakenError` for a plain file, which a retry under another name
    avoids)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        link = os.path.islink(path)
        error = SpecError if link else NameTakenError
        raise error(
            "output_dir",
            f"{path!r} is {'a symbolic link' if link else 'a file that already exists'}; a "
            "job's files are only ever created new, never written through a link or over "
            "another file. Remove it or choose another output directory.",
        ) from None
    created.append(path)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def _visible(spec: ContainerSpec, directory: str) -> tuple[Bind, ...]:
    """Binds that make ``directory`` (the converted scripts) visible at the same path inside."""
    runtime = get_runtime(spec.runtime)
    inside = [b.src for b in spec.binds if b.src == b.dst] + list(runtime.always_shared)
    if any(Path(directory).is_relative_to(p) for p in inside):
        return ()
    if not runtime.creates_bind_destinations:
        raise SpecError(
            "output_dir",
            f"{directory} is not visible inside the {runtime.name} container, which binds only "
            f"onto directories that exist in the image; choose an output directory under "
            f"{', '.join(inside) or '/tmp'} or give the kernel a bind for it.",
        )
    try:
        return (Bind.parse(directory, "output_dir"),)
    except SpecError:
        raise SpecError(
            "output_dir",
            f"{directory!r} cannot be bound into the container (':' or ',' in the "
            "path); choose another output directory.",
        ) from None


def _job_name(stem: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.+\-]", "_", stem).lstrip(".+-") or "notebook"
    return name[:128]


def _stamp() -> str:
    return _dt.datetime.now().strftime("%Y%m%dT%H%M%S") + "-" + secrets.token_hex(4)
