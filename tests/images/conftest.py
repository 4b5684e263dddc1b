"""Registries for the pull tests (see :mod:`.registry`), started once per session.

* ``oci_registry``: a TLS registry holding ``jck/pulled:1`` (the test image plus a layer that
  adds ``/etc/jck-pulled`` and whites out ``/etc/jck-test-image``, gzipped, ~85 MB) and
  ``jck/tiny:1`` (one small layer). ``pushed`` maps each repository to its manifest digest.
* ``auth_registry``: another one that requires ``jck``/``secret`` (htpasswd), holding
  ``jck/tiny:1``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .dockersave import Entry
from .ocilayout import write
from .registry import Registry, start

TINY = [Entry("etc", kind="dir"), Entry("etc/tiny", b"tiny\n")]


@pytest.fixture(scope="session")
def tiny_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    layout = tmp_path_factory.mktemp("tiny") / "layout"
    write(layout, [("1", [TINY])], gzip_layers=True)
    return layout


@pytest.fixture(scope="session")
def oci_registry(
    test_image: str, tiny_layout: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    folder = tmp_path_factory.mktemp("registry")
    layout = folder / "layout"
    upper = [Entry("etc/jck-pulled", b"from the registry\n"), Entry("etc/.wh.jck-test-image")]
    write(layout, [("1", [Path(test_image), upper])], gzip_layers=True, gzip_level=1)
    registry = start(folder / "serve")
    try:
        registry.push(layout, "1", "jck/pulled:1")
        registry.push(tiny_layout, "1", "jck/tiny:1")
        yield registry
    finally:
        registry.stop()


@pytest.fixture(scope="session")
def auth_registry(
    tiny_layout: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    registry = start(tmp_path_factory.mktemp("auth-registry"), auth=("jck", "secret"))
    try:
        registry.push(tiny_layout, "1", "jck/tiny:1")
        yield registry
    finally:
        registry.stop()
