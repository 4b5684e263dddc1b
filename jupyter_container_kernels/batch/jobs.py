"""Job records on disk, and the one watcher that asks Slurm about all of them.

* :class:`JobStore`: one JSON file per job in a directory (``{jupyter_data_dir}/container-kernels/
  jobs`` by default), written atomically (temp file + rename), held in memory. Readers (REST
  handlers, the CLI) read the memory copy and never trigger a scheduler query.
* :class:`JobWatcher`: one loop for every tracked job. Each round makes **one** query for all
  jobs that are not finished: ``squeue --states=all --jobs=ID,ID,…`` (it answers for pending,
  running and recently finished jobs, with exit codes). Only ids squeue no longer knows (finished
  longer ago than Slurm's MinJobAge, e.g. after the server was down) cost a second query,
  ``sacct`` when accounting is configured; without accounting, the output notebook's own
  provenance tells how the run ended. A job neither knows about, whose outputs do not say it
  ended, stays active (a miss may be transient) and becomes ``UNKNOWN`` only after
  :attr:`JobWatcher.MISSING_ROUNDS` rounds in a row. When a round changes nothing the interval
  grows (x1.5 up to ``max_interval``); a submit or cancel resets it. With no unfinished jobs it sleeps until
  woken or for ``max_interval`` (then it only rescans the directory for records the CLI wrote).
  Slurm being unreachable is logged and retried at the longest interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ContainerKernelError, NotFoundError
from .slurm import JobState, Slurm

#: States after which Slurm will not change the job any more.
TERMINAL = frozenset(
    {
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "TIMEOUT",
        "OUT_OF_MEMORY",
        "NODE_FAIL",
        "BOOT_FAIL",
        "DEADLINE",
        "PREEMPTED",
        "REVOKED",
        "SPECIAL_EXIT",
        "UNKNOWN",
    }
)
#: How an array's state is summed up once every task has ended: the first that occurs.
_WORST = (
    "NODE_FAIL",
    "BOOT_FAIL",
    "OUT_OF_MEMORY",
    "TIMEOUT",
    "DEADLINE",
    "FAILED",
    "PREEMPTED",
    "CANCELLED",
    "UNKNOWN",
)

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

    def api(self, root_dir: str | None = None) -> dict[str, Any]:
        """The REST ``Job`` shape; paths relative to ``root_dir`` when inside it."""

        def rel(path: str | None) -> str | None:
            return _relative(path, root_dir) if path else path

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


class JobWatcher:
    """Polls Slurm for every unfinished job with one query per round (see module doc)."""

    #: Rounds in a row a job may be unknown to Slurm, with outputs that do not say how it ended,
    #: before it is concluded ``UNKNOWN``.
    MISSING_ROUNDS = 5

    def __init__(
        self, store: JobStore, slurm: Slurm, *, interval: float = 2.0, max_interval: float = 30.0
    ) -> None:
        self.store = store
        self.slurm = slurm
        self.interval = interval
        self.max_interval = max_interval
        self.rounds = 0
        self.last_error: str | None = None
        #: job id -> rounds in a row Slurm did not know it.
        self.missing: dict[str, int] = {}
        self._delay = interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop on the running event loop (idempotent)."""
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()  # bound to this loop (tests and the CLI run several)
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Poll soon at the base interval (after a submit or a cancel)."""
        self._delay = self.interval
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            changed = False
            try:
                changed = await self.poll_once()
                self.last_error = None
            except ContainerKernelError as exc:
                self.last_error = str(exc)
                log.warning("Job watcher: %s", exc)
                self._delay = self.max_interval
            except Exception:
                log.exception("Job watcher round failed")
                self._delay = self.max_interval
            if changed:
                self._delay = self.interval
            elif self.last_error is None:
                self._delay = min(self._delay * 1.5, self.max_interval)
            # Idle (nothing unfinished): no Slurm query, but look for records the CLI wrote.
            timeout = self._delay if self.store.active() else self.max_interval
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def poll_once(self) -> bool:
        """One round: update every unfinished record from Slurm. True if anything changed."""
        self.store.reload()
        active = self.store.active()
        if not active:
            return False
        self.rounds += 1
        ids = [r.id for r in active]
        states = await self.slurm.queue(ids)
        missing = [i for i in ids if i not in states]
        if missing:
            accounted = await self._accounting(missing)
            states.update(accounted)
        changed = False
        for record in active:
            if record.id in states:
                self.missing.pop(record.id, None)
                updated = apply_states(record, states[record.id])
            else:
                updated = finish_from_outputs(record)
                self.missing[record.id] = self.missing.get(record.id, 0) + 1
                if not record.terminal and self.missing[record.id] >= self.MISSING_ROUNDS:
                    updated = mark_lost(record)
                if record.terminal:
                    self.missing.pop(record.id, None)
            if updated:
                self.store.save(record)
                changed = True
        return changed

    async def _accounting(self, ids: list[str]) -> dict[str, list[JobState]]:
        if self.slurm.accounting is False:
            return {}
        try:
            return await self.slurm.accounting_states(ids) or {}
        except ContainerKernelError as exc:  # slurmdbd down: the outputs will have to tell
            log.info("sacct failed: %s", exc)
            return {}


def apply_states(record: JobRecord, states: Iterable[JobState]) -> bool:
    """Fold Slurm's answer into ``record``; True if it changed."""
    before = record.to_json()
    states = list(states)
    if record.array_size is None:
        plain = next((s for s in states if s.task is None), states[0] if states else None)
        if plain is not None:
            record.state, record.reason = plain.state, plain.reason
            record.exit_code = plain.exit_code if plain.state in TERMINAL else None
            record.submitted = _iso(plain.submitted) or record.submitted
            record.started = _iso(plain.started) if plain.state != "PENDING" else None
            record.ended = _iso(plain.ended) if plain.state in TERMINAL else None
    else:
        by_task = {s.task: s for s in states if s.task is not None}
        pending_rest = next((s for s in states if s.task is None), None)
        for task in record.tasks:
            s = by_task.get(task.index) or pending_rest
            if s is None:
                continue
            task.state, task.reason = s.state, s.reason
            task.exit_code = s.exit_code if s.state in TERMINAL else None
            task.started = _iso(s.started) if s.state != "PENDING" else None
            task.ended = _iso(s.ended) if s.state in TERMINAL else None
            if record.submitted is None:
                record.submitted = _iso(s.submitted)
        summarize_array(record)
    return record.to_json() != before


def summarize_array(record: JobRecord) -> None:
    """An array's own state from its tasks' (RUNNING while any runs; worst end state)."""
    tasks = record.tasks
    states = {t.state for t in tasks}
    if all(s in TERMINAL for s in states):
        record.state = next((w for w in _WORST if w in states), "COMPLETED")
        codes = [t.exit_code for t in tasks if t.exit_code is not None]
        record.exit_code = max(codes) if codes else None
        ends = [t.ended for t in tasks if t.ended]
        record.ended = max(ends) if ends else None
        record.reason = next((t.reason for t in tasks if t.state == record.state), None)
    else:
        record.state = "PENDING" if states <= {"PENDING"} else "RUNNING"
        record.exit_code = record.ended = None
        record.reason = next((t.reason for t in tasks if t.state == "PENDING"), None)
    starts = [t.started for t in tasks if t.started]
    record.started = min(starts) if starts else None


#: Output notebook provenance status -> the job state it proves, and the exit code.
_ENDED = {
    "completed": ("COMPLETED", 0),
    "failed": ("FAILED", 1),
    "interrupted": ("CANCELLED", None),
}
_FROM_OUTPUTS = "Slurm no longer knows this job; state read from its output notebook"
_LOST = "Slurm no longer knows this job and its outputs do not say how it ended"


def finish_from_outputs(record: JobRecord) -> bool:
    """Slurm does not know the job: conclude it (or its array tasks) from the output notebooks'
    provenance where that says the run ended; anything else is left as it is. True if changed."""
    if record.terminal:
        return False
    changed = False
    for task in record.tasks or [None]:
        path = task.output_notebook if task else (record.output_notebooks or [None])[0]
        ended = _ENDED.get(_provenance_status(path) or "")
        if ended is None or (task is not None and task.state in TERMINAL):
            continue
        target = task or record
        target.state, target.exit_code = ended
        target.reason = _FROM_OUTPUTS
        changed = True
    if record.tasks and changed:
        summarize_array(record)
    return changed


def mark_lost(record: JobRecord) -> bool:
    """The job and its unfinished tasks are ``UNKNOWN``: Slurm forgot it, its outputs are silent."""
    if record.terminal:
        return False
    for task in record.tasks:
        if task.state not in TERMINAL:
            task.state, task.reason, task.exit_code = "UNKNOWN", _LOST, None
    if record.tasks:
        summarize_array(record)
    else:
        record.state, record.reason, record.exit_code = "UNKNOWN", _LOST, None
    return True


def _provenance_status(path: str | None) -> str | None:
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            nb = json.load(f)
        return nb["metadata"]["container_kernels"]["provenance"]["status"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _iso(slurm_time: str | None) -> str | None:
    """Slurm's local ``2026-01-02T03:04:05`` as ISO 8601 with the UTC offset."""
    if not slurm_time:
        return None
    try:
        return _dt.datetime.fromisoformat(slurm_time).astimezone().isoformat()
    except ValueError:
        return slurm_time


def _relative(path: str, root_dir: str | None) -> str:
    if root_dir:
        try:
            return Path(path).relative_to(root_dir).as_posix()
        except ValueError:
            pass
    return path


def _id_number(job_id: str) -> int:
    head = job_id.split("_")[0]
    return int(head) if head.isdigit() else 0


def now_iso() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")
