"""Validated Slurm resources: one strict pattern per field, sbatch's own long option names.

:class:`Resources` is built at every edge (REST body, CLI flags) with :meth:`Resources.from_dict`
and trusted by :mod:`.script`. Every value is matched *whole* against its field's pattern, so a
newline, a ``#`` or a shell metacharacter can never add an ``#SBATCH`` directive or a shell line;
the error names the field. Sites may allow more directives (``--constraint``, ``--exclusive``…)
through :attr:`BatchService.extra_directives`, each with its own pattern.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import SpecError

_NAME = r"[A-Za-z0-9_][A-Za-z0-9_.\-]*"
_TIME = (
    r"(?:UNLIMITED|INFINITE|infinite|unlimited"  # sbatch's own words for no limit
    r"|\d+(?::\d{1,2}){0,2}"  # minutes, minutes:seconds, hours:minutes:seconds
    r"|\d+-\d{1,2}(?::\d{1,2}){0,2})"  # days-hours[:minutes[:seconds]]
)

#: field -> (pattern matched whole, what it is, an example). The order is the #SBATCH order.
FIELDS: dict[str, tuple[str, str, str]] = {
    "job_name": (r"[A-Za-z0-9_][A-Za-z0-9_.+\-]{0,127}", "a job name", "analysis-1"),
    "partition": (rf"{_NAME}(?:,{_NAME})*", "a partition name (or a comma list)", "gpu"),
    "account": (_NAME, "an account name", "proj123"),
    "qos": (_NAME, "a QOS name", "normal"),
    "reservation": (rf"{_NAME}(?:,{_NAME})*", "a reservation name", "maint"),
    "time": (_TIME, "a time limit", "1:30:00 or 2-00:00:00"),
    "nodes": (r"[1-9]\d{0,5}(?:-[1-9]\d{0,5})?", "a node count (or min-max)", "2"),
    "ntasks": (r"[1-9]\d{0,6}", "a task count", "4"),
    "cpus_per_task": (r"[1-9]\d{0,4}", "a CPU count", "8"),
    "mem": (r"\d{1,9}[KMGT]?", "a memory size (K, M, G or T; plain numbers are MB)", "16G"),
    "gpus": (r"(?:[A-Za-z0-9_\-]+:)?[1-9]\d{0,3}", "a GPU count ([type:]count)", "a100:2"),
    "gres": (
        r"[A-Za-z0-9_\-]+(?::[A-Za-z0-9_.\-]+){0,2}(?:,[A-Za-z0-9_\-]+(?::[A-Za-z0-9_.\-]+){0,2})*",
        "a generic resource list (name[:type][:count],…)",
        "gpu:1",
    ),
}
_COMPILED = {k: re.compile(p) for k, (p, _, _) in FIELDS.items()}
#: Field name (underscores) -> sbatch long option.
OPTION = {k: "--" + k.replace("_", "-") for k in FIELDS}
_OPTION_NAME = re.compile(r"[a-z][a-z0-9\-]*\Z")
_INTEGER_FIELDS = ("nodes", "ntasks", "cpus_per_task", "gpus")


@dataclass(frozen=True)
class Resources:
    """What a batch job asks Slurm for. ``None`` leaves a field to Slurm's defaults.

    ``extra`` holds site-allowed directives as ``(option, value)`` pairs, in the order given;
    an empty value renders a flag (``--exclusive``).
    """

    job_name: str | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    reservation: str | None = None
    time: str | None = None
    nodes: str | None = None
    ntasks: str | None = None
    cpus_per_task: str | None = None
    mem: str | None = None
    gpus: str | None = None
    gres: str | None = None
    extra: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any] | None,
        *,
        allowed_extra: Mapping[str, str] | None = None,
        where: str = "resources",
    ) -> Resources:
        """Validate ``data`` (REST ``resources`` / CLI flags; ``-`` or ``_`` in names).

        ``allowed_extra`` maps further sbatch long options (``constraint``) to the pattern their
        value must match whole (``""`` for a flag that takes no value).
        """
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise SpecError(where, f"expected a mapping of resource: value, got {data!r}.")
        allowed_extra = dict(allowed_extra or {})
        values: dict[str, str] = {}
        extra: list[tuple[str, str]] = []
        for raw_key, value in data.items():
            key = str(raw_key).replace("-", "_")
            field = f"{where}.{raw_key}"
            if value is None or value == "":
                continue
            if key in FIELDS:
                values[key] = _check(field, key, value)
                continue
            option = str(raw_key).replace("_", "-")
            if option not in allowed_extra:
                known = ", ".join([*FIELDS, *sorted(allowed_extra)])
                raise SpecError(
                    field,
                    f"{raw_key!r} is not a resource this site accepts; the resources are: {known}."
                    " (Admins allow more sbatch options with c.BatchService.extra_directives.)",
                )
            extra.append((option, _check_extra(field, option, value, allowed_extra[option])))
        return cls(**values, extra=tuple(extra))

    def to_dict(self) -> dict[str, Any]:
        """The set fields (REST shape); extras by their option names."""
        out: dict[str, Any] = {k: getattr(self, k) for k in FIELDS if getattr(self, k) is not None}
        out.update(dict(self.extra))
        return out

    def directives(self) -> list[tuple[str, str | None]]:
        """``(--option, value)`` in the fixed #SBATCH order; ``None`` value: a bare flag."""
        out: list[tuple[str, str | None]] = [
            (OPTION[k], getattr(self, k)) for k in FIELDS if getattr(self, k) is not None
        ]
        out += [("--" + name, value or None) for name, value in self.extra]
        return out

    @property
    def node_count(self) -> int:
        """The minimum number of nodes asked for (1 when unset)."""
        return int((self.nodes or "1").split("-")[0])

    @property
    def asks_for_gpus(self) -> bool:
        return bool(self.gpus) or any(
            g.split(":")[0] == "gpu" for g in (self.gres or "").split(",")
        )


def _check(field: str, key: str, value: Any) -> str:
    _, what, example = FIELDS[key]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise SpecError(field, f"expected {what} as a string, got {value!r} (e.g. {example}).")
    if isinstance(value, int) and key not in _INTEGER_FIELDS:
        raise SpecError(field, f"expected {what}, got the number {value!r} (e.g. {example}).")
    text = str(value).strip()
    if not _COMPILED[key].fullmatch(text):
        raise SpecError(field, f"{value!r} is not {what}{_why(text)}; write e.g. {example}.")
    return text


def _check_extra(field: str, option: str, value: Any, pattern: str) -> str:
    if value is True and not pattern:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise SpecError(field, f"expected a string, got {value!r}.")
    text = str(value).strip()
    if not pattern:
        raise SpecError(field, f"--{option} is a flag and takes no value; send true.")
    if not re.fullmatch(pattern, text) or _UNSAFE.search(text):
        raise SpecError(
            field, f"{value!r} is not a value this site allows for --{option}{_why(text)}."
        )
    return text


#: Never allowed in a directive value, whatever a site's pattern says: #SBATCH lines are parsed
#: by sbatch (quotes, backslash escapes, '#' comments, a newline ends the line), and a value
#: must stay one word. '|' and '&' (constraint syntax) are safe inside the quoted value.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f#'\"\\`$;\s]")


def _why(text: str) -> str:
    """Say what makes ``text`` dangerous, when something does."""
    if "\n" in text or "\r" in text:
        return " (a newline could add #SBATCH directives or shell lines)"
    if "#" in text:
        return " ('#' would start a comment or a directive)"
    bad = _UNSAFE.search(text)
    if bad:
        return f" ({bad.group()!r} is a shell metacharacter or space)"
    return ""


def check_directive_name(name: str) -> str:
    """Validate an option name a site allows in ``extra_directives`` (``constraint``)."""
    option = name.replace("_", "-")
    if (
        not _OPTION_NAME.match(option)
        or "--" + option in OPTION.values()
        or option
        in (
            "output",
            "error",
            "array",
            "chdir",
            "wrap",
            "export",
            "parsable",
            "test-only",
        )
    ):
        raise SpecError(
            f"BatchService.extra_directives.{name}",
            "is not an sbatch long option a site may add (the script sets --output, --error, "
            "--array itself and the standard resources have their own fields).",
        )
    return option
