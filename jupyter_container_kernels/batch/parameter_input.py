"""What the batch dialog reads: a notebook's ``parameters`` cell (``POST batch/parameters``)
and the texts typed into parameter and sweep fields (``POST batch/values``).

Values are Python literals read with Python's own parser and checked by :mod:`.parameters`, so
the frontend holds no second parser.
"""

from __future__ import annotations

import ast
import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import SpecError
from .parameters import MAX_TASKS, check_name, check_value, parameters_cell_index


def read_defaults(nb: Mapping[str, Any]) -> dict[str, Any]:
    """The literal values assigned in the ``parameters`` cell, by name (see :func:`read_parameters`).

    Assignments whose value is not a JSON-like literal (``x = f(1)``) and IPython magics are
    skipped.
    """
    return {p.name: p.value for p in read_parameters(nb).parameters}


@dataclass(frozen=True)
class Parameter:
    """One ``name = literal`` assignment of the parameters cell (the UI's pre-fill)."""

    name: str
    #: The value, JSON-like (tuples become lists).
    value: Any
    #: The value's source text as written in the cell.
    literal: str
    #: The annotation's source text (``lr: float = 0.1`` gives ``float``), or None.
    annotation: str | None
    #: The ``# comment`` after the value on its last line (without ``#``), or None.
    comment: str | None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SkippedLine:
    """A statement of the parameters cell that is not a parameter; it runs as written."""

    #: 1-based line number in the cell where the statement starts.
    line: int
    #: The statement's first line.
    text: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ParametersCell:
    """What :func:`read_parameters` found: the parameters in order, and what it skipped."""

    found: bool
    parameters: tuple[Parameter, ...] = ()
    skipped: tuple[SkippedLine, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The REST shape (``POST batch/parameters``)."""
        return {
            "has_parameters_cell": self.found,
            "parameters": [p.to_dict() for p in self.parameters],
            "skipped": [s.to_dict() for s in self.skipped],
        }


def read_parameters(nb: Mapping[str, Any]) -> ParametersCell:
    """The parameters of the notebook's ``parameters`` cell, as Python reads them.

    Each top-level ``name = literal`` or ``name: type = literal`` statement whose value is a
    JSON-like literal (:func:`ast.literal_eval`) is a parameter; a later assignment to the same
    name wins and moves it to its last position, as in Python. Every other statement (imports,
    calls, several targets, magics) is listed in ``skipped`` with the reason; a cell that is
    not valid Python has no parameters.
    """
    index = parameters_cell_index(nb)
    if index is None:
        return ParametersCell(found=False)
    source = nb["cells"][index].get("source", "")
    source = "".join(source) if isinstance(source, list) else source
    lines = source.splitlines()
    skipped: list[SkippedLine] = []
    code_lines = []
    for number, line in enumerate(lines, 1):
        if line.lstrip().startswith(("%", "!")):
            # Blanked, not removed, so the line numbers stay the cell's.
            skipped.append(SkippedLine(number, line.rstrip(), "an IPython magic or shell command"))
            code_lines.append("")
        else:
            code_lines.append(line)
    code = "\n".join(code_lines)
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        number = exc.lineno or 1
        text = lines[number - 1].rstrip() if 0 < number <= len(lines) else ""
        reason = f"not valid Python ({exc.msg}), so no parameters are read from the cell"
        return ParametersCell(found=True, skipped=(*skipped, SkippedLine(number, text, reason)))
    found: dict[str, Parameter] = {}
    for node in tree.body:
        text = lines[node.lineno - 1].rstrip()
        parameter = _parameter(node, code, lines)
        if isinstance(parameter, str):
            skipped.append(SkippedLine(node.lineno, text, parameter))
            continue
        found.pop(parameter.name, None)
        found[parameter.name] = parameter
    skipped.sort(key=lambda s: s.line)
    return ParametersCell(found=True, parameters=tuple(found.values()), skipped=tuple(skipped))


def _parameter(node: ast.stmt, code: str, lines: list[str]) -> Parameter | str:
    """The parameter ``node`` assigns, or why it is not one."""
    annotation = None
    if isinstance(node, ast.Assign):
        if len(node.targets) != 1:
            return "assigns several names at once (a = b = value)"
        target, value = node.targets[0], node.value
    elif isinstance(node, ast.AnnAssign):
        if node.value is None:
            return "an annotation without a value"
        target, value = node.target, node.value
        annotation = ast.get_source_segment(code, node.annotation)
    else:
        return "not a `name = value` assignment"
    if not isinstance(target, ast.Name):
        return "assigns to something other than one name"
    try:
        literal = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return "the value is not a literal (it is computed when the notebook runs)"
    try:
        checked = check_value(target.id, literal)
    except SpecError as exc:
        return str(exc)
    # end_col_offset counts UTF-8 bytes.
    end = node.end_lineno or node.lineno
    rest = lines[end - 1].encode()[node.end_col_offset or 0 :].decode(errors="replace").strip()
    comment = rest[1:].strip() or None if rest.startswith("#") else None
    return Parameter(
        name=target.id,
        value=checked,
        literal=ast.get_source_segment(code, value) or "",
        annotation=annotation,
        comment=comment,
    )


#: Characters that make field text meant as a literal (so a typo is an error, not a string).
_LITERAL_MARKS = frozenset("[](){}'\"")
#: The longest text read as one value.
_MAX_INPUT = 100_000


def parse_value(text: Any, field: str = "value") -> Any:
    """The value a user meant by typing ``text`` into a parameter field.

    A Python literal is taken as such (``0.5``, ``'adam'``, ``[1, 2]``, ``None``); text that is
    not one and has no quotes or brackets (``adam``, ``data/train.csv``, ``2024-01-31``) is
    taken as a string, so strings need no quotes. Anything else, an unfinished literal (an open
    quote or bracket) or a non-JSON value (a set, a complex number), is a :class:`SpecError`.
    """
    if not isinstance(text, str):
        raise SpecError(field, f"expected the text typed into the field, got {text!r}.")
    stripped = text.strip()
    if not stripped:
        raise SpecError(field, "no value given; type one, or leave the notebook's default.")
    if len(stripped) > _MAX_INPUT:
        raise SpecError(field, f"is longer than {_MAX_INPUT} characters.")
    try:
        value = ast.literal_eval(stripped)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        if not _LITERAL_MARKS & set(stripped):
            return stripped
        why = exc.msg if isinstance(exc, SyntaxError) else "not a literal"
        raise SpecError(
            field,
            f"{stripped!r} is not a value ({why}); write a Python literal such as 'text', "
            "0.5, [1, 2] or None, or plain text without quotes or brackets.",
        ) from None
    return check_value(field, value)


def parse_sweep_values(text: Any, field: str = "sweep") -> list[Any]:
    """The values of a sweep field: ``0.1, 0.01`` or ``adam, 'sgd', [1, 2]``.

    The text is split at commas outside quotes and brackets; each item is read with
    :func:`parse_value` and empty items are ignored. At least one value is required, and values
    must be distinct since each becomes one task of the job array.
    """
    if not isinstance(text, str):
        raise SpecError(field, f"expected the text typed into the field, got {text!r}.")
    items = [item.strip() for item in _split_top_level(text)]
    items = [item for item in items if item]
    if not items:
        raise SpecError(field, "give at least one value, separated by commas (e.g. 0.1, 0.01).")
    if len(items) > MAX_TASKS:
        raise SpecError(field, f"has {len(items)} values; at most {MAX_TASKS} fit one job array.")
    values: list[Any] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        value = parse_value(item, f"{field}[{i}]")
        key = json.dumps(value, sort_keys=True)  # 1, 1.0 and True are three values
        if key in seen:
            raise SpecError(field, f"{item} is listed twice; each value runs once.")
        seen.add(key)
        values.append(value)
    return values


def parse_fields(parameters: Any = None, sweep: Any = None) -> dict[str, dict[str, Any]]:
    """A submit request's ``parameters`` and ``sweep`` from the texts typed into the batch
    dialog's fields: ``{"parameters": {name: text}, "sweep": {name: "v1, v2"}}`` in, values out
    (:func:`parse_value`, :func:`parse_sweep_values`). The first bad field is a
    :class:`SpecError` naming it (``parameters.lr``)."""
    out: dict[str, dict[str, Any]] = {"parameters": {}, "sweep": {}}
    for key, texts, parse in (
        ("parameters", parameters, parse_value),
        ("sweep", sweep, parse_sweep_values),
    ):
        if texts is None:
            continue
        if not isinstance(texts, Mapping):
            raise SpecError(key, f"expected an object of name: text, got {texts!r}.")
        for name, text in texts.items():
            check_name(f"{key}.{name}", name)
            out[key][name] = parse(text, f"{key}.{name}")
    return out


def _split_top_level(text: str) -> list[str]:
    """``text`` split at the commas that are not inside quotes or brackets."""
    parts: list[str] = []
    depth, quote, current = 0, "", []
    chars = iter(text)
    for c in chars:
        if quote:
            if c == "\\":
                current.append(c + next(chars, ""))
                continue
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(0, depth - 1)
        elif c == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(c)
    parts.append("".join(current))
    return parts
