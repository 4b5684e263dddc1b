"""Parameters with papermill's semantics; sweeps become one parameter set per array task."""

from __future__ import annotations

import math

import nbformat
import pytest

from jupyter_container_kernels.batch.parameter_input import read_defaults
from jupyter_container_kernels.batch.parameters import (
    INJECTED_TAG,
    check_parameters,
    check_sweep,
    expand,
    inject,
)
from jupyter_container_kernels.errors import SpecError


def notebook(*cells: tuple[str, list[str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src, metadata={"tags": tags}) for src, tags in cells]
    return nb


def run_cells(nb: nbformat.NotebookNode) -> dict:
    namespace: dict = {}
    for cell in nb.cells:
        exec(cell.source, namespace)
    namespace.pop("__builtins__")
    return namespace


def test_the_injected_cell_follows_the_parameters_cell_and_wins():
    nb = notebook(("import os", []), ("lr = 0.1\nname = 'a'", ["parameters"]), ("out = lr * 2", []))
    injected = inject(nb, {"lr": 0.5})
    assert [c.metadata.get("tags") for c in injected.cells] == [
        [],
        ["parameters"],
        [INJECTED_TAG],
        [],
    ]
    assert run_cells(injected)["out"] == 1.0
    assert len(nb.cells) == 3, "the original notebook is left alone"


def test_without_a_parameters_cell_the_injected_cell_goes_first():
    injected = inject(notebook(("x = y + 1", [])), {"y": 41})
    assert injected.cells[0].metadata.tags == [INJECTED_TAG]
    assert run_cells(injected)["x"] == 42


def test_an_earlier_injected_cell_is_replaced_not_stacked():
    once = inject(notebook(("a = 1", ["parameters"])), {"a": 2})
    twice = inject(once, {"a": 3})
    assert sum(INJECTED_TAG in c.metadata.get("tags", []) for c in twice.cells) == 1
    assert run_cells(twice)["a"] == 3


def test_values_arrive_as_the_same_python_values_even_when_hostile():
    values = {
        "text": "'; import os; os.system('touch /tmp/pwned'); '",
        "quotes": 'he said "hi"\n\\n',
        "unicode": "ünïcødé ✓",
        "number": 3,
        "ratio": 1e-3,
        "flag": False,
        "nothing": None,
        "nested": {"a": [1, 2.5, None, {"b": "c"}]},
    }
    assert run_cells(inject(notebook(), values)) == values


@pytest.mark.parametrize("name", ["1x", "a-b", "class", "a b", ""])
def test_names_must_be_python_identifiers(name):
    with pytest.raises(SpecError, match="not a Python variable name"):
        check_parameters({name: 1})


@pytest.mark.parametrize("value", [math.nan, math.inf, object(), {1: "a"}, b"bytes"])
def test_values_must_be_json_like(value):
    with pytest.raises(SpecError):
        check_parameters({"x": value})


def test_a_sweep_is_the_cartesian_product_combined_with_the_fixed_parameters():
    sets = expand({"epochs": 3}, check_sweep({"lr": [0.1, 0.01], "seed": [1, 2, 3]}))
    assert len(sets) == 6
    assert sets[0] == {"epochs": 3, "lr": 0.1, "seed": 1}
    assert sets[-1] == {"epochs": 3, "lr": 0.01, "seed": 3}


def test_without_a_sweep_there_is_one_set():
    assert expand({"a": 1}, {}) == [{"a": 1}]


def test_sweeps_are_validated():
    with pytest.raises(SpecError, match="non-empty list"):
        check_sweep({"lr": []})
    with pytest.raises(SpecError, match="also a fixed parameter"):
        expand({"lr": 1}, {"lr": [1, 2]})
    with pytest.raises(SpecError, match="at most 1000 tasks"):
        expand({}, {"a": list(range(50)), "b": list(range(50))})


def test_the_parameters_cell_defaults_are_readable_for_the_ui():
    nb = notebook(
        (
            "%matplotlib inline\nlr = 0.1\nname: str = 'run'\nmodel = make()\nn, m = 1, 2",
            ["parameters"],
        )
    )
    assert read_defaults(nb) == {"lr": 0.1, "name": "run"}
    assert read_defaults(notebook(("x = 1", []))) == {}
