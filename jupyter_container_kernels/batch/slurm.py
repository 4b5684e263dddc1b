"""Slurm's commands (sbatch, squeue, scontrol, sacct, scancel, sinfo) through ``_process.run``.

Every call is an argument list with a timeout. A controller that does not answer, or commands
that are missing, raise :class:`SchedulerUnavailableError` (HTTP 503) within
:attr:`Slurm.timeout` seconds; Slurm refusing a request raises :class:`SchedulerError` quoting
its stderr. :attr:`Slurm.calls` counts the queries made, per command (the benchmark reads it).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from traitlets import Dict, Float, List, Unicode
from traitlets.config import LoggingConfigurable

from .. import _process
from ..errors import (
    CommandNotFoundError,
    ProcessTimeoutError,
    SchedulerError,
    SchedulerUnavailableError,
)
from ..runtimes.base import SECRET_VARS

#: stderr of a client that could not talk to slurmctld (or find its configuration).
_UNAVAILABLE = re.compile(
    r"Unable to contact slurm controller|Socket timed out|Connection refused|"
    r"Could not establish a configuration source|Zero Bytes were transmitted|"
    r"Unable to establish controller machine|slurm_load_partitions: Unable|"
    r"Communication connection failure|Transport endpoint|Name or service not known",
    re.IGNORECASE,
)
#: scancel's stderr for a job that has already ended, or that Slurm has forgotten since.
_ALREADY_ENDED = re.compile(r"already completing or completed|Invalid job id", re.IGNORECASE)
#: stderr of a client whose request may have reached slurmctld although no answer came back.
_NO_ANSWER = re.compile(
    r"Socket timed out|Zero Bytes were transmitted|Transport endpoint", re.IGNORECASE
)
#: Variables of the server's environment never handed to sbatch (so never into a job): the
#: credentials no container gets (:data:`..runtimes.base.SECRET_VARS`), and, since a job has no
#: per-kernel opt-in, anything else that looks like a secret. Matched case-insensitively as
#: shell-style patterns against the variable's name.
ENV_DENY = (
    *SECRET_VARS,
    "*_TOKEN",
    "*_API_TOKEN",
    "JUPYTERHUB_*",
    "JPY_*",
    "*_SECRET*",
    "*PASSWORD*",
)
_ACCOUNTING_OFF = re.compile(r"accounting storage is disabled", re.IGNORECASE)
_JOB_ID = re.compile(r"\d+(_\d+)?\Z")
#: squeue -O fields of one job (or array task), in this order.
SQUEUE_FIELDS = (
    "JobID",
    "ArrayJobID",
    "ArrayTaskID",
    "State",
    "Reason",
    "exit_code",
    "SubmitTime",
    "StartTime",
    "EndTime",
    "NodeList",
    "TimeLeft",
    "TimeLimit",
    "Comment",  # last: the only free text (the parser keeps any '|' in it)
)
SACCT_FIELDS = ("JobID", "JobIDRaw", "State", "ExitCode", "Reason", "Submit", "Start", "End")


class SubmitUnknownError(SchedulerUnavailableError):
    """sbatch gave no answer: the job may or may not have been submitted (HTTP 503)."""


@dataclass(frozen=True)
class JobState:
    """What Slurm says about one job or one array task.

    ``job_id`` is the id the user submitted (the array's id for tasks), ``task`` the array index
    (None for plain jobs). Times are Slurm's local ISO strings or None.
    """

    job_id: str
    task: int | None
    state: str
    reason: str | None
    exit_code: int | None
    submitted: str | None = None
    started: str | None = None
    ended: str | None = None
    #: squeue only: the node(s), ``TimeLeft``/``TimeLimit`` as Slurm prints them, the comment.
    nodes: str | None = None
    time_left: str | None = None
    time_limit: str | None = None
    comment: str | None = None


class Slurm(LoggingConfigurable):
    """The Slurm client commands, configurable per site."""

    bin_dir = Unicode(
        "",
        config=True,
        help="Directory holding sbatch, squeue, scontrol, sacct, scancel and sinfo. Empty: "
        "found on PATH.",
    )
    executables = Dict(
        value_trait=Unicode(),
        config=True,
        help="Full path of individual Slurm commands, by name, e.g. {'sbatch': "
        "'/opt/slurm/bin/sbatch'}; wins over bin_dir.",
    )
    slurm_conf = Unicode(
        "",
        config=True,
        help="slurm.conf to use (sets SLURM_CONF for the commands). Empty: Slurm's default.",
    )
    env_deny = List(
        Unicode(),
        default_value=list(ENV_DENY),
        config=True,
        help="Shell-style patterns (case-insensitive) of environment variable names the Slurm "
        "commands, and so the jobs sbatch starts, do not get from this process: JupyterHub's "
        "API token (JUPYTERHUB_API_TOKEN, JPY_API_TOKEN) and other secrets. Jobs otherwise get "
        "this process's environment (sbatch's --export=ALL): PATH, HOME, USER, JUPYTER_* (where "
        "the kernelspecs are), the module system's variables, which the job scripts rely on.",
    )
    timeout = Float(
        15.0,
        config=True,
        help="Seconds one Slurm command may take before the controller counts as unreachable.",
    )

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.calls: Counter[str] = Counter()
        #: None until sacct was tried; then whether accounting answers.
        self.accounting: bool | None = None

    def executable(self, name: str) -> str:
        if name in self.executables:
            return self.executables[name]
        return os.path.join(self.bin_dir, name) if self.bin_dir else name

    def environment(self, env: dict[str, str] | None = None) -> dict[str, str]:
        """``env`` (default: this process's environment) without the variables matching
        :attr:`env_deny`: what the Slurm commands and the jobs they submit get."""
        env = dict(os.environ if env is None else env)
        deny = [p.upper() for p in self.env_deny]
        return {
            k: v for k, v in env.items() if not any(fnmatch.fnmatchcase(k.upper(), p) for p in deny)
        }

    async def _run(
        self,
        name: str,
        args: Sequence[str],
        *,
        cwd: str | None = None,
        check: bool = True,
        env: dict[str, str] | None = None,
    ) -> _process.Completed:
        argv = [self.executable(name), *args]
        env = self.environment(env)
        if self.slurm_conf:
            env["SLURM_CONF"] = self.slurm_conf
        self.calls[name] += 1
        try:
            done = await _process.run(argv, env=env, cwd=cwd, timeout=self.timeout, check=False)
        except CommandNotFoundError as exc:
            raise SchedulerUnavailableError(
                f"Slurm's `{name}` cannot be run ({argv[0]}): {exc}. Install the Slurm client "
                "commands or set c.Slurm.bin_dir to where they are."
            ) from exc
        except ProcessTimeoutError as exc:
            raise SchedulerUnavailableError(
                f"Slurm did not answer `{name}` within {self.timeout:g} s: the controller "
                "(slurmctld) is down or overloaded. Try again later, or ask your site's "
                "administrators."
            ) from exc
        if check and done.returncode != 0:
            raise self._error(name, done)
        return done

    def _error(self, name: str, done: _process.Completed) -> Exception:
        stderr = _process.tail(done.stderr) or "(no message)"
        if _UNAVAILABLE.search(done.stderr):
            return SchedulerUnavailableError(
                f"Slurm is not reachable: `{name}` says:\n{stderr}\nThe controller (slurmctld) "
                "is down or this machine is not configured as a Slurm client; try again later "
                "or ask your site's administrators."
            )
        return SchedulerError(f"Slurm refused `{name}`:\n{stderr}")

    # -- commands ---------------------------------------------------------------------------

    async def submit(self, script: str, *, cwd: str, env: dict[str, str] | None = None) -> str:
        """``sbatch --parsable SCRIPT``; the new job's id. ``env``: the environment the job
        gets (default this process's), less :attr:`env_deny`.

        Raises :class:`SubmitUnknownError` when no answer came back (sbatch timed out, or lost
        its connection mid-request): slurmctld may have accepted the job. Any other failure
        means the job was not submitted (:class:`SchedulerError`, or
        :class:`SchedulerUnavailableError` when the controller could not be reached at all).
        """
        try:
            done = await self._run("sbatch", ["--parsable", script], cwd=cwd, check=False, env=env)
        except SchedulerUnavailableError as exc:
            if isinstance(exc.__cause__, ProcessTimeoutError):
                raise SubmitUnknownError(
                    f"sbatch did not answer within {self.timeout:g} s and was stopped"
                ) from exc
            raise
        if done.returncode != 0:
            if _NO_ANSWER.search(done.stderr):
                raise SubmitUnknownError(
                    f"sbatch lost its connection to slurmctld ({_process.tail(done.stderr, 1)})"
                )
            raise self._error("sbatch", done)
        job_id = done.stdout.strip().split(";")[0]
        if not _JOB_ID.match(job_id):
            raise SchedulerError(f"sbatch printed {done.stdout.strip()!r} instead of a job id.")
        return job_id

    async def find_submitted(self, name: str, script: str) -> str | None:
        """The id of this user's job named ``name`` that was submitted from ``script`` (an
        absolute path, unique per submit), from ``squeue``; None if Slurm knows no such job."""
        done = await self._run(
            "squeue",
            [
                "--noheader",
                "--me",
                "--states=all",
                f"--name={name}",
                "--Format=ArrayJobID:|,Command:|",
            ],
        )
        for line in done.stdout.splitlines():
            job_id, _, rest = line.partition("|")
            command = rest.rsplit("|", 1)[0].strip()
            if command == script and _JOB_ID.match(job_id.strip()):
                return job_id.strip()
        return None

    async def test_only(self, script: str, *, cwd: str) -> str:
        """``sbatch --test-only SCRIPT``: Slurm's verdict (raises SchedulerError if refused)."""
        done = await self._run("sbatch", ["--test-only", script], cwd=cwd)
        return (done.stderr or done.stdout).strip()

    async def cancel(self, job_id: str) -> bool:
        """``scancel --verbose ID`` (pending or running; an array's id cancels every task).

        True if Slurm took the request; False if the job had already ended (Slurm says it is
        "already completing or completed", or no longer knows the id). Other refusals raise
        :class:`SchedulerError`.
        Without ``--verbose`` scancel says nothing and exits 0 for jobs it could not cancel.
        """
        _check_id(job_id)
        done = await self._run("scancel", ["--verbose", job_id], check=False)
        if _UNAVAILABLE.search(done.stderr):
            raise self._error("scancel", done)
        if _ALREADY_ENDED.search(done.stderr):
            return False
        errors = [line for line in done.stderr.splitlines() if "error:" in line]
        if done.returncode != 0 or errors:
            message = "\n".join(errors) or _process.tail(done.stderr) or "(no message)"
            raise SchedulerError(f"Slurm refused `scancel {job_id}`:\n{message}")
        return True

    async def queue(self, job_ids: Iterable[str]) -> dict[str, list[JobState]]:
        """One ``squeue --states=all`` for all ``job_ids``: submitted id -> its job/tasks.

        Ids Slurm no longer knows (finished more than MinJobAge ago) are absent.
        """
        ids = sorted({_check_id(i) for i in job_ids}, key=_id_key)
        if not ids:
            return {}
        fmt = ",".join(f"{f}:|" for f in SQUEUE_FIELDS)
        done = await self._run(
            "squeue",
            ["--noheader", "--array", "--states=all", f"--jobs={','.join(ids)}", f"--Format={fmt}"],
            check=False,
        )
        if done.returncode != 0:
            if "Invalid job id" in done.stderr:
                return {}  # squeue fails this way when the only id asked for is unknown
            raise self._error("squeue", done)
        return parse_squeue(done.stdout)

    async def accounting_states(self, job_ids: Iterable[str]) -> dict[str, list[JobState]] | None:
        """One ``sacct -X -P`` for ``job_ids``; None when accounting is not configured."""
        ids = sorted({_check_id(i) for i in job_ids}, key=_id_key)
        if not ids or self.accounting is False:
            return None if self.accounting is False else {}
        done = await self._run(
            "sacct",
            [
                "--noheader",
                "--parsable2",
                "--allocations",
                f"--jobs={','.join(ids)}",
                f"--format={','.join(SACCT_FIELDS)}",
            ],
            check=False,
        )
        if done.returncode != 0:
            if _ACCOUNTING_OFF.search(done.stderr) and not _UNAVAILABLE.search(done.stderr):
                self.accounting = False
                return None
            raise self._error("sacct", done)
        self.accounting = True
        return parse_sacct(done.stdout)

    async def partitions(self) -> list[dict[str, object]]:
        """``sinfo``: [{name, default, state, gres}] for the environment endpoint."""
        done = await self._run("sinfo", ["--noheader", "--format=%P|%a|%G"])
        seen: dict[str, dict[str, object]] = {}
        for line in done.stdout.splitlines():
            name, _, rest = line.partition("|")
            state, _, gres = rest.partition("|")
            default = name.endswith("*")
            name = name.rstrip("*")
            entry = seen.setdefault(
                name, {"name": name, "default": default, "state": state, "gres": None}
            )
            if gres and gres != "(null)":
                entry["gres"] = gres
        return list(seen.values())


def parse_squeue(stdout: str) -> dict[str, list[JobState]]:
    """``squeue --array --Format=<SQUEUE_FIELDS with '|'>`` output: submitted id -> states."""
    out: dict[str, list[JobState]] = {}
    for line in stdout.splitlines():
        cols = line.split("|", len(SQUEUE_FIELDS) - 1)
        if len(cols) < len(SQUEUE_FIELDS):
            continue
        cols[-1] = cols[-1].rstrip().removesuffix("|")
        row = dict(zip(SQUEUE_FIELDS, (c.strip() for c in cols), strict=False))
        task = row["ArrayTaskID"]
        is_task = task.isdigit()
        state = JobState(
            job_id=(row["ArrayJobID"] or row["JobID"]) if is_task else row["JobID"],
            task=int(task) if is_task else None,
            state=_state(row["State"]),
            reason=_reason(row["Reason"]),
            exit_code=_raw_exit(row["exit_code"]),
            submitted=_time(row["SubmitTime"]),
            started=_time(row["StartTime"]),
            ended=_time(row["EndTime"]),
            nodes=_reason(row["NodeList"]),
            time_left=_time(row["TimeLeft"]),
            time_limit=_time(row["TimeLimit"]),
            comment=_reason(row["Comment"]),
        )
        out.setdefault(state.job_id, []).append(state)
    return out


def parse_sacct(stdout: str) -> dict[str, list[JobState]]:
    """``sacct --parsable2 --allocations --format=<SACCT_FIELDS>`` output: id -> states."""
    out: dict[str, list[JobState]] = {}
    for line in stdout.splitlines():
        cols = line.split("|")
        if len(cols) < len(SACCT_FIELDS):
            continue
        row = dict(zip(SACCT_FIELDS, cols, strict=False))
        job_id, _, task = row["JobID"].partition("_")
        state = JobState(
            job_id=job_id,
            task=int(task) if task.isdigit() else None,
            state=_state(row["State"]),
            reason=_reason(row["Reason"]),
            exit_code=_colon_exit(row["ExitCode"]),
            submitted=_time(row["Submit"]),
            started=_time(row["Start"]),
            ended=_time(row["End"]),
        )
        out.setdefault(job_id, []).append(state)
    return out


def _check_id(job_id: str) -> str:
    if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
        raise SchedulerError(f"{job_id!r} is not a Slurm job id (digits, or ID_TASK).")
    return job_id


def _id_key(job_id: str) -> tuple[int, int]:
    base, _, task = job_id.partition("_")
    return int(base), int(task or -1)


def _state(text: str) -> str:
    # sacct says "CANCELLED by 0"; squeue says e.g. "OUT_OF_MEMORY".
    return text.split()[0].rstrip("+") if text.strip() else "UNKNOWN"


def _reason(text: str) -> str | None:
    return None if text in ("", "None", "(null)") else text


def _time(text: str) -> str | None:
    return None if text in ("", "N/A", "NONE", "None", "Unknown") else text


def _raw_exit(text: str) -> int | None:
    """squeue's exit_code is a wait status: exit code in the high byte, signal in the low."""
    if not text.isdigit():
        return None
    status = int(text)
    return status >> 8 if status & 0x7F == 0 else 128 + (status & 0x7F)


def _colon_exit(text: str) -> int | None:
    """sacct's ``CODE:SIGNAL``."""
    code, _, sig = text.partition(":")
    if not code.isdigit():
        return None
    return 128 + int(sig) if sig.isdigit() and int(sig) and not int(code) else int(code)
