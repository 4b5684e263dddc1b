"""Where notebooks and output directories are, for the CLI and the REST API alike.

:class:`RootDirectory` is the one place a user-given path becomes a real path. Relative paths
are relative to its root (the server's root, the CLI's working directory). A *confined* root (the
REST API) is stricter than Jupyter's contents manager, which follows symlinks out of its root
on purpose: a batch job runs a notebook unattended on a compute node, so the path must be
relative, without ``..``, not hidden (unless the contents manager allows it), and its real path
(symlinks resolved) must stay inside the real root. An unconfined root (the CLI, run by the user
as themself) also takes absolute and ``~`` paths.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import NotFoundError, PolicyError, SpecError


@dataclass(frozen=True)
class RootDirectory:
    """A root for user-given paths; ``confined`` keeps them inside it (see module doc)."""

    root_dir: str
    confined: bool = True
    #: Whether hidden files and folders may be used (the contents manager's ``allow_hidden``).
    allow_hidden: bool = False

    @functools.cached_property
    def real_root(self) -> Path:
        """The root with symlinks resolved (once: every REST answer shows paths through it)."""
        return Path(os.path.realpath(self.root_dir))

    def resolve_notebook(self, path: object, field: str = "notebook") -> Path:
        """The real absolute path of the notebook at server-relative ``path``.

        Raises :class:`SpecError` (400) for absolute paths, ``..``, empty or non-notebook paths,
        :class:`PolicyError` (403) for hidden paths (unless the contents manager allows them) and
        symlinks leading outside the root, :class:`NotFoundError` (404) when nothing is there.
        """
        real = self._inside(path, field)
        if real.suffix != ".ipynb" or (real.exists() and not real.is_file()):
            raise SpecError(field, f"{path!r} is not a notebook (.ipynb file).")
        if not real.exists():
            if self.confined:
                raise NotFoundError(
                    f"{field}: no notebook {path!r} in the server's root directory; give its "
                    "path as shown in the file browser."
                )
            raise NotFoundError(f"{field}: the notebook {path!r} does not exist ({real}).")
        return real

    def resolve_directory(self, path: object, field: str) -> Path:
        """The real absolute path of server-relative directory ``path`` (which may not exist
        yet), with the same refusals as :meth:`resolve_notebook`."""
        real = self._inside(path, field)
        if real.exists() and not real.is_dir():
            raise SpecError(field, f"{path!r} is a file, not a directory.")
        return real

    def _inside(self, path: object, field: str) -> Path:
        if not self.confined:
            if not isinstance(path, str) or not path.strip() or "\x00" in path:
                raise SpecError(field, f"expected a path, got {path!r}.")
            return Path(os.path.realpath(self.real_root / os.path.expanduser(path)))
        rel = self._relative(path, field)
        real = Path(os.path.realpath(self.real_root.joinpath(*rel.parts)))
        if not real.is_relative_to(self.real_root):
            raise PolicyError(
                f"{field}: {path!r} leads outside the server's root directory (through a symlink, "
                f"to {str(real)!r}); copy what you need into {self.root_dir!r} instead."
            )
        return real

    def display(self, path: str | os.PathLike[str] | None) -> str | None:
        """``path`` relative to the root when inside it, else unchanged (e.g. a notebook the CLI
        submitted from elsewhere): how paths are shown to users and in REST answers."""
        if path is None:
            return None
        # Stored paths are real already (resolved on the way in): no realpath on this hot path.
        for candidate in (Path(path), Path(os.path.realpath(path))):
            if candidate.is_absolute() and candidate.is_relative_to(self.real_root):
                return candidate.relative_to(self.real_root).as_posix()
        return os.fspath(path)

    def _relative(self, path: object, field: str) -> PurePosixPath:
        if not isinstance(path, str) or not path.strip():
            raise SpecError(
                field, f"expected a notebook path relative to the server root, got {path!r}."
            )
        if "\x00" in path or "\\" in path:
            raise SpecError(
                field, f"{path!r} contains a NUL or backslash; use '/' between folders."
            )
        if path.startswith("/") or os.path.isabs(path):
            raise SpecError(
                field,
                f"{path!r} is absolute; give the path relative to the server's root directory, as "
                "in the file browser (e.g. project/analysis.ipynb).",
            )
        rel = PurePosixPath(path)
        if ".." in rel.parts:
            raise SpecError(
                field,
                f"{path!r} contains '..'; notebooks must be inside the server's root directory.",
            )
        if not self.allow_hidden and any(part.startswith(".") for part in rel.parts):
            raise PolicyError(
                f"{field}: {path!r} is a hidden file or inside a hidden folder, which this server "
                "does not serve (ContentsManager.allow_hidden is false)."
            )
        return rel
