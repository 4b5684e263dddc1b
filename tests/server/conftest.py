"""Fixtures for the REST API tests: a real jupyter_server (pytest-jupyter) with the extension on.

* ``jp_server_config``: the extension enabled, ``allow_unauthenticated_access: False`` (every
  route must authenticate on its own), Charliecloud as the default runtime, user images allowed
  only under ``allowed_image_roots`` (override that fixture to allow more), the job watcher
  polling every 0.5 s.
* ``run(awaitable)``: run it on pytest-jupyter's event loop, where the server lives. Tests are
  plain functions calling ``run`` (pytest-asyncio would run an ``async def`` test in a loop of
  its own, where the server never answers).
* ``api(method, path, body=None, **kwargs)``: a request to ``container-kernels/<path>`` with the
  server's token; returns ``(status, json)`` and never raises for HTTP errors.
* ``aapi``: the same as a coroutine function, for scenarios running inside ``run``.
* ``extension``: the running :class:`ContainerKernelsApp`.
* ``routes``: every (regex, handler class) the extension registered in the live web app.
* ``slurm_cluster`` (session): the single-node Slurm of ``tests/support/slurm.sh``.
* ``write_notebook(path, kernel, cells)``: a notebook in the server's root directory.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from tornado.httpclient import HTTPClientError
from tornado.routing import Rule
from traitlets.config import Config

from jupyter_container_kernels.server.handlers import BaseHandler

ROOT = Path(__file__).resolve().parents[2]
SLURM_SH = ROOT / "tests" / "support" / "slurm.sh"
PREFIX = "container-kernels"

Api = Callable[..., Awaitable[tuple[int, Any]]]


@pytest.fixture
def image_root(tmp_path: Path) -> Path:
    """An (empty) directory where the site allows user images."""
    path = tmp_path / "images"
    path.mkdir()
    return path


@pytest.fixture
def allowed_image_roots(image_root: Path) -> list[str]:
    return [str(image_root)]


@pytest.fixture
def jp_server_config(allowed_image_roots: list[str]) -> Config:
    return Config(
        {
            "ServerApp": {
                "jpserver_extensions": {
                    "jupyter_container_kernels": True,
                    "jupyter_server_terminals": False,
                },
                "allow_unauthenticated_access": False,
            },
            "SiteConfig": {
                "default_runtime": "charliecloud",
                "allowed_image_roots": allowed_image_roots,
            },
            "BatchService": {"poll_interval": 0.5, "max_poll_interval": 2.0},
        }
    )


@pytest.fixture
def started(jp_serverapp: Any, jp_asyncio_loop: Any) -> Any:
    """``jp_serverapp`` after the hook ``ServerApp.start()`` runs once its loop turns
    (``_post_start`` -> each extension's ``_start_jupyter_server_extension``), which
    pytest-jupyter, serving from the test's loop, never calls."""
    jp_asyncio_loop.run_until_complete(jp_serverapp._post_start())
    return jp_serverapp


@pytest.fixture
def extension(started: Any) -> Any:
    """The ContainerKernelsApp running inside ``jp_serverapp``."""
    return started.extension_manager.extension_points["jupyter_container_kernels"].app


@pytest.fixture
def run(jp_asyncio_loop: Any) -> Callable[[Awaitable[Any]], Any]:
    return jp_asyncio_loop.run_until_complete


@pytest.fixture
def aapi(started: Any, jp_fetch: Callable[..., Awaitable[Any]]) -> Api:
    async def call(method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        if body is None and method in ("POST", "PATCH", "PUT"):
            body = ""
        try:
            response = await jp_fetch(
                PREFIX,
                *path.split("/"),
                method=method,
                body=body,
                allow_nonstandard_methods=True,
                **kwargs,
            )
        except HTTPClientError as err:
            assert err.response is not None, err
            response = err.response
        text = response.body.decode() if response.body else ""
        try:
            return response.code, (json.loads(text) if text else None)
        except ValueError:  # not one of ours (e.g. tornado's 404 page)
            return response.code, text

    return call


@pytest.fixture
def api(aapi: Api, run: Callable[[Awaitable[Any]], Any]) -> Callable[..., tuple[int, Any]]:
    return lambda *args, **kwargs: run(aapi(*args, **kwargs))


def _walk(rules: list[Any]) -> Iterator[tuple[str, type]]:
    for rule in rules:
        target = rule.target if isinstance(rule, Rule) else None
        if target is not None and hasattr(target, "rules"):
            yield from _walk(target.rules)
        elif isinstance(target, type):
            yield rule.matcher.regex.pattern, target


@pytest.fixture
def routes(jp_serverapp: Any) -> list[tuple[str, type[BaseHandler]]]:
    """Every route of this extension in the live web app (found by handler class)."""
    found = {
        (pattern, handler)
        for pattern, handler in _walk(jp_serverapp.web_app.default_router.rules)
        if issubclass(handler, BaseHandler)
    }
    assert found, "the extension registered no routes"
    return sorted(found, key=lambda r: r[0])


@pytest.fixture
def write_notebook(jp_root_dir: Path) -> Callable[..., Path]:
    """``write(path, kernel, cells)``: code cells (a str, or (source, tags)) in a notebook."""

    def write(path: str, kernel: str = "python3", cells: list[Any] = ()) -> Path:  # type: ignore[assignment]
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": kernel, "display_name": kernel, "language": "python"}
        for cell in cells:
            source, tags = (cell, []) if isinstance(cell, str) else cell
            nb.cells.append(
                nbformat.v4.new_code_cell(source, metadata={"tags": tags} if tags else {})
            )
        target = jp_root_dir / path
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, target)
        return target

    return write
