"""Bad input never reaches a service and never becomes a 500: one mapping, JSON messages.

Notebook paths are relative to the server's root and stay inside it: ``..``, absolute paths,
hidden folders and symlinks leading out are refused before anything is read or submitted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from jupyter_container_kernels.errors import NotFoundError, PolicyError, SpecError
from jupyter_container_kernels.paths import RootDirectory

WRITES = ("batch/preview", "jobs")


@pytest.fixture
def outside(tmp_path: Path, write_notebook: Any) -> Path:
    """A notebook outside the server root, and a symlink to it (and to its folder) inside."""
    secret = tmp_path / "outside" / "secret.ipynb"
    secret.parent.mkdir()
    secret.write_text((write_notebook("visible.ipynb")).read_text())
    return secret


@pytest.mark.parametrize("route", WRITES)
@pytest.mark.parametrize(
    ("notebook", "status", "words"),
    [
        ("../outside/secret.ipynb", 400, "contains '..'"),
        ("sub/../../outside/secret.ipynb", 400, "contains '..'"),
        ("/etc/passwd", 400, "is absolute"),
        ("ABSOLUTE", 400, "is absolute"),
        ("link.ipynb", 403, "leads outside the server's root"),
        ("linkdir/secret.ipynb", 403, "leads outside the server's root"),
        (".hidden/nb.ipynb", 403, "hidden"),
        ("missing.ipynb", 404, "no notebook 'missing.ipynb'"),
        ("notes.txt", 400, "not a notebook"),
        ("folder", 400, "not a notebook"),
        ("nul\x00.ipynb", 400, "NUL"),
        ("", 400, "expected a notebook path"),
        (42, 400, "expected a notebook path"),
    ],
)
def test_notebook_paths_stay_inside_the_root(
    route: str,
    notebook: Any,
    status: int,
    words: str,
    outside: Path,
    jp_root_dir: Path,
    api: Any,
) -> None:
    os.symlink(outside, jp_root_dir / "link.ipynb")
    os.symlink(outside.parent, jp_root_dir / "linkdir")
    (jp_root_dir / "folder").mkdir()
    (jp_root_dir / "notes.txt").write_text("plain text")
    if notebook == "ABSOLUTE":
        notebook = str(outside)
    code, error = api("POST", route, {"notebook": notebook})
    assert code == status, error
    assert words in error["message"], error["message"]
    assert api("GET", "jobs") == (200, {"jobs": []})


def test_symlinks_inside_the_root_are_fine(jp_root_dir: Path) -> None:
    (jp_root_dir / "real").mkdir()
    (jp_root_dir / "real" / "nb.ipynb").write_text("{}")
    os.symlink(jp_root_dir / "real", jp_root_dir / "alias")
    root = RootDirectory(str(jp_root_dir))
    assert root.resolve_notebook("alias/nb.ipynb") == (jp_root_dir / "real" / "nb.ipynb").resolve()
    assert root.display(jp_root_dir / "real" / "nb.ipynb") == "real/nb.ipynb"
    assert root.display("/elsewhere/x.ipynb") == "/elsewhere/x.ipynb"


def test_output_directories_follow_the_same_rules(tmp_path: Path, jp_root_dir: Path) -> None:
    os.symlink(tmp_path, jp_root_dir / "escape")
    root = RootDirectory(str(jp_root_dir), allow_hidden=True)
    assert root.resolve_directory("new/out", "output_dir") == jp_root_dir.resolve() / "new" / "out"
    assert root.resolve_directory(".cache", "output_dir").name == ".cache"
    with pytest.raises(PolicyError, match="output_dir: 'escape/x' leads outside"):
        root.resolve_directory("escape/x", "output_dir")
    with pytest.raises(SpecError, match="output_dir: '../x' contains '..'"):
        root.resolve_directory("../x", "output_dir")
    with pytest.raises(NotFoundError):
        root.resolve_notebook("nope.ipynb")


@pytest.mark.parametrize("route", ["kernels", "images/probe", "batch/preview", "jobs"])
@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("{not json", "body: is not valid JSON"),
        ("", "body: is not valid JSON"),
        (b"\xff\xfe", "body: is not valid JSON"),
        ("[1, 2]", "body: expected a JSON object, got list"),
        ('"text"', "body: expected a JSON object, got str"),
        ('{"surprise": 1}', "surprise: unknown field"),
    ],
)
def test_malformed_bodies_are_400(route: str, body: Any, words: str, api: Any) -> None:
    status, error = api("POST", route, body)
    assert status == 400, error
    assert error["message"].startswith(words), error["message"]


def test_errors_are_json_with_a_message_and_reason(api: Any) -> None:
    status, error = api("GET", "jobs/77777")
    assert status == 404
    assert set(error) == {"message", "reason"} and error["reason"] == "Not Found"
    status, error = api("GET", "no-such-route")
    assert status == 404


def test_unsupported_verbs_are_405(api: Any) -> None:
    status, _ = api("PUT", "kernels", {})
    assert status == 405
    status, _ = api("DELETE", "environment")
    assert status == 405


def test_an_unconfined_root_takes_absolute_and_home_paths_as_the_cli_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI runs as the user: paths are relative to the working directory, or absolute."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "nb.ipynb").write_text("{}")
    root = RootDirectory(str(tmp_path / "cwd"), confined=False)
    assert root.resolve_notebook(str(tmp_path / "nb.ipynb")) == (tmp_path / "nb.ipynb").resolve()
    assert root.resolve_notebook("~/nb.ipynb") == (tmp_path / "nb.ipynb").resolve()
    assert root.resolve_notebook("../nb.ipynb") == (tmp_path / "nb.ipynb").resolve()
    with pytest.raises(NotFoundError, match="does not exist"):
        root.resolve_notebook("missing.ipynb")
