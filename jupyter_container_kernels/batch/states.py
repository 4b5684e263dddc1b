"""How Slurm's answers fold into job records: pure functions, no scheduler calls.

A job's state only moves forward: once a record (or an array task) is in a :data:`TERMINAL`
state, nothing here changes it again.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .records import JobRecord
    from .slurm import JobState

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


def apply_states(record: JobRecord, states: Iterable[JobState]) -> bool:
    """Fold Slurm's answer into ``record``; True if it changed.

    A record or array task already in a :data:`TERMINAL` state keeps it: an answer that left
    Slurm before a ``scancel`` (or before the job ended) may arrive after one that says how the
    job ended, and must not make it RUNNING again.
    """
    if record.terminal:
        return False
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
            if s is None or task.state in TERMINAL:
                continue
            task.state, task.reason = s.state, s.reason
            task.exit_code = s.exit_code if s.state in TERMINAL else None
            task.started = _iso(s.started) if s.state != "PENDING" else None
            task.ended = _iso(s.ended) if s.state in TERMINAL else None
            if record.submitted is None:
                record.submitted = _iso(s.submitted)
        summarize_array(record)
    return record.to_json() != before


def uncovered_tasks(record: JobRecord, states: Iterable[JobState]) -> list[int]:
    """Unfinished array tasks of ``record`` that Slurm's answer ``states`` says nothing about
    (e.g. tasks purged after MinJobAge while others still run); [] for plain jobs."""
    if record.array_size is None or record.terminal:
        return []
    answered: set[int] = set()
    for s in states:
        if s.task is None:  # a row for the array's pending rest covers every task
            return []
        answered.add(s.task)
    return [t.index for t in record.tasks if t.state not in TERMINAL and t.index not in answered]


def summarize_array(record: JobRecord) -> None:
    """An array's own state from its tasks' (RUNNING while any runs; worst end state).

    An array already in a terminal state is left as it is."""
    if record.terminal:
        return
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
_LOST_TASK = "Slurm no longer knows this task and its output does not say how it ended"


def finish_from_outputs(record: JobRecord, tasks: Iterable[int] | None = None) -> bool:
    """Slurm does not know the job: conclude it (or its array tasks) from the output notebooks'
    provenance where that says the run ended; anything else is left as it is. True if changed.

    ``tasks``: only these array task indices (the ones a partial Slurm answer left out); None:
    the whole job. Records and tasks in a terminal state are never changed.
    """
    if record.terminal:
        return False
    wanted = None if tasks is None else set(tasks)
    changed = False
    for task in record.tasks or [None]:
        if task is not None and wanted is not None and task.index not in wanted:
            continue
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


def mark_lost(record: JobRecord, tasks: Iterable[int] | None = None) -> bool:
    """The job and its unfinished tasks (``tasks``: only these indices) are ``UNKNOWN``: Slurm
    forgot them, their outputs are silent. True if changed."""
    if record.terminal:
        return False
    wanted = None if tasks is None else set(tasks)
    reason = _LOST if wanted is None else _LOST_TASK
    changed = False
    for task in record.tasks:
        if task.state not in TERMINAL and (wanted is None or task.index in wanted):
            task.state, task.reason, task.exit_code = "UNKNOWN", reason, None
            changed = True
    if record.tasks:
        summarize_array(record)
    elif wanted is None:
        record.state, record.reason, record.exit_code = "UNKNOWN", _LOST, None
        changed = True
    return changed


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
