"""The two places this package leans on another library's internals, pinned so that an upgrade
that changes them fails here, by name, instead of as a subtle misbehaviour.

* traitlets: ``Application.parse_command_line`` is wrapped by ``catch_config_error`` (which
  exits 1 on a bad value); the CLI calls the undecorated method to exit 2 with the flag named.
* nbclient: ``async_setup_kernel`` installs its SIGINT/SIGTERM handlers before it calls
  ``async_start_new_kernel`` (where the batch executor puts its own back on top), and registers
  ``_cleanup_kernel`` with atexit (which the executor unregisters after its own clean-up).
"""

from __future__ import annotations

import inspect

from nbclient import NotebookClient
from traitlets.config import Application


def test_traitlets_parse_command_line_still_wraps_the_undecorated_method() -> None:
    wrapped = getattr(Application.parse_command_line, "__wrapped__", None)
    assert wrapped is not None, (
        "traitlets no longer wraps Application.parse_command_line with catch_config_error; "
        "update jupyter_container_kernels/cli/base.py Verb.parse_command_line"
    )
    assert "argv" in inspect.signature(wrapped).parameters


def test_nbclient_installs_its_signal_handlers_before_starting_the_kernel() -> None:
    source = inspect.getsource(NotebookClient.async_setup_kernel)
    handlers = source.find("add_signal_handler(signal.SIGTERM")
    start = source.find("self.async_start_new_kernel(")
    assert 0 <= handlers < start, (
        "nbclient changed the order of signal handlers and kernel start in async_setup_kernel; "
        "update jupyter_container_kernels/batch/execute.py (_Client, _Stop)"
    )
    assert "atexit.register(self._cleanup_kernel)" in source
    assert callable(getattr(NotebookClient, "_cleanup_kernel", None))
