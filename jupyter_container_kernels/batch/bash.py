"""Bash words for generated job scripts: every value quoted with :func:`shlex.quote`, and
run-time variables (written ``VAR.format("NAME")`` in an argument) turned into ``"${NAME}"``."""

from __future__ import annotations

import re
import shlex

from ..errors import SpecError

#: Marks a run-time variable inside an argument: ``VAR.format("SLURM_JOB_ID")``.
VAR = "\x00{}\x00"
VAR_SPLIT = re.compile('\x00([A-Za-z_{}:\\-0-9$"@\\[\\]]*)\x00')


def word(arg: str) -> str:
    """Quote ``arg`` for bash, turning run-time variables into ``"${NAME}"``."""
    parts = VAR_SPLIT.split(arg)
    if len(parts) == 1:
        return q(arg)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append('"${' + part + '}"')
        elif part:
            out.append(q(part))
    return "".join(out)


def q(value: str) -> str:
    if "\x00" in value:
        raise SpecError("script", f"{value!r} contains a NUL character.")
    return shlex.quote(value)
