"""What every ``jupyter container-kernels`` verb shares: one base class, one error boundary.

Exit codes: 0 success, 1 error (one ``Error: …`` line on stderr, no traceback), 2 usage
(unknown flag, a bad or empty flag value, the wrong number of arguments).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, ClassVar, NoReturn

from jupyter_core.application import JupyterApp
from traitlets import Bool, HasTraits, TraitError, Unicode
from traitlets.config import Application
from traitlets.config.loader import ArgumentError

from .. import __version__
from ..errors import ContainerKernelError
from ..site import SiteConfig, load_site_config


def run_reporting_errors(app: Application, work: Callable[[], None]) -> None:
    """Run a verb's ``work``: an error this package raises, or a file this user cannot read or
    write, becomes one ``Error: …`` line on stderr and exit status 1 (never a traceback)."""
    try:
        work()
    except ContainerKernelError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        app.exit(1)
    except OSError as exc:
        where = f" {exc.filename}:" if exc.filename else ""
        print(f"Error:{where} {exc.strerror or exc}.", file=sys.stderr)
        app.exit(1)


class Text(Unicode):  # type: ignore[type-arg]
    """A flag's text value: given explicitly, it may not be empty or blank (``--name ''`` is
    a usage error, never a silent fall-back to the default). Tag ``flag`` where the flag's
    name is not the trait's."""

    def __init__(self, default_value: str | None = None, **kwargs: Any) -> None:
        # Unset is None, so a default never meets the check below.
        super().__init__(default_value, allow_none=True, **kwargs)

    def validate(self, obj: Any, value: Any) -> str:
        value = super().validate(obj, value)
        if not value.strip():
            flag = self.metadata.get("flag") or (self.name or "value").replace("_", "-")
            raise TraitError(
                f"--{flag} was given an empty value; give a value or leave the flag out"
            )
        return value


#: Verbs that print machine-readable output take ``--json``.
JSON_FLAG: dict[str, Any] = {"json": ({"Verb": {"json": True}}, "Print JSON instead of text.")}


class Verb(JupyterApp):
    """The base of every verb: usage checks, the site config, ``--json``, the error boundary.

    A verb sets :attr:`positional` and implements :meth:`run`; :meth:`start` reports its
    errors through :func:`run_reporting_errors`.
    """

    version = __version__
    classes: ClassVar[list[type]] = [SiteConfig]
    #: Number of positional arguments: (min, max).
    positional: ClassVar[tuple[int, int]] = (0, 0)
    usage_args = ""

    json = Bool(False, config=True, help="Print JSON (the REST API's shapes) instead of text.")

    def parse_command_line(self, argv: Any = None) -> None:
        # traitlets (5.x: checked by tests/registry/test_cli.py) wraps parse_command_line in
        # catch_config_error, which logs a bad value and exits 1; a usage error here exits 2
        # with the flag named, so the undecorated method is called.
        try:
            Application.parse_command_line.__wrapped__(self, argv)  # type: ignore[attr-defined]
        except (ArgumentError, TraitError) as exc:
            self.usage_error(str(exc))
        low, high = self.positional
        if not low <= len(self.extra_args) <= high:
            want = self.usage_args or "no arguments"
            self.usage_error(f"expected {want}, got {self.extra_args or 'none'}")

    def usage_error(self, message: str) -> NoReturn:
        verb = self.name.rsplit("-", 1)[-1]
        message = message.rstrip(".")
        print(f"Error: {message}. See `jupyter container-kernels {verb} --help`.", file=sys.stderr)
        self.exit(2)
        raise SystemExit(2)  # for type checkers; exit() raises

    def site(self) -> SiteConfig:
        return load_site_config(parent=self)

    #: The verb's work, defined by every subcommand; :meth:`start` reports its errors.
    run: Callable[[], None]

    def start(self) -> None:
        run_reporting_errors(self, self.run)

    def emit(self, data: Any) -> None:
        print(json.dumps(data, indent=1))


class SlurmResourceOptions(HasTraits):
    """The Slurm resource flags ``submit``/``export`` and ``install`` (node kernels) share, by
    sbatch's own long names; checked by :class:`~..batch.resources.Resources`, not here."""

    partition = Text(config=True, help="--partition: partition(s), e.g. gpu.")
    account = Text(config=True, help="--account to charge.")
    qos = Text(config=True, help="--qos: quality of service.")
    reservation = Text(config=True, help="--reservation to run in.")
    time = Text(config=True, help="--time limit, e.g. 1:30:00 or 2-00:00:00.")
    cpus_per_task = Text(config=True, help="--cpus-per-task.")
    mem = Text(config=True, help="--mem per node, e.g. 16G.")
    gpus = Text(config=True, help="--gpus: GPU count, [type:]count.")
    gres = Text(config=True, help="--gres: generic resources, e.g. gpu:1.")
