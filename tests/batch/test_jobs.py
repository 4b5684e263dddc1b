"""Job records: truthful states from what Slurm reports, arrays per task, records on disk."""

from __future__ import annotations

import json
from datetime import datetime

import nbformat
import pytest

from jupyter_container_kernels.batch.records import JobRecord, JobStore, TaskRecord
from jupyter_container_kernels.batch.slurm import (
    JobState,
    parse_sacct,
    parse_squeue,
)
from jupyter_container_kernels.batch.states import apply_states, finish_from_outputs, mark_lost
from jupyter_container_kernels.errors import NotFoundError
from jupyter_container_kernels.paths import RootDirectory


def record(job_id: str = "7", tasks: int = 0, **kw) -> JobRecord:
    return JobRecord(
        id=job_id,
        name="nb",
        notebook="/home/a/nb.ipynb",
        kernel="k",
        mode="notebook",
        output_dir="/home/a",
        script_path="/home/a/nb.sbatch",
        log_path="/home/a/nb-7.log",
        output_notebooks=["/home/a/nb-7.ipynb"],
        array_size=tasks or None,
        tasks=[TaskRecord(index=i) for i in range(tasks)],
        **kw,
    )


def state(state: str, task: int | None = None, reason: str | None = None, code: int | None = 0):
    return JobState(
        "7",
        task,
        state,
        reason,
        code,
        "2026-01-02T03:04:05",
        None if state == "PENDING" else "2026-01-02T03:05:00",
        "2026-01-02T03:06:00" if state not in ("PENDING", "RUNNING") else None,
    )


@pytest.mark.parametrize(
    "slurm_state,code",
    [
        ("COMPLETED", 0),
        ("FAILED", 1),
        ("CANCELLED", 143),
        ("TIMEOUT", 143),
        ("OUT_OF_MEMORY", 137),
        ("NODE_FAIL", 1),
    ],
)
def test_end_states_are_reported_as_slurm_says_with_the_exit_code(slurm_state, code):
    job = record()
    assert apply_states(job, [state(slurm_state, code=code)])
    assert (job.state, job.exit_code, job.terminal) == (slurm_state, code, True)
    assert datetime.fromisoformat(job.ended).tzinfo is not None, "ISO 8601 with the UTC offset"


def test_pending_keeps_its_reason_and_has_no_exit_code_yet():
    job = record()
    apply_states(job, [state("PENDING", reason="Resources")])
    assert (job.state, job.reason, job.exit_code, job.started) == (
        "PENDING",
        "Resources",
        None,
        None,
    )
    assert not apply_states(job, [state("PENDING", reason="Resources")]), "no change, no write"


def test_an_array_is_running_while_any_task_runs_and_reports_each_task():
    job = record(tasks=3)
    apply_states(
        job, [state("COMPLETED", 0), state("RUNNING", 1), state("PENDING", 2, "Resources")]
    )
    assert job.state == "RUNNING"
    assert [t.state for t in job.tasks] == ["COMPLETED", "RUNNING", "PENDING"]
    assert job.exit_code is None


def test_a_finished_array_reports_its_worst_task():
    job = record(tasks=3)
    apply_states(
        job,
        [state("COMPLETED", 0), state("FAILED", 1, "NonZeroExitCode", 1), state("COMPLETED", 2)],
    )
    assert (job.state, job.exit_code, job.reason) == ("FAILED", 1, "NonZeroExitCode")
    job = record(tasks=2)
    apply_states(job, [state("COMPLETED", 0), state("COMPLETED", 1)])
    assert (job.state, job.exit_code) == ("COMPLETED", 0)


def provenance_notebook(path, status: str) -> str:
    nb = nbformat.v4.new_notebook()
    nb.metadata["container_kernels"] = {"provenance": {"status": status}}
    nbformat.write(nb, str(path))
    return str(path)


@pytest.mark.parametrize(
    "status,slurm_state,code",
    [("completed", "COMPLETED", 0), ("failed", "FAILED", 1), ("interrupted", "CANCELLED", None)],
)
def test_a_job_slurm_forgot_is_concluded_from_its_output_notebook(
    tmp_path, status, slurm_state, code
):
    job = record()
    job.output_notebooks = [provenance_notebook(tmp_path / "out.ipynb", status)]
    assert finish_from_outputs(job)
    assert (job.state, job.exit_code, job.terminal) == (slurm_state, code, True)
    assert "output notebook" in job.reason


def test_outputs_that_do_not_say_the_job_ended_conclude_nothing(tmp_path):
    running = record()
    running.output_notebooks = [provenance_notebook(tmp_path / "out.ipynb", "running")]
    lost = record()
    lost.output_notebooks = [str(tmp_path / "never-written.ipynb")]
    for job in (running, lost):
        assert not finish_from_outputs(job), "a miss may be transient: the watcher counts them"
        assert (job.state, job.terminal) == ("PENDING", False)

    assert mark_lost(lost)
    assert (lost.state, lost.exit_code) == ("UNKNOWN", None)
    assert lost.reason == "Slurm no longer knows this job and its outputs do not say how it ended"


def test_array_tasks_are_concluded_one_by_one_from_their_outputs(tmp_path):
    job = record(tasks=2)
    job.tasks[0].output_notebook = provenance_notebook(tmp_path / "t0.ipynb", "completed")
    job.tasks[1].output_notebook = str(tmp_path / "t1-never-written.ipynb")
    assert finish_from_outputs(job)
    assert [t.state for t in job.tasks] == ["COMPLETED", "PENDING"]
    assert not job.terminal
    mark_lost(job)
    assert [t.state for t in job.tasks] == ["COMPLETED", "UNKNOWN"]
    assert job.state == "UNKNOWN"


def test_records_are_written_atomically_and_read_back_by_another_process(tmp_path):
    store = JobStore(tmp_path / "jobs")
    job = record(tasks=2)
    store.save(job)
    assert [p.name for p in (tmp_path / "jobs").iterdir()] == ["7.json"], "no temp files left"
    assert json.loads((tmp_path / "jobs" / "7.json").read_text())["tasks"][1]["index"] == 1

    other = JobStore(tmp_path / "jobs")  # the CLI, or a restarted server
    assert other.get("7") == job
    job.state = "RUNNING"
    store.save(job)
    other.reload()
    assert other.get("7").state == "RUNNING"
    with pytest.raises(NotFoundError, match="jobs"):
        other.get("8")


def test_the_rest_shape_uses_paths_relative_to_the_root():
    api = record(tasks=1).api(RootDirectory("/home/a").display)
    assert api["notebook"] == "nb.ipynb"
    assert api["tasks"][0]["index"] == 0
    assert set(api) >= {
        "id",
        "name",
        "state",
        "reason",
        "exit_code",
        "submitted",
        "started",
        "ended",
        "notebook",
        "kernel",
        "output_notebooks",
        "log_path",
        "array_size",
        "tasks",
    }


def test_squeue_rows_become_states_per_job_and_per_array_task():
    # real `squeue --array --states=all --Format=...:|` output of a failed job and a 2-task array
    # (the last four columns, NodeList, TimeLeft, TimeLimit and Comment, serve node kernels; a
    # comment may hold '|')
    stdout = (
        "1|1|N/A|FAILED|NonZeroExitCode|768|2026-11-21T06:01:59|2026-11-21T06:02:00|"
        "2026-11-21T06:02:00|vm|INVALID|UNLIMITED||\n"
        "13|12|0|CANCELLED|None|15|2026-11-21T06:02:05|2026-11-21T06:02:06|"
        "2026-11-21T06:02:08|vm|INVALID|UNLIMITED||\n"
        "12|12|1|RUNNING|None|0|2026-11-21T06:02:05|2026-11-21T06:02:06|NONE|vm|1:59:12|"
        "2:00:00|a|b|\n"
    )
    states = parse_squeue(stdout)
    assert states["1"] == [
        JobState(
            "1",
            None,
            "FAILED",
            "NonZeroExitCode",
            3,
            "2026-11-21T06:01:59",
            "2026-11-21T06:02:00",
            "2026-11-21T06:02:00",
            nodes="vm",
            time_left="INVALID",
            time_limit="UNLIMITED",
        )
    ]
    cancelled, running = states["12"]
    assert (cancelled.task, cancelled.state, cancelled.exit_code) == (0, "CANCELLED", 128 + 15)
    assert (running.task, running.state, running.ended) == (1, "RUNNING", None)
    assert (running.time_left, running.time_limit, running.comment) == ("1:59:12", "2:00:00", "a|b")


def test_sacct_rows_become_states_when_accounting_is_there():
    stdout = (
        "5|5|OUT_OF_MEMORY|0:125|None|2026-01-02T03:04:05|2026-01-02T03:04:06|2026-01-02T03:05:00\n"
        "6_1|8|CANCELLED by 0|0:15|None|2026-01-02T03:04:05|2026-01-02T03:04:06|"
        "2026-01-02T03:05:00\n"
        "7|7|PENDING|0:0|Priority|2026-01-02T03:04:05|Unknown|Unknown\n"
    )
    states = parse_sacct(stdout)
    assert states["5"][0].state == "OUT_OF_MEMORY"
    assert (states["6"][0].task, states["6"][0].state, states["6"][0].exit_code) == (
        1,
        "CANCELLED",
        143,
    )
    assert (states["7"][0].reason, states["7"][0].started) == ("Priority", None)
