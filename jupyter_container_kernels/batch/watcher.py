"""The one watcher that asks Slurm about every tracked job.

:class:`JobWatcher`: one loop for every tracked job. Each round makes **one** query for all
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

Array tasks are followed one by one: tasks an answer leaves out while others of the array are
still known are asked of ``sacct`` (same query as the missing jobs), else concluded from each
task's output notebook, else ``UNKNOWN`` after :attr:`JobWatcher.MISSING_ROUNDS` rounds.

Node kernels' jobs ride along: a *follower* (:class:`~..nodes.tracker.NodeKernels`) adds its
job ids to each round's one ``squeue`` and gets the answer (or the error: unknown, not ended);
while one of its jobs waits or starts, rounds come at the base interval.

Rounds never overlap: :meth:`JobWatcher.poll_once` holds a lock from the query to the saved
records, so a ``cancel`` (which polls right after ``scancel``) cannot have its answer overtaken
by an older one from the loop. States never leave a terminal state either (:mod:`.states`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from ..errors import ContainerKernelError
from .records import JobRecord, JobStore
from .slurm import JobState, Slurm
from .states import apply_states, finish_from_outputs, mark_lost, uncovered_tasks

log = logging.getLogger(__name__)


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
        #: (array job id, task index) -> rounds in a row Slurm did not know that task.
        self.missing_tasks: dict[tuple[str, int], int] = {}
        self._lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._delay = interval
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: Others whose jobs share the rounds (job_ids(), update(), unavailable(),
        #: wants_fast_rounds()): the node kernels.
        self.followers: list[Any] = []

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
            if changed or any(f.wants_fast_rounds() for f in self.followers):
                self._delay = self.interval
            elif self.last_error is None:
                self._delay = min(self._delay * 1.5, self.max_interval)
            # Idle (nothing unfinished): no Slurm query, but look for records the CLI wrote.
            busy = self.store.active() or any(f.job_ids() for f in self.followers)
            timeout = self._delay if busy else self.max_interval
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def poll_once(self) -> bool:
        """One round: update every unfinished record from Slurm. True if anything changed.

        Rounds are serialised (the loop's and a cancel's): one at a time, query to save."""
        async with self._round_lock():
            return await self._round()

    def _round_lock(self) -> asyncio.Lock:
        # One lock per event loop: the CLI and tests run rounds in successive loops.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock[0] is not loop:
            self._lock = (loop, asyncio.Lock())
        return self._lock[1]

    async def _round(self) -> bool:
        self.store.reload()
        active = self.store.active()
        followed = {i for f in self.followers for i in f.job_ids()}
        if not active and not followed:
            return False
        self.rounds += 1
        ids = [r.id for r in active]
        try:
            states = await self.slurm.queue([*ids, *followed])
        except ContainerKernelError as exc:
            for follower in self.followers:
                follower.unavailable(str(exc))
            raise
        for follower in self.followers:
            follower.update(states)
        missing = [i for i in ids if i not in states]
        partial = {r.id: uncovered_tasks(r, states[r.id]) for r in active if r.id in states}
        partial = {job_id: tasks for job_id, tasks in partial.items() if tasks}
        task_ids = [f"{job_id}_{i}" for job_id, tasks in partial.items() for i in tasks]
        if missing or task_ids:
            accounted = await self._accounting(missing + task_ids)
            for job_id, found in accounted.items():
                if job_id in partial:  # only the tasks squeue left out
                    wanted = set(partial[job_id])
                    states[job_id] += [s for s in found if s.task in wanted]
                elif job_id in missing:
                    states[job_id] = found
        changed = False
        for record in active:
            if record.id in states:
                self.missing.pop(record.id, None)
                updated = apply_states(record, states[record.id])
                updated = self._follow_tasks(record, states[record.id]) or updated
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

    def _follow_tasks(self, record: JobRecord, states: list[JobState]) -> bool:
        """Array tasks Slurm's answer (squeue, and sacct when it is there) left out: conclude
        each from its output notebook, or count the miss and mark it lost after
        :attr:`MISSING_ROUNDS` rounds. True if a task changed."""
        if record.array_size is None:
            return False
        gone = uncovered_tasks(record, states)
        for task in record.tasks:
            if task.index not in gone:
                self.missing_tasks.pop((record.id, task.index), None)
        if not gone:
            return False
        changed = finish_from_outputs(record, gone)
        lost = []
        for index in uncovered_tasks(record, states):
            key = (record.id, index)
            self.missing_tasks[key] = self.missing_tasks.get(key, 0) + 1
            if self.missing_tasks[key] >= self.MISSING_ROUNDS:
                lost.append(index)
                self.missing_tasks.pop(key)
        if lost:
            changed = mark_lost(record, lost) or changed
        return changed

    async def _accounting(self, ids: list[str]) -> dict[str, list[JobState]]:
        if self.slurm.accounting is False:
            return {}
        try:
            return await self.slurm.accounting_states(ids) or {}
        except ContainerKernelError as exc:  # slurmdbd down: the outputs will have to tell
            log.info("sacct failed: %s", exc)
            return {}
