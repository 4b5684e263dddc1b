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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..errors import ContainerKernelError
from .records import JobStore
from .slurm import JobState, Slurm
from .states import apply_states, finish_from_outputs, mark_lost

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
