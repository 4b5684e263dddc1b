"""The places this package leans on another library's internals, pinned so that an upgrade
that changes them fails here, by name, instead of as a subtle misbehaviour.

* traitlets: ``Application.parse_command_line`` is wrapped by ``catch_config_error`` (which
  exits 1 on a bad value); the CLI calls the undecorated method to exit 2 with the flag named.
* nbclient: ``async_setup_kernel`` installs its SIGINT/SIGTERM handlers before it calls
  ``async_start_new_kernel`` (where the batch executor puts its own back on top), and registers
  ``_cleanup_kernel`` with atexit (which the executor unregisters after its own clean-up).
* jupyter_client: a node kernel whose allocation ended sets ``restart_limit = 0`` on the kernel
  manager's ``_restarter``, so the restarter's next poll reports the kernel dead instead of
  restarting it (queueing jobs in a loop); and ``is_alive`` asks the provisioner's ``poll``
  only while ``has_kernel`` (the provisioner's ``has_process``) is true.
* jupyter_client: ``MultiKernelManager`` shutdown of a kernel still in ``_pending_kernels``
  waits for its start, and ``shutdown_all`` shuts down every id in ``_pending_kernels`` (where
  failed starts stay) through ``self._async_shutdown_kernel``; the server extension wraps that
  method on the instance (``server/app.py`` ``_guard_shutdown``).
"""

from __future__ import annotations

import inspect

from jupyter_client.ioloop import AsyncIOLoopKernelManager
from jupyter_client.ioloop.restarter import AsyncIOLoopKernelRestarter
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.multikernelmanager import MultiKernelManager
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


def test_the_restarter_reports_dead_once_its_limit_is_zero() -> None:
    source = inspect.getsource(AsyncIOLoopKernelRestarter.poll)
    assert "self._restart_count > self.restart_limit" in source, (
        "jupyter_client's restarter no longer compares its count with restart_limit; update "
        "jupyter_container_kernels/nodes/provisioner.py NodeKernelProvisioner._allocation_ended"
    )
    assert '_fire_callbacks("dead")' in source
    assert "_restarter" in inspect.getsource(AsyncIOLoopKernelManager.start_restarter)
    alive = inspect.getsource(AsyncKernelManager._async_is_alive)
    assert "has_kernel" in alive and "provisioner.poll()" in alive


def test_shutting_down_a_pending_kernel_waits_for_its_start() -> None:
    source = inspect.getsource(MultiKernelManager._async_shutdown_kernel)
    assert "_pending_kernels" in source and "await" in source, (
        "jupyter_client changed how a kernel still starting is shut down; review "
        "jupyter_container_kernels/server/app.py _guard_shutdown"
    )
    every = inspect.getsource(MultiKernelManager._async_shutdown_all)
    assert "_pending_kernels" in every and "self._async_shutdown_kernel(" in every, (
        "jupyter_client's shutdown_all no longer goes through self._async_shutdown_kernel; "
        "review jupyter_container_kernels/server/app.py _guard_shutdown"
    )
