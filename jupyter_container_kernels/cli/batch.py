"""``jupyter container-kernels export | submit | jobs | cancel`` (thin: parse, call BatchService,
print).

Resource flags use sbatch's own long names (``--partition --time --nodes --ntasks
--cpus-per-task --mem --gpus --gres --account --qos --reservation --job-name``), plus
``--output-dir`` (logs, output notebooks, the script; default: beside the notebook),
``-p NAME=VALUE`` (repeatable; the value is read as JSON when it parses, else as a string),
``--sweep NAME=[v1,v2]`` (repeatable; a job array over the combinations), ``--mode
notebook|script``, ``--template none|mpi|torchrun`` and ``--directive OPTION=VALUE`` for
directives the site allows.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any, ClassVar

from traitlets import Enum, List

from ..batch.resources import FIELDS
from ..batch.script import MODES, TEMPLATES
from ..batch.service import BatchService
from ..errors import ContainerKernelError, SpecError
from ..site import SiteConfig
from .base import JSON_FLAG, SlurmResourceOptions, Text, Verb


def _aliases(cls: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    names = {name.replace("_", "-"): f"{cls}.{name}" for name in FIELDS}
    names.update(
        {
            "kernel": f"{cls}.kernel",
            "output-dir": f"{cls}.output_dir",
            "p": f"{cls}.parameter",
            "sweep": f"{cls}.sweep",
            "mode": f"{cls}.mode",
            "template": f"{cls}.template",
            "directive": f"{cls}.directive",
        }
    )
    names.update(extra or {})
    return names


class _BatchApp(Verb):
    """Shared by the batch verbs: a BatchService rooted at the current directory."""

    classes: ClassVar[list[type]] = [SiteConfig, BatchService]

    def service(self) -> BatchService:
        return BatchService(parent=self)


class _RequestApp(_BatchApp, SlurmResourceOptions):
    """Options of export and submit: NOTEBOOK, the kernel, resources, parameters, mode."""

    positional = (1, 1)
    usage_args = "one NOTEBOOK"

    kernel = Text(config=True, help="Container kernel to run (default: the notebook's).")
    job_name = Text(config=True, help="--job-name: the job's name (default: notebook name).")
    nodes = Text(config=True, help="--nodes: node count (or min-max).")
    ntasks = Text(config=True, help="--ntasks: task count (script mode, mpi template).")
    output_dir = Text(
        config=True,
        help="Directory for logs, output notebooks and the script (default: "
        "the notebook's directory).",
    )
    parameter = List(
        Text().tag(flag="p"),
        config=True,
        help="-p NAME=VALUE, repeatable: papermill-style parameter; VALUE is read as JSON when "
        "it parses (1, 0.5, true, [1,2]) and as a string otherwise.",
    )
    sweep = List(
        Text().tag(flag="sweep"),
        config=True,
        help="--sweep NAME=[v1,v2,...], repeatable: run a job array over every combination.",
    )
    directive = List(
        Text().tag(flag="directive"),
        config=True,
        help="--directive OPTION=VALUE: an sbatch option the site allows.",
    )
    mode = Enum(
        MODES,
        "notebook",
        config=True,
        help="notebook: run with the container kernel (output notebook); script: run "
        "the notebook converted to Python with the runtime directly.",
    )
    template = Enum(
        TEMPLATES,
        "none",
        config=True,
        help="Multi-node launcher in script mode: mpi (srun around the container) or "
        "torchrun (one torchrun per node).",
    )

    def request_data(self) -> dict[str, Any]:
        resources: dict[str, Any] = {k: getattr(self, k) for k in FIELDS if getattr(self, k)}
        for item in self.directive:
            name, value = _pair("--directive", item)
            resources[name] = value or True
        sweep: dict[str, Any] = {}
        for item in self.sweep:
            name, value = _pair("--sweep", item)
            sweep[name] = _value(value)
        return {
            "notebook": self.extra_args[0],
            "kernel": self.kernel or None,
            "resources": resources,
            "parameters": {k: _value(v) for k, v in (_pair("-p", i) for i in self.parameter)},
            "sweep": sweep,
            "mode": self.mode,
            "template": self.template,
            "output_dir": self.output_dir or None,
        }


class ExportApp(_RequestApp):
    """Render the sbatch script of a notebook (and write the files it refers to)."""

    name = "jupyter-container-kernels-export"
    description = (
        "Print (or write with -o) the complete sbatch script that runs NOTEBOOK with a container "
        "kernel. Parameter files (or converted scripts) it refers to are written into the output "
        "directory, so `sbatch FILE` runs it."
    )
    examples = (
        "jupyter container-kernels export analysis.ipynb --kernel pytorch --gres gpu:1 -o job.sh"
    )
    output = Text(config=True, help="Write the script to this file (default: stdout).")
    aliases = _aliases("ExportApp", {"o": "ExportApp.output", "output": "ExportApp.output"})

    def run(self) -> None:
        service = self.service()
        prepared = service.prepare(service.request(self.request_data()))
        service.write_files(prepared, include_script=False)
        if self.output:
            with open(self.output, "w", encoding="utf-8") as f:
                f.write(prepared.text)
            print(f"Wrote {self.output}; submit it with: sbatch {self.output}", file=sys.stderr)
        else:
            sys.stdout.write(prepared.text)


class SubmitApp(_RequestApp):
    """Submit a notebook as a Slurm job; prints the job id."""

    name = "jupyter-container-kernels-submit"
    description = "Submit NOTEBOOK as a Slurm batch job with a container kernel; prints the job id."
    examples = (
        "jupyter container-kernels submit analysis.ipynb --partition gpu --gres gpu:1 -p lr=0.01"
    )
    aliases = _aliases("SubmitApp")

    def run(self) -> None:
        service = self.service()
        record = asyncio.run(service.submit(service.request(self.request_data())))
        print(record.id)
        outputs = ", ".join(record.output_notebooks) or "(script mode: see the log)"
        print(f"Log: {record.log_path}\nOutput: {outputs}", file=sys.stderr)


class JobsApp(_BatchApp):
    """List tracked jobs with their current Slurm state."""

    name = "jupyter-container-kernels-jobs"
    description = "List the batch jobs submitted from here (state asked from Slurm once)."
    flags: ClassVar[dict[str, Any]] = JSON_FLAG

    def run(self) -> None:
        service = self.service()
        try:
            asyncio.run(service.refresh())
        except ContainerKernelError as exc:
            print(f"Warning: states may be stale: {exc}", file=sys.stderr)
        jobs = [service.api(r) for r in service.list()]
        if self.json:
            print(json.dumps({"jobs": jobs}, indent=1))
            return
        print(f"{'ID':>10}  {'STATE':<14} {'EXIT':>4}  {'NAME':<20} NOTEBOOK")
        for job in jobs:
            code = "" if job["exit_code"] is None else str(job["exit_code"])
            state = job["state"] + (
                f" ({job['reason']})" if job["state"] == "PENDING" and job["reason"] else ""
            )
            print(
                f"{job['id']:>10}  {state:<14} {code:>4}  {job['name'][:20]:<20} {job['notebook']}"
            )


class CancelApp(_BatchApp):
    """Cancel a pending or running job."""

    name = "jupyter-container-kernels-cancel"
    description = "Cancel the batch job ID (pending or running)."
    positional = (1, 1)
    usage_args = "one job ID"

    def run(self) -> None:
        record = asyncio.run(self.service().cancel(self.extra_args[0]))
        print(f"{record.id} {record.state}")


def _pair(flag: str, item: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name:
        raise SpecError(flag, f"{item!r} is not NAME=VALUE.")
    return name.strip(), value


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
