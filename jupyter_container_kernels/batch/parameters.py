"""Notebook parameters with papermill's semantics, and sweeps that become job arrays.

* The first cell tagged ``parameters`` holds the defaults; a new code cell tagged
  ``injected-parameters`` goes right after it (at the top when there is none), replacing any
  injected cell from an earlier run. Later assignments win, so the notebook sees the new values.
* Values are JSON-like (str, int, float, bool, None, list, dict with str keys) and are written
  as Python literals with ``repr``; names must be Python identifiers (not keywords).
* A sweep ``{"lr": [0.1, 0.01], "seed": [1, 2]}`` is the cartesian product of its lists (in the
  order given, last name varying fastest), each combined with the fixed parameters: one array
  task per combination.
* The batch dialog reads a notebook's parameters cell and what the user typed through
  :mod:`.parameter_input`, which uses this module's checks: Python literals are parsed in one
  place, with Python's own parser.
"""

from __future__ import annotations

import itertools
import keyword
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import SpecError

if TYPE_CHECKING:
    import nbformat

PARAMETERS_TAG = "parameters"
INJECTED_TAG = "injected-parameters"
#: The largest sweep accepted (Slurm's default MaxArraySize is 1001, so 0..1000).
MAX_TASKS = 1000


def check_parameters(params: Mapping[str, Any] | None, where: str = "parameters") -> dict[str, Any]:
    """Validate names and values; return a plain dict (a copy)."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise SpecError(where, f"expected a mapping of name: value, got {params!r}.")
    out = {}
    for name, value in params.items():
        check_name(f"{where}.{name}", name)
        out[name] = check_value(f"{where}.{name}", value)
    return out


def check_sweep(sweep: Mapping[str, Any] | None, where: str = "sweep") -> dict[str, list[Any]]:
    """Validate a sweep: each name maps to a non-empty list of values."""
    if sweep is None:
        return {}
    if not isinstance(sweep, Mapping):
        raise SpecError(where, f"expected a mapping of name: [values], got {sweep!r}.")
    out = {}
    for name, values in sweep.items():
        field = f"{where}.{name}"
        check_name(field, name)
        if not isinstance(values, (list, tuple)) or not values:
            raise SpecError(field, f"expected a non-empty list of values, got {values!r}.")
        out[name] = [check_value(f"{field}[{i}]", v) for i, v in enumerate(values)]
    return out


def expand(parameters: Mapping[str, Any], sweep: Mapping[str, list[Any]]) -> list[dict[str, Any]]:
    """One parameter set per array task (a single set when there is no sweep)."""
    if not sweep:
        return [dict(parameters)]
    names = list(sweep)
    count = math.prod(len(v) for v in sweep.values())
    if count > MAX_TASKS:
        raise SpecError(
            "sweep",
            f"makes {count} combinations; at most {MAX_TASKS} tasks fit one job array. "
            "Sweep fewer values, or split the sweep into several submissions.",
        )
    overlap = set(names) & set(parameters)
    if overlap:
        raise SpecError(
            f"sweep.{min(overlap)}", "is also a fixed parameter; give it in one place only."
        )
    return [
        {**parameters, **dict(zip(names, combo, strict=True))}
        for combo in itertools.product(*(sweep[n] for n in names))
    ]


def inject(nb: nbformat.NotebookNode, parameters: Mapping[str, Any]) -> nbformat.NotebookNode:
    """A copy of ``nb`` with the parameters cell injected (``nb`` itself is not changed)."""
    import nbformat  # here: it costs seconds, and the CLI's other verbs never need it

    nb = nbformat.from_dict(nb)  # deep copy as NotebookNode
    nb.cells = [c for c in nb.cells if INJECTED_TAG not in _tags(c)]
    if not parameters:
        return nb
    source = "# Parameters\n" + "".join(f"{k} = {render_value(v)}\n" for k, v in parameters.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": [INJECTED_TAG]})
    # nbformat >= 5.1 wants cell ids; new_code_cell makes one.
    index = parameters_cell_index(nb)
    nb.cells.insert(0 if index is None else index + 1, cell)
    return nb


def render_value(value: Any) -> str:
    """The Python literal for an already validated JSON-like value."""
    return repr(value)


def parameters_cell_index(nb: Mapping[str, Any]) -> int | None:
    """Index of the first cell tagged ``parameters`` (None when there is none)."""
    for i, cell in enumerate(nb.get("cells", ())):
        if PARAMETERS_TAG in _tags(cell):
            return i
    return None


def _tags(cell: Mapping[str, Any]) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", ()))


def check_name(field: str, name: Any) -> None:
    if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
        raise SpecError(field, f"{name!r} is not a Python variable name (letters, digits, _).")


def check_value(field: str, value: Any, depth: int = 0) -> Any:
    if depth > 20:
        raise SpecError(field, "is nested too deeply (more than 20 levels).")
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SpecError(field, f"{value!r} is not a finite number.")
        return value
    if isinstance(value, (list, tuple)):
        return [check_value(f"{field}[{i}]", v, depth + 1) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise SpecError(field, f"dictionary keys must be strings, got {k!r}.")
            out[k] = check_value(f"{field}.{k}", v, depth + 1)
        return out
    raise SpecError(
        field, f"{value!r} is not a JSON value (string, number, boolean, null, list, object)."
    )


def _is_json_like(value: Any) -> bool:
    try:
        check_value("", value)
    except SpecError:
        return False
    return True
