"""Batch jobs stay truthful and safe when things race, stall or misbehave: states never go back,
a submit without an answer is not lost, files are created safely, secrets stay out of jobs,
bad input to the node executor is one line."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from jupyter_container_kernels.batch.execute import EXIT_START_ERROR
from jupyter_container_kernels.batch.records import JobRecord, JobStore, TaskRecord
from jupyter_container_kernels.batch.service import BatchService
from jupyter_container_kernels.batch.slurm import JobState, Slurm, SubmitUnknownError
from jupyter_container_kernels.batch.states import apply_states, finish_from_outputs
from jupyter_container_kernels.batch.watcher import JobWatcher
from jupyter_container_kernels.errors import SchedulerError, SpecError

from .conftest import wait_until, write_notebook

pytestmark = pytest.mark.timeout(180)

HELD = {"begin": r"now\+[0-9]+hours?"}  # a site directive that keeps a job pending


def submit(batch: BatchService, **request) -> str:
    return asyncio.run(batch.submit(batch.request(request))).id


def job(job_id: str = "7", tasks: int = 0, state: str = "RUNNING") -> JobRecord:
    return JobRecord(
        id=job_id,
        name="nb",
        notebook="/home/a/nb.ipynb",
        kernel="k",
        mode="notebook",
        output_dir="/home/a",
        script_path="/home/a/nb.sbatch",
        log_path="/home/a/nb.log",
        output_notebooks=[f"/home/a/nb-{job_id}.ipynb"],
        state=state,
        array_size=tasks or None,
        tasks=[TaskRecord(index=i, state=state) for i in range(tasks)],
    )


def slurm_says(state: str, task: int | None = None, code: int | None = None) -> JobState:
    ended = None if state in ("PENDING", "RUNNING") else "2026-01-02T03:06:00"
    return JobState("7", task, state, None, code, "2026-01-02T03:04:05", None, ended)


# -- 4: terminal states never go back -------------------------------------------------------


def test_an_answer_older_than_the_end_cannot_make_a_job_run_again():
    record = job()
    assert apply_states(record, [slurm_says("CANCELLED", code=143)])
    assert not apply_states(record, [slurm_says("RUNNING")]), "no change, nothing to write"
    assert (record.state, record.exit_code) == ("CANCELLED", 143)
    assert record.ended is not None


def test_a_task_that_ended_stays_ended_while_the_others_run():
    record = job(tasks=2)
    apply_states(record, [slurm_says("CANCELLED", 0, 143), slurm_says("RUNNING", 1)])
    apply_states(record, [slurm_says("RUNNING", 0), slurm_says("COMPLETED", 1, 0)])
    assert [t.state for t in record.tasks] == ["CANCELLED", "COMPLETED"]
    assert (record.state, record.exit_code) == ("CANCELLED", 143)
    assert not apply_states(record, [slurm_says("RUNNING", 0), slurm_says("RUNNING", 1)])
    assert record.state == "CANCELLED"


def test_outputs_do_not_reopen_a_job_that_ended(tmp_path):
    record = job(state="TIMEOUT")
    out = tmp_path / "out.ipynb"
    out.write_text(json.dumps({"metadata": {"container_kernels": {"provenance": {
        "status": "completed"}}}, "cells": [], "nbformat": 4, "nbformat_minor": 5}))  # fmt: skip
    record.output_notebooks = [str(out)]
    assert not finish_from_outputs(record)
    assert record.state == "TIMEOUT"


class SlowFirstAnswer(Slurm):
    """Real squeue; the answer to the first query after ``hold`` is set arrives late (a busy
    controller, a slow link)."""

    hold: asyncio.Event | None = None

    async def queue(self, job_ids: Iterable[str]) -> dict[str, list[JobState]]:
        states = await super().queue(job_ids)
        if self.hold is not None:
            answered, self.hold = self.hold, None
            answered.set()
            await asyncio.sleep(1.5)
        return states


def test_a_watcher_answer_from_before_scancel_cannot_undo_the_cancel(
    make_batch, slurm_cluster, container_kernel, tmp_path
):
    slurm = SlowFirstAnswer()
    batch = make_batch(slurm=slurm, extra_directives=HELD)
    write_notebook(tmp_path / "held.ipynb", "1", kernel=container_kernel)
    job_id = submit(batch, notebook="held.ipynb", resources={"begin": "now+1hour"})

    async def cancel_during_a_watcher_round() -> JobRecord:
        slurm.hold = answered = asyncio.Event()
        round_ = asyncio.create_task(batch.watcher.poll_once())
        await answered.wait()  # squeue said PENDING; that answer is still on its way
        cancelled = await batch.cancel(job_id)
        await round_
        return cancelled

    cancelled = asyncio.run(cancel_during_a_watcher_round())
    assert cancelled.state == "CANCELLED"
    assert batch.get(job_id).state == "CANCELLED", "the late PENDING did not win"
    assert JobStore(batch.jobs_dir).get(job_id).state == "CANCELLED", "on disk too"


def test_a_record_another_process_ended_is_not_overwritten_by_a_stale_one(tmp_path):
    server, cli = JobStore(tmp_path / "jobs"), JobStore(tmp_path / "jobs")
    mine = job()
    server.save(mine)
    cli.reload()
    theirs = cli.get("7")
    theirs.state = "CANCELLED"
    cli.save(theirs)  # the CLI cancelled it
    mine.reason = "stale view of a RUNNING job"
    server.save(mine)  # the server's round, from before it saw the CLI's write
    assert JobStore(tmp_path / "jobs").get("7").state == "CANCELLED"
    assert server.get("7").state == "CANCELLED"


# -- 5: a submit without an answer ----------------------------------------------------------


def slow_sbatch(tmp_path: Path, *, submits: bool) -> str:
    """An sbatch that never answers in time: it submits through the real one first, or not."""
    path = tmp_path / "bin" / "sbatch"
    path.parent.mkdir(exist_ok=True)
    real = '/usr/bin/sbatch "$@" > /dev/null\n' if submits else ""
    path.write_text(f"#!/bin/sh\n{real}exec sleep 60\n")
    path.chmod(0o755)
    return str(path)


def test_a_job_submitted_although_sbatch_timed_out_is_found_and_tracked(
    make_batch, slurm_cluster, container_kernel, tmp_path
):
    slurm = Slurm(executables={"sbatch": slow_sbatch(tmp_path, submits=True)}, timeout=3)
    batch = make_batch(slurm=slurm, extra_directives=HELD)
    write_notebook(tmp_path / "held.ipynb", "1", kernel=container_kernel)
    record = asyncio.run(
        batch.submit(batch.request({"notebook": "held.ipynb", "resources": {"begin": "now+1hour"}}))
    )
    try:
        assert Path(record.script_path).exists(), "the job's files are kept"
        assert wait_until(batch, record.id, {"PENDING"}).state == "PENDING"
        assert [r.id for r in batch.list()] == [record.id], "tracked like any job"
        command = subprocess.run(
            ["squeue", "--noheader", f"--jobs={record.id}", "--Format=Command:|"],
            capture_output=True, text=True, check=True,
        ).stdout.strip().rstrip("|")  # fmt: skip
        assert command == record.script_path, "it is the job sbatch submitted"
    finally:
        asyncio.run(batch.cancel(record.id))


def test_a_submit_without_answer_and_without_job_keeps_the_files_and_says_what_to_check(
    make_batch, slurm_cluster, container_kernel, tmp_path
):
    slurm = Slurm(executables={"sbatch": slow_sbatch(tmp_path, submits=False)}, timeout=2)
    batch = make_batch(slurm=slurm)
    write_notebook(tmp_path / "x.ipynb", "1", kernel=container_kernel)
    with pytest.raises(SubmitUnknownError) as info:
        submit(batch, notebook="x.ipynb")
    (script,) = tmp_path.glob("x-*.sbatch")
    assert str(info.value) == (
        "sbatch did not answer within 2 s and was stopped, so it is not known whether Slurm "
        f"accepted the job. The job's files are kept: its script is {script}, and Slurm's "
        "queue has no job from that script (yet). Before submitting again, run `squeue --me "
        "--states=all --name=x --Format=JobID,State,Command`: a job whose command is that "
        f"script is this one (it is not tracked here; its outputs go to {tmp_path}). If there "
        "is none once Slurm answers again, submit again."
    )
    assert info.value.http_status == 503
    assert not batch.list()


def test_a_submit_slurm_refuses_leaves_no_files(batch, container_kernel, tmp_path):
    write_notebook(tmp_path / "x.ipynb", "1", kernel=container_kernel)
    with pytest.raises(SchedulerError, match="(?i)invalid partition"):
        submit(batch, notebook="x.ipynb", resources={"partition": "nosuchpartition"})
    assert sorted(p.name for p in tmp_path.glob("x*")) == ["x.ipynb"], "no script is left"


# -- 6: cancel sees what another process submitted ------------------------------------------


def test_the_server_cancels_a_job_the_cli_submitted_after_it_started(
    make_batch, slurm_cluster, container_kernel, tmp_path
):
    server = make_batch(extra_directives=HELD)  # started first: its store is empty
    cli = make_batch(extra_directives=HELD)
    write_notebook(tmp_path / "held.ipynb", "1", kernel=container_kernel)
    job_id = submit(cli, notebook="held.ipynb", resources={"begin": "now+1hour"})

    record = asyncio.run(server.cancel(job_id))
    if record.state != "CANCELLED":
        record = wait_until(server, job_id)
    assert record.state == "CANCELLED"


# -- 7: the store sees every write; the watcher follows every task --------------------------


def test_a_second_write_within_one_mtime_tick_is_seen(tmp_path):
    directory = tmp_path / "jobs"
    reader, writer = JobStore(directory), JobStore(directory)
    record = job(state="PENDING")
    writer.save(record)
    reader.reload()
    assert reader.get("7").state == "PENDING"
    dir_ns = directory.stat().st_mtime_ns
    file_ns = (directory / "7.json").stat().st_mtime_ns

    record.state = "RUNNING"  # same length: the file's size does not change either
    writer.save(record)
    # A file system with coarse timestamps: both writes fell into the same mtime tick.
    os.utime(directory, ns=(dir_ns, dir_ns))
    os.utime(directory / "7.json", ns=(file_ns, file_ns))
    reader.reload()
    assert reader.get("7").state == "RUNNING"


def test_a_reload_with_nothing_changed_stays_one_stat(tmp_path):
    directory = tmp_path / "jobs"
    writer = JobStore(directory)
    for i in range(2000):
        writer.save(job(str(100000 + i)))
    old = time.time_ns() - 3600 * 10**9  # everything settled an hour ago
    for path in directory.iterdir():
        os.utime(path, ns=(old, old))
    os.utime(directory, ns=(old, old))
    reader = JobStore(directory)
    assert len(reader.list()) == 2000

    scans = reader.scans
    start = time.perf_counter()
    for _ in range(200):
        reader.reload()
    per_reload = (time.perf_counter() - start) / 200
    assert reader.scans == scans, "no directory listing when nothing changed"
    assert per_reload < 0.0005, f"{per_reload * 1e6:.0f} µs per reload"

    writer.save(job("99"))  # and a change is seen at once
    reader.reload()
    assert reader.get("99").state == "RUNNING"


class Answers(Slurm):
    """Slurm's answers as a cluster gives them after a while: tasks that ended more than
    MinJobAge ago are no longer in squeue (and sacct, when there, still has them)."""

    def __init__(self, queue: dict[str, list[JobState]], sacct: dict[str, list[JobState]] | None):
        super().__init__()
        self.queue_answer, self.sacct_answer = queue, sacct
        self.accounting = sacct is not None or False
        self.asked: list[list[str]] = []

    async def queue(self, job_ids: Iterable[str]) -> dict[str, list[JobState]]:
        return {k: list(v) for k, v in self.queue_answer.items() if k in set(job_ids)}

    async def accounting_states(self, job_ids: Iterable[str]) -> dict[str, list[JobState]] | None:
        self.asked.append(sorted(job_ids))
        return self.sacct_answer


def provenance(path: Path, status: str) -> str:
    nb = {"metadata": {"container_kernels": {"provenance": {"status": status}}}}
    path.write_text(json.dumps({**nb, "cells": [], "nbformat": 4, "nbformat_minor": 5}))
    return str(path)


def test_array_tasks_squeue_forgot_are_concluded_one_by_one_from_their_outputs(tmp_path):
    store = JobStore(tmp_path / "jobs")
    record = job(tasks=3)
    record.tasks[1].output_notebook = provenance(tmp_path / "t1.ipynb", "completed")
    record.tasks[2].output_notebook = str(tmp_path / "t2-never-written.ipynb")
    store.save(record)
    slurm = Answers({"7": [slurm_says("RUNNING", 0)]}, sacct=None)  # no accounting
    watcher = JobWatcher(store, slurm)

    asyncio.run(watcher.poll_once())
    tasks = store.get("7").tasks
    assert [t.state for t in tasks] == ["RUNNING", "COMPLETED", "RUNNING"]
    assert tasks[1].reason == "Slurm no longer knows this job; state read from its output notebook"
    for _ in range(JobWatcher.MISSING_ROUNDS - 1):
        asyncio.run(watcher.poll_once())
    tasks = store.get("7").tasks
    assert [t.state for t in tasks] == ["RUNNING", "COMPLETED", "UNKNOWN"]
    assert tasks[2].reason == (
        "Slurm no longer knows this task and its output does not say how it ended"
    )
    assert store.get("7").state == "RUNNING", "task 0 still runs"

    slurm.queue_answer = {"7": [slurm_says("COMPLETED", 0, 0)]}
    asyncio.run(watcher.poll_once())
    assert JobStore(tmp_path / "jobs").get("7").state == "UNKNOWN", "the worst task"


def test_array_tasks_squeue_forgot_are_asked_of_sacct_when_accounting_is_there(tmp_path):
    store = JobStore(tmp_path / "jobs")
    store.save(job(tasks=3))
    sacct = {"7": [slurm_says("FAILED", 1, 1), slurm_says("COMPLETED", 2, 0)]}
    slurm = Answers({"7": [slurm_says("RUNNING", 0)]}, sacct=sacct)

    asyncio.run(JobWatcher(store, slurm).poll_once())
    tasks = store.get("7").tasks
    assert [(t.state, t.exit_code) for t in tasks] == [
        ("RUNNING", None),
        ("FAILED", 1),
        ("COMPLETED", 0),
    ]
    assert slurm.asked == [["7_1", "7_2"]], "one sacct for the tasks squeue left out"


# -- 8: log tails are bounded ---------------------------------------------------------------


def test_the_log_tail_of_a_big_array_is_bounded(make_batch, tmp_path):
    batch = make_batch(log_tail_tasks=3, log_tail_bytes=1000, log_tail_lines=5)
    record = job("8", tasks=20, state="COMPLETED")
    for task in record.tasks:
        task.log_path = str(tmp_path / f"nb-8_{task.index}.log")
        Path(task.log_path).write_text(
            "".join(f"task {task.index} line {n}\n" for n in range(10**4))
        )
    record.log_path = record.tasks[0].log_path
    record.tasks[4].state = "FAILED"
    record.tasks[12].state = "RUNNING"

    tail = batch.log_tail(record)
    sections = [line for line in tail.splitlines() if line.startswith("==> task")]
    assert sections == ["==> task 4 <==", "==> task 12 <==", "==> task 19 <=="], "running, "
    "failed, then the last ones; in task order"
    assert "task 19 line 9999" in tail and "task 19 line 9994" not in tail
    assert tail.endswith("(logs of 17 more tasks are not shown here: .)")
    assert len(tail) < 3 * 1000 + 200


# -- 11: the job's files are created safely -------------------------------------------------


def test_job_files_are_private_and_created_new(make_batch, container_kernel, tmp_path):
    batch = make_batch()
    write_notebook(tmp_path / "x.ipynb", ("a = 1", ["parameters"]), "a", kernel=container_kernel)
    request = batch.request({"notebook": "x.ipynb", "output_dir": "runs", "sweep": {"a": [1, 2]}})
    prepared = batch.prepare(request)
    batch.write_files(prepared)
    assert stat.S_IMODE((tmp_path / "runs").stat().st_mode) == 0o700
    assert len(prepared.files) == 2
    for path in prepared.files:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path


def test_a_symlink_where_a_job_file_goes_is_refused_not_followed(
    make_batch, container_kernel, tmp_path
):
    batch = make_batch()
    write_notebook(tmp_path / "x.ipynb", "1", kernel=container_kernel)
    prepared = batch.prepare(batch.request({"notebook": "x.ipynb", "mode": "script"}))
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (python_file,) = (p for p in prepared.files if p.endswith(".py"))
    os.symlink(victim, python_file)

    with pytest.raises(SpecError) as info:
        batch.write_files(prepared)
    assert str(info.value) == (
        f"output_dir: {python_file!r} is a symbolic link; a job's files are only ever created "
        "new, never written through a link or over another file. Remove it or choose another "
        "output directory."
    )
    assert victim.read_text() == "precious\n"


# -- 12b: secrets stay out of jobs ----------------------------------------------------------


def test_a_job_does_not_get_the_servers_tokens(batch_env, slurm_cluster, tmp_path, monkeypatch):
    secrets = {
        "JUPYTERHUB_API_TOKEN": "hub-token",
        "JPY_API_TOKEN": "jpy-token",
        "GITHUB_TOKEN": "gh-token",
        "AWS_SECRET_ACCESS_KEY": "aws",
        "DB_PASSWORD": "pw",
    }
    for name, value in {**secrets, "JCK_PLAIN_SETTING": "kept"}.items():
        monkeypatch.setenv(name, value)
    env_file = tmp_path / "job-env.txt"
    script = tmp_path / "env.sbatch"
    script.write_text(
        f"#!/bin/bash\n#SBATCH --output={tmp_path}/env.log\nenv > {env_file}.tmp\n"
        f"mv {env_file}.tmp {env_file}\n"
    )
    slurm = Slurm()
    asyncio.run(slurm.submit(str(script), cwd=str(tmp_path)))
    deadline = time.monotonic() + 60
    while not env_file.exists():
        assert time.monotonic() < deadline, "the job did not run"
        time.sleep(0.2)

    seen = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    assert not set(secrets) & set(seen), "no token or secret reached the job"
    assert seen["JCK_PLAIN_SETTING"] == "kept", "the rest of the environment does"
    assert seen["JUPYTER_DATA_DIR"] == os.environ["JUPYTER_DATA_DIR"], "kernels are found"
    assert seen["PATH"] == os.environ["PATH"]


# -- 15: bad input to the node executor is one line -----------------------------------------


def run_executor(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "jupyter_container_kernels.batch", "run", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize(
    "content", ['{"parameters": [{"a": 1}]}', '{"tasks": {"a": 1}}', '{"tasks": [1, 2]}']
)
def test_a_parameters_file_of_the_wrong_shape_is_one_line(batch_env, tmp_path, content):
    write_notebook(tmp_path / "nb.ipynb", "1", kernel="whatever")
    (tmp_path / "p.json").write_text(content)
    done = run_executor(
        "--notebook", str(tmp_path / "nb.ipynb"),
        "--kernel", "whatever",
        "--output", str(tmp_path / "out.ipynb"),
        "--parameters-file", str(tmp_path / "p.json"),
    )  # fmt: skip
    assert (done.returncode, done.stderr) == (
        EXIT_START_ERROR,
        f"jupyter-container-kernels: parameters_file: {tmp_path}/p.json does not hold "
        "{'tasks': [{parameters}, ...]} (a list of objects), as `submit` writes it; submit the "
        "notebook again rather than editing that file.\n",
    )


@pytest.mark.parametrize("content", ["[]", '{"nbformat": 4, "nbformat_minor": 5, "cells": 5}'])
def test_a_file_that_is_not_a_notebook_is_one_line(batch_env, tmp_path, content):
    (tmp_path / "nb.ipynb").write_text(content)
    done = run_executor(
        "--notebook", str(tmp_path / "nb.ipynb"),
        "--kernel", "whatever",
        "--output", str(tmp_path / "out.ipynb"),
    )  # fmt: skip
    assert done.returncode == EXIT_START_ERROR, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith(f"jupyter-container-kernels: notebook: {tmp_path}/nb.ipynb is not")
    assert lines[0].endswith("open and save it in JupyterLab, then submit it again.")
