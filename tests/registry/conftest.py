"""Fixtures of the registry tests: temporary Jupyter paths (pytest-jupyter's ``jp_environ``,
which also redirects the sys-prefix and system data directories in this process) and a site
config that runs the Charliecloud test images and allows user images only beside them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jupyter_container_kernels.site import SiteConfig


@pytest.fixture(autouse=True)
def registry_env(jp_environ: None, monkeypatch: pytest.MonkeyPatch) -> None:
    if not os.environ.get("USER"):  # ch-run refuses to start without it
        import pwd

        monkeypatch.setenv("USER", pwd.getpwuid(os.getuid()).pw_name)


@pytest.fixture
def image_root(test_image: str) -> str:
    """The directory holding the test images: the only allowed root for user images."""
    return os.path.dirname(test_image)


@pytest.fixture
def site(image_root: str) -> SiteConfig:
    return SiteConfig(default_runtime="charliecloud", allowed_image_roots=[image_root])


@pytest.fixture
def outside_image(tmp_path: Path) -> str:
    """An image file outside the allowed roots (never run: tests using it do not probe)."""
    path = tmp_path / "elsewhere" / "tool.sif"
    path.parent.mkdir()
    path.write_bytes(b"not really an image")
    return str(path)
