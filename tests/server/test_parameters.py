"""The batch dialog's parameters come from the server: ``POST batch/parameters`` reads the
notebook's ``parameters`` cell, ``POST batch/values`` reads what the user typed into the fields.
One Python reader (``batch/parameters.py``) serves both, the CLI and the injection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

CELL = """%matplotlib inline
import os
lr: float = 0.1  # learning rate
optimizer = 'adam'
layers = [
    64,
    32,
]
model = make_model()
n, m = 1, 2
lr = 0.05
shape = (3, 4)
flags = {1, 2}
"""


def test_the_parameters_cell_is_read_with_literals_annotations_and_comments(
    api: Any, write_notebook: Any
) -> None:
    write_notebook("work/train.ipynb", cells=["print('setup')", (CELL, ["parameters"])])

    status, body = api("POST", "batch/parameters", {"notebook": "work/train.ipynb"})

    assert status == 200, body
    assert body["has_parameters_cell"] is True
    assert body["parameters"] == [
        {"name": "optimizer", "value": "adam", "literal": "'adam'", "annotation": None,
         "comment": None},
        {"name": "layers", "value": [64, 32], "literal": "[\n    64,\n    32,\n]",
         "annotation": None, "comment": None},
        # A later assignment wins and moves the name to its place, as Python runs it.
        {"name": "lr", "value": 0.05, "literal": "0.05", "annotation": None, "comment": None},
        {"name": "shape", "value": [3, 4], "literal": "(3, 4)", "annotation": None,
         "comment": None},
    ]  # fmt: skip
    skipped = {s["line"]: (s["text"], s["reason"]) for s in body["skipped"]}
    assert sorted(skipped) == [1, 2, 9, 10, 13]
    assert "magic" in skipped[1][1]
    assert skipped[2][0] == "import os"
    assert "not a literal" in skipped[9][1]
    assert "not a JSON value" in skipped[13][1]


def test_an_annotation_and_a_comment_are_kept(api: Any, write_notebook: Any) -> None:
    write_notebook("nb.ipynb", cells=[("epochs: int = 10  # passes over the data", ["parameters"])])
    status, body = api("POST", "batch/parameters", {"notebook": "nb.ipynb"})
    assert status == 200, body
    assert body["parameters"] == [
        {"name": "epochs", "value": 10, "literal": "10", "annotation": "int",
         "comment": "passes over the data"}
    ]  # fmt: skip


def test_a_notebook_without_a_parameters_cell_has_none(api: Any, write_notebook: Any) -> None:
    write_notebook("plain.ipynb", cells=["x = 1"])
    status, body = api("POST", "batch/parameters", {"notebook": "plain.ipynb"})
    assert status == 200, body
    assert body == {"has_parameters_cell": False, "parameters": [], "skipped": []}


def test_a_cell_that_is_not_python_has_no_parameters_and_says_why(
    api: Any, write_notebook: Any
) -> None:
    write_notebook("broken.ipynb", cells=[("x = 1\ny = (", ["parameters"])])
    status, body = api("POST", "batch/parameters", {"notebook": "broken.ipynb"})
    assert status == 200, body
    assert body["parameters"] == []
    assert "not valid Python" in body["skipped"][0]["reason"]


@pytest.mark.parametrize(
    ("notebook", "status", "words"),
    [
        ("missing.ipynb", 404, "no notebook"),
        ("/etc/passwd", 400, "absolute"),
        ("../outside.ipynb", 400, ".."),
        (".hidden/nb.ipynb", 403, "hidden"),
        ("data.txt", 400, "not a notebook"),
        ("", 400, "notebook"),
        (7, 400, "notebook"),
    ],
)
def test_paths_are_confined_like_every_batch_path(
    api: Any, jp_root_dir: Path, notebook: Any, status: int, words: str
) -> None:
    (jp_root_dir / "data.txt").write_text("not a notebook")
    code, body = api("POST", "batch/parameters", {"notebook": notebook})
    assert code == status, body
    assert words in body["message"]


def test_a_symlink_out_of_the_root_is_refused(
    api: Any, jp_root_dir: Path, tmp_path: Path, write_notebook: Any
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.ipynb").write_text("{}")
    (jp_root_dir / "link").symlink_to(outside)
    code, body = api("POST", "batch/parameters", {"notebook": "link/secret.ipynb"})
    assert code == 403, body
    assert "outside" in body["message"]


def test_an_unreadable_notebook_is_invalid_input(api: Any, jp_root_dir: Path) -> None:
    (jp_root_dir / "junk.ipynb").write_text("{not json")
    code, body = api("POST", "batch/parameters", {"notebook": "junk.ipynb"})
    assert code == 400, body
    assert "junk.ipynb" in body["message"]


@pytest.mark.parametrize(
    "body",
    [{}, {"notebook": "a.ipynb", "extra": 1}, "not json", [1]],
)
def test_bad_bodies_are_400(api: Any, body: Any) -> None:
    code, answer = api("POST", "batch/parameters", body)
    assert code == 400, answer


def test_typed_fields_become_the_values_a_submit_sends(api: Any) -> None:
    status, body = api(
        "POST",
        "batch/values",
        {
            "parameters": {
                "optimizer": "adam",
                "quoted": "'a b'",
                "path": "data/train.csv",
                "epochs": " 10 ",
                "flag": "True",
                "nothing": "None",
                "layers": "[64, (1, 2)]",
                "config": "{'depth': 2}",
            },
            "sweep": {"lr": "0.1, 0.01, 1e-3", "name": "adam, 'sgd,momentum', [1, 2]"},
        },
    )
    assert status == 200, body
    assert body == {
        "parameters": {
            "optimizer": "adam",
            "quoted": "a b",
            "path": "data/train.csv",
            "epochs": 10,
            "flag": True,
            "nothing": None,
            "layers": [64, [1, 2]],
            "config": {"depth": 2},
        },
        "sweep": {"lr": [0.1, 0.01, 0.001], "name": ["adam", "sgd,momentum", [1, 2]]},
    }


def test_no_fields_is_no_values(api: Any) -> None:
    assert api("POST", "batch/values", {}) == (200, {"parameters": {}, "sweep": {}})


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"parameters": {"lr": "[0.1,"}}, "parameters.lr: '[0.1,' is not a value"),
        ({"parameters": {"lr": "'open"}}, "parameters.lr"),
        ({"parameters": {"lr": "   "}}, "parameters.lr: no value given"),
        ({"parameters": {"lr": "{1, 2}"}}, "not a JSON value"),
        ({"parameters": {"lr": 0.1}}, "expected the text"),
        ({"parameters": {"class": "1"}}, "not a Python variable name"),
        ({"parameters": "lr=1"}, "expected an object"),
        ({"sweep": {"lr": " , "}}, "sweep.lr: give at least one value"),
        ({"sweep": {"lr": "1, 2, 1"}}, "listed twice"),
        ({"sweep": {"lr": "1, [2"}}, "sweep.lr[1]"),
        ({"values": {}}, "unknown field"),
    ],
)
def test_a_bad_field_is_400_naming_it(api: Any, body: Any, words: str) -> None:
    code, answer = api("POST", "batch/values", body)
    assert code == 400, answer
    assert words in answer["message"]


def test_1_and_true_are_distinct_sweep_values(api: Any) -> None:
    code, body = api("POST", "batch/values", {"sweep": {"x": "1, 1.0, True"}})
    assert code == 200, body
    assert body["sweep"] == {"x": [1, 1.0, True]}


@pytest.mark.parametrize("path", ["batch/parameters", "batch/values"])
def test_both_need_an_authenticated_user(aapi: Any, run: Any, path: str) -> None:
    code, _ = run(aapi("POST", path, {}, headers={"Authorization": ""}))
    assert code == 403
