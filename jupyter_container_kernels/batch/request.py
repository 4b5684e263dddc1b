"""The validated submit/preview request: the REST ``SubmitRequest``, also built from CLI flags."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import SpecError
from ..paths import RootDirectory
from .parameters import check_parameters, check_sweep, expand
from .resources import Resources
from .script import MODES, TEMPLATES


@dataclass(frozen=True)
class SubmitRequest:
    """A validated submit/preview request (the REST ``SubmitRequest``).

    ``notebook`` and ``output_dir`` are real absolute paths, resolved from what the user gave
    by the service's :class:`..paths.RootDirectory` (which refuses what its root does not
    allow); ``kernel`` defaults to the notebook's kernelspec.
    """

    notebook: str
    kernel: str | None = None
    resources: Resources = field(default_factory=Resources)
    parameters: Mapping[str, Any] = field(default_factory=dict)
    sweep: Mapping[str, list[Any]] = field(default_factory=dict)
    mode: str = "notebook"
    template: str = "none"
    output_dir: str | None = None

    KEYS = (
        "notebook",
        "kernel",
        "resources",
        "parameters",
        "sweep",
        "mode",
        "template",
        "output_dir",
    )

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        paths: RootDirectory,
        allowed_extra: Mapping[str, str] | None = None,
    ) -> SubmitRequest:
        if not isinstance(data, Mapping):
            raise SpecError("request", f"expected a JSON object, got {data!r}.")
        unknown = [k for k in data if k not in cls.KEYS]
        if unknown:
            raise SpecError(
                str(unknown[0]), f"unknown field; the fields are: {', '.join(cls.KEYS)}."
            )
        kernel = data.get("kernel") or None
        if kernel is not None and (
            not isinstance(kernel, str) or not re.fullmatch(r"[A-Za-z0-9._\-]+", kernel)
        ):
            raise SpecError("kernel", f"{kernel!r} is not a kernel name.")
        mode = data.get("mode") or "notebook"
        if mode not in MODES:
            raise SpecError("mode", f"{mode!r} is not one of: {', '.join(MODES)}.")
        template = data.get("template") or "none"
        if template not in TEMPLATES:
            raise SpecError("template", f"{template!r} is not one of: {', '.join(TEMPLATES)}.")
        if template != "none" and mode != "script":
            raise SpecError("template", f"the {template} template needs mode 'script'.")
        sweep = check_sweep(data.get("sweep"))
        parameters = check_parameters(data.get("parameters"))
        expand(parameters, sweep)  # refuse overlaps and oversized sweeps now
        resources = Resources.from_dict(data.get("resources"), allowed_extra=allowed_extra)
        # Paths last: the one place they are checked (and confined) also looks at the disk.
        output_dir = data.get("output_dir") or None
        if output_dir is not None:
            output_dir = str(paths.resolve_directory(output_dir, "output_dir"))
        notebook = str(paths.resolve_notebook(data.get("notebook")))
        return cls(
            notebook=notebook,
            kernel=kernel,
            resources=resources,
            parameters=parameters,
            sweep=sweep,
            mode=mode,
            template=template,
            output_dir=output_dir,
        )
