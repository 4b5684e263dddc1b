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
import time
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
    def from_json(cls, data: Any) -> JobRecord:
        """A record from its JSON form; TypeError for anything that is not one."""
        if not isinstance(data, dict) or not all(
            isinstance(t, dict) for t in data.get("tasks", ())
        ):
            raise TypeError(f"expected a job record (a JSON object), got {type(data).__name__}")
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

    #: Nanoseconds within which an mtime may still change without showing it (file systems
    #: with coarse timestamps: 1 s on some NFS servers, 2 s on FAT; plus clock skew to an NFS
    #: server). A directory or record whose mtime is this recent is looked at again next time.
    RACY_NS = 3_000_000_000

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._records: dict[str, JobRecord] = {}
        #: file name -> (inode, size, mtime_ns) when read; absent: read it again next time.
        self._seen: dict[str, tuple[int, int, int]] = {}
        #: the directory's mtime_ns at the last scan, once it is old enough to be trusted.
        self._dir_mtime: int | None = None
        self.scans = 0  # directory listings made (a reload with nothing changed makes none)
        self.reload()

    def reload(self) -> None:
        """Pick up records written by another process (the CLI).

        Cheap when nothing changed: one ``stat`` of the directory (every save renames a file
        into it, which changes its mtime). That shortcut is only taken once the directory's
        mtime is older than :attr:`RACY_NS`: a second write within the same mtime tick (coarse
        NFS timestamps) leaves the mtime as it was, so a recent directory is listed again, and
        a record whose file is recent, or whose inode, size or mtime differ, is read again.
        """
        try:
            st = self.directory.stat()
            if st.st_mtime_ns == self._dir_mtime:
                return
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return
        self.scans += 1
        now = time.time_ns()
        self._dir_mtime = st.st_mtime_ns if now - st.st_mtime_ns > self.RACY_NS else None
        for entry in entries:
            if not entry.name.endswith(".json") or entry.name.startswith("."):
                continue
            try:
                fst = entry.stat()
            except FileNotFoundError:
                continue
            key = (fst.st_ino, fst.st_size, fst.st_mtime_ns)
            if self._seen.get(entry.name) == key:
                continue
            try:
                record = JobRecord.from_json(json.loads(Path(entry.path).read_text("utf-8")))
            except (OSError, ValueError, TypeError) as exc:
                # Said once per version of the file, not on every rescan.
                log.warning("Skipping unreadable job record %s: %s", entry.path, exc)
                self._remember(entry.name, key, now)
                continue
            self._remember(entry.name, key, now)
            self._records[record.id] = record

    def _remember(self, name: str, key: tuple[int, int, int], now: int) -> None:
        if now - key[2] > self.RACY_NS:
            self._seen[name] = key
        else:  # may still change within its mtime tick: read it again next time
            self._seen.pop(name, None)

    def save(self, record: JobRecord) -> None:
        """Write ``record`` atomically and keep it in memory.

        A record another process has meanwhile written in a terminal state (the CLI cancelled
        the job, its watcher saw it end) is not overwritten by one that is not: that one is
        kept, here too.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{record.id}.json"
        if not record.terminal:
            theirs = self._changed_on_disk(path)
            if theirs is not None and theirs.terminal:
                self._records[record.id] = theirs
                return
        tmp = self.directory / f".{record.id}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(record.to_json(), indent=1), encoding="utf-8")
        os.replace(tmp, path)
        st = path.stat()
        self._remember(path.name, (st.st_ino, st.st_size, st.st_mtime_ns), time.time_ns())
        self._records[record.id] = record

    def _changed_on_disk(self, path: Path) -> JobRecord | None:
        """The record at ``path`` if another process wrote it since we last read it."""
        try:
            st = path.stat()
            if self._seen.get(path.name) == (st.st_ino, st.st_size, st.st_mtime_ns):
                return None
            return JobRecord.from_json(json.loads(path.read_text("utf-8")))
        except (OSError, ValueError, TypeError):
            return None

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
