"""Job records and their store: one JSON file per job, written atomically, cached in memory.

:class:`JobStore` keeps the records of one user in a directory (``{jupyter_data_dir}/
container-kernels/jobs`` by default). Readers (REST handlers, the CLI) read the memory copy and
never trigger a scheduler query; :mod:`.watcher` updates the records from Slurm.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import NotFoundError
from .states import TERMINAL

log = logging.getLogger(__name__)


@dataclass
class TaskRecord:
    """One array task."""

    index: int
    state: str = "PENDING"
    reason: str | None = None
    exit_code: int | None = None
    started: str | None = None
    ended: str | None = None
    output_notebook: str | None = None
    log_path: str | None = None


@dataclass
class JobRecord:
    """What we know about one submitted job. Paths are absolute; ``api()`` makes them relative."""

    id: str
    name: str
    notebook: str
    kernel: str
    mode: str
    output_dir: str
    script_path: str
    log_path: str
    output_notebooks: list[str] = field(default_factory=list)
    state: str = "PENDING"
    reason: str | None = None
    exit_code: int | None = None
    submitted: str | None = None
    started: str | None = None
    ended: str | None = None
    array_size: int | None = None
    tasks: list[TaskRecord] = field(default_factory=list)
    template: str = "none"
    parameters: list[dict[str, Any]] = field(default_factory=list)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobRecord:
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["tasks"] = [TaskRecord(**t) for t in data.get("tasks", ())]
        return cls(**data)

    def api(self, display: Callable[[str], str | None] = str) -> dict[str, Any]:
        """The REST ``Job`` shape, paths shown through ``display`` (e.g.
        :meth:`..paths.RootDirectory.display`: relative to the root when inside it)."""

        def rel(path: str | None) -> str | None:
            return display(path) if path else path

        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "reason": self.reason,
            "exit_code": self.exit_code,
            "submitted": self.submitted,
            "started": self.started,
            "ended": self.ended,
            "notebook": rel(self.notebook),
            "kernel": self.kernel,
            "mode": self.mode,
            "output_notebooks": [rel(p) for p in self.output_notebooks],
            "log_path": rel(self.log_path),
            "script_path": rel(self.script_path),
            "array_size": self.array_size,
            "tasks": [
                {
                    "index": t.index,
                    "state": t.state,
                    "reason": t.reason,
                    "exit_code": t.exit_code,
                    "output_notebook": rel(t.output_notebook),
                    "log_path": rel(t.log_path),
                }
                for t in self.tasks
            ],
        }


class JobStore:
    """The job records of one user: a directory of ``<id>.json`` files, cached in memory."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._records: dict[str, JobRecord] = {}
        self._seen: dict[str, int] = {}  # file name -> mtime_ns when read
        self._dir_mtime: int | None = None
        self.reload()

    def reload(self) -> None:
        """Pick up records written by another process (the CLI): one ``stat`` when nothing
        changed (every save renames a file into the directory, which changes its mtime)."""
        try:
            mtime = self.directory.stat().st_mtime_ns
            if mtime == self._dir_mtime:
                return
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return
        self._dir_mtime = mtime
        for entry in entries:
            if not entry.name.endswith(".json") or entry.name.startswith("."):
                continue
            mtime = entry.stat().st_mtime_ns
            if self._seen.get(entry.name) == mtime:
                continue
            try:
                record = JobRecord.from_json(json.loads(Path(entry.path).read_text("utf-8")))
            except (OSError, ValueError, TypeError) as exc:
                log.warning("Skipping unreadable job record %s: %s", entry.path, exc)
                continue
            self._seen[entry.name] = mtime
            self._records[record.id] = record

    def save(self, record: JobRecord) -> None:
        """Write ``record`` atomically and keep it in memory."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{record.id}.json"
        tmp = self.directory / f".{record.id}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(record.to_json(), indent=1), encoding="utf-8")
        os.replace(tmp, path)
        self._seen[path.name] = path.stat().st_mtime_ns
        self._records[record.id] = record

    def get(self, job_id: str) -> JobRecord:
        try:
            return self._records[job_id]
        except KeyError:
            raise NotFoundError(
                f"No job {job_id!r} is tracked here; `jupyter container-kernels jobs` lists them."
            ) from None

    def list(self) -> list[JobRecord]:
        """Newest first."""
        return sorted(self._records.values(), key=lambda r: _id_number(r.id), reverse=True)

    def active(self) -> list[JobRecord]:
        return [r for r in self._records.values() if not r.terminal]


def _id_number(job_id: str) -> int:
    head = job_id.split("_")[0]
    return int(head) if head.isdigit() else 0


def now_iso() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")
