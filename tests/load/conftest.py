"""Load tests: many kernels at once through a real jupyter_server (``-m load`` selects them,
``-m "not load"`` leaves them out). They need the real parts, so they are ``system`` too."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "load: starts many kernels at once (tests/load; tens of seconds on 2 cores)"
    )
