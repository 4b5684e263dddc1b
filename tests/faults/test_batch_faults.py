"""What a user sees when Slurm, the disk or the server fails around a batch job: a message that
names the cause (and the fix) within seconds, and nothing lost: the job record, its state, the
output notebook, no stray files.

Every test runs on a private single-node Slurm of its own (:mod:`.slurm_private`, reached
through ``SLURM_CONF``), so stopping its controller or purging its jobs never disturbs the
shared cluster other tests use. Jobs are real notebook-mode jobs: the container kernel
(Charliecloud, the ``py-ipykernel`` test image) executes the notebook on the node. The
private clusters answer a dead controller after ``MessageTimeout=2`` (Slurm's default is 10:
``sbatch`` then needs ~9 s to fail and ``squeue`` ~18 s, which ``c.Slurm.timeout`` cuts at 15 s).
Each measured time-to-message goes into the "fault time-to-message" summary.
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from jupyter_container_kernels.batch.records import JobRecord
from jupyter_container_kernels.batch.service import BatchService
from jupyter_container_kernels.batch.states import TERMINAL
from jupyter_container_kernels.errors import SchedulerUnavailableError, SpecError

from .conftest import FAIL_WITHIN
from .slurm_private import ClusterError, PrivateSlurm, cgroup_memory_available

pytestmark = [pytest.mark.system, pytest.mark.timeout(240)]

UNREACHABLE = (
    "Slurm is not reachable: `{command}` says:\n{says}\nThe controller (slurmctld) is down or "
    "this machine is not configured as a Slurm client; try again later or ask your site's "
    "administrators."
)
ERROR_ANCHOR = "container-kernels-error-cell"


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def make_cluster(slurm_cluster: None) -> Iterator[Callable[..., PrivateSlurm]]:
    """``make(**options) -> PrivateSlurm``, started, stopped and deleted after the test.
    (``slurm_cluster``: the shared cluster's start script also starts munged, which is shared.)"""
    made: list[PrivateSlurm] = []

    def make(**options: Any) -> PrivateSlurm:
        options.setdefault("message_timeout", 2)
        cluster = PrivateSlurm(**options)
        made.append(cluster)
        try:
            return cluster.start()
        except ClusterError as exc:
            pytest.fail(f"The private Slurm cluster did not start: {exc}")

    yield make
    for cluster in made:
        cluster.stop()


@pytest.fixture
def cluster(make_cluster: Callable[..., PrivateSlurm]) -> PrivateSlurm:
    return make_cluster()


@pytest.fixture
def kernel(
    jp_environ: None,
    make_container_kernel: Callable[..., str],
    test_image: str,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """A container kernel on the test image; jobs inherit this environment (ch-run needs
    $USER, the executor finds the kernel through JUPYTER_DATA_DIR)."""
    if not os.environ.get("USER"):
        import pwd

        monkeypatch.setenv("USER", pwd.getpwuid(os.getuid()).pw_name)
    return make_container_kernel("jck-faults", {"image": test_image, "runtime": "charliecloud"})


@pytest.fixture
def make_batch(tmp_path: Path, kernel: str) -> Callable[..., BatchService]:
    """``make(cluster, **traits)``: a BatchService (what the server and the CLI use) rooted at
    tmp_path, job records in tmp_path/jobs, on ``cluster``."""

    def make(cluster: PrivateSlurm, **traits: Any) -> BatchService:
        traits.setdefault("jobs_dir", str(tmp_path / "jobs"))
        traits.setdefault("poll_interval", 0.2)
        traits.setdefault("max_poll_interval", 1.0)
        return BatchService(root_dir=str(tmp_path), slurm=cluster.slurm(), **traits)

    return make


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs with no space left (root: ``mount``), unmounted after the test."""
    directory = tmp_path / "full"
    directory.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(directory)],
        check=True,
        capture_output=True,
    )
    try:
        fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            while True:
                os.write(fd, b"x" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        finally:
            os.close(fd)
        yield directory
    finally:
        subprocess.run(["umount", str(directory)], check=False, capture_output=True)


# -- helpers ------------------------------------------------------------------------------------


def write_notebook(path: Path, *cells: str | tuple[str, list[str]], kernel: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": kernel, "display_name": kernel, "language": "python"}
    for cell in cells:
        source, tags = (cell, []) if isinstance(cell, str) else cell
        nb.cells.append(nbformat.v4.new_code_cell(source, metadata={"tags": tags}))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


async def until(check: Callable[[], Any], timeout: float, what: str) -> float:
    """Wait for ``check()`` to be true (every 50 ms); the seconds it took."""
    began = time.monotonic()
    while not check():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - began


def output_of(record: JobRecord, task: int = 0) -> nbformat.NotebookNode:
    return nbformat.read(record.output_notebooks[task], as_version=4)


def status_of(record: JobRecord) -> str | None:
    """The output notebook's provenance status, None while there is none."""
    try:
        return output_of(record).metadata.container_kernels.provenance.status
    except (OSError, ValueError, AttributeError, KeyError):
        return None


def texts(nb: nbformat.NotebookNode) -> list[str]:
    """What each code cell printed."""
    return [
        "".join(o.get("text", "") for o in c.get("outputs", []))
        for c in nb.cells
        if c.cell_type == "code"
    ]


def slurm_state(cluster: PrivateSlurm, job_id: str) -> str:
    """What ``squeue`` says right now (empty once Slurm forgot the job)."""
    out = cluster.run("squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T", check=False)
    return out.strip()


def files_in(directory: Path) -> set[str]:
    return {str(p.relative_to(directory)) for p in directory.rglob("*")}


# -- the controller -----------------------------------------------------------------------------


def test_submitting_while_slurmctld_is_down_says_so_and_leaves_nothing(
    cluster, make_batch, kernel, tmp_path, timed
):
    batch = make_batch(cluster)
    work = tmp_path / "work"
    write_notebook(work / "analysis.ipynb", ("lr = 0.1", ["parameters"]), "lr", kernel=kernel)
    request = batch.request({"notebook": "work/analysis.ipynb", "parameters": {"lr": 0.5}})
    before = files_in(work)
    cluster.stop_controller()

    began = time.monotonic()
    with pytest.raises(SchedulerUnavailableError) as info:
        asyncio.run(batch.submit(request))
    elapsed = time.monotonic() - began
    timed(elapsed)

    assert str(info.value) == UNREACHABLE.format(
        command="sbatch",
        says="sbatch: error: Batch job submission failed: Unable to contact slurm controller "
        "(connect failure)",
    )
    assert elapsed < FAIL_WITHIN
    assert batch.list() == [], "nothing is tracked for a job that was never submitted"
    assert not (tmp_path / "jobs").exists() or not list((tmp_path / "jobs").iterdir())
    assert files_in(work) == before, "no script or parameter file is left behind"


def test_submitting_to_a_hung_slurmctld_keeps_the_files_and_says_what_to_check(
    cluster, make_batch, kernel, tmp_path, timed
):
    # A frozen controller (SIGSTOP: overloaded, swapping) takes the request into its socket
    # buffer and never answers; once it runs again it accepts the job. The submit cannot know:
    # it must say so, and keep the script the job will run.
    batch = make_batch(cluster)
    write_notebook(tmp_path / "work" / "frozen.ipynb", "print('ran')", kernel=kernel)
    request = batch.request({"notebook": "work/frozen.ipynb"})
    ctld = cluster.pid("slurmctld")
    os.kill(ctld, signal.SIGSTOP)
    try:
        began = time.monotonic()
        with pytest.raises(SchedulerUnavailableError) as info:
            asyncio.run(batch.submit(request))
        elapsed = time.monotonic() - began
    finally:
        os.kill(ctld, signal.SIGCONT)
    timed(elapsed)
    message = str(info.value)
    script = next(str(p) for p in (tmp_path / "work").glob("frozen-*.sbatch"))
    assert message.startswith(
        "sbatch lost its connection to slurmctld (sbatch: error: Batch job submission failed: "
        "Socket timed out on send/recv operation), so it is not known whether Slurm accepted "
        f"the job. The job's files are kept: its script is {script}, and looking for it failed "
        "too: "
    ), message
    assert message.endswith(
        "Before submitting again, run `squeue --me --states=all --name=frozen "
        "--Format=JobID,State,Command`: a job whose command is that script is this one (it is "
        f"not tracked here; its outputs go to {tmp_path / 'work'}). If there is none once "
        "Slurm answers again, submit again."
    ), message
    assert (
        "looking for it failed too: Slurm is not reachable: `squeue` says:\nslurm_load_jobs "
        "error: Socket timed out on send/recv operation\n" in message
    )
    assert elapsed < FAIL_WITHIN
    assert batch.list() == []
    # The advice is right: Slurm took the job after all, and it runs the kept script.
    deadline = time.monotonic() + 60
    while not (out := cluster.run("squeue", "-h", "-t", "all", "-o", "%i|%o", check=False)):
        assert time.monotonic() < deadline, "the job Slurm took while frozen never appeared"
        time.sleep(0.2)
    assert out.split("|")[1].strip() == script


def test_slurmctld_down_while_watching_keeps_the_state_says_why_and_concludes_after(
    cluster, make_batch, kernel, tmp_path, timed
):
    batch = make_batch(cluster)
    write_notebook(
        tmp_path / "long.ipynb",
        "print('one')",
        "import time; time.sleep(6)",
        "print('two')",
        kernel=kernel,
    )

    async def scenario() -> JobRecord:
        job = await batch.submit(batch.request({"notebook": "long.ipynb"}))
        batch.watcher.start()
        try:
            await until(lambda: batch.get(job.id).state == "RUNNING", 60, "running")
            await asyncio.to_thread(cluster.stop_controller)
            elapsed = await until(lambda: batch.watcher.last_error, 10, "the watcher's error")
            timed(elapsed)
            assert elapsed < FAIL_WITHIN
            assert batch.watcher.last_error == UNREACHABLE.format(
                command="squeue",
                says="slurm_load_jobs error: Unable to contact slurm controller (connect failure)",
            )
            # Down for longer than the job's last cell, and for more rounds than it takes
            # to give up on a job Slurm does not know: an unreachable Slurm is not a lost job.
            await asyncio.sleep(9)
            record = batch.get(job.id)
            assert (record.state, record.reason, record.exit_code) == ("RUNNING", None, None)
            saved = json.loads((tmp_path / "jobs" / f"{job.id}.json").read_text())
            assert saved["state"] == "RUNNING"
            assert batch.watcher.missing == {}

            await asyncio.to_thread(cluster.start_controller)
            # slurmd reports the job's end again when it retries (Slurm's own back-off, ~10 s
            # here); from then on the watcher must see it within seconds.
            slurm_done = await until(
                lambda: slurm_state(cluster, job.id) == "COMPLETED", 90, "Slurm's COMPLETED"
            )
            lag = await until(lambda: batch.get(job.id).terminal, 10, "concluded")
            print(
                f"Slurm had the job COMPLETED {slurm_done:.2f} s after slurmctld came back; "
                f"the record {lag:.2f} s later"
            )
            assert lag < FAIL_WITHIN
            assert batch.watcher.last_error is None
            return batch.get(job.id)
        finally:
            await batch.watcher.stop()

    record = asyncio.run(scenario())
    assert (record.state, record.exit_code) == ("COMPLETED", 0), batch.log_tail(record)
    assert status_of(record) == "completed"
    assert texts(output_of(record)) == ["one\n", "", "two\n"]


# -- the job is stopped from outside ------------------------------------------------------------


def _interrupted_banner(cell: int) -> str:
    return (
        '<span style="color:red; font-size:2em">The batch job was interrupted at '
        f'<a href="#{ERROR_ANCHOR}">cell {cell}</a>: Interrupted: the job was cancelled or hit '
        "its time limit (SIGTERM)</span>"
    )


def _assert_interrupted_in_the_sleep(record: JobRecord) -> None:
    out = output_of(record)
    provenance = out.metadata.container_kernels.provenance
    assert provenance.status == "interrupted"
    assert provenance.error.ename == "Interrupted"
    assert provenance.error.evalue == "the job was cancelled or hit its time limit (SIGTERM)"
    assert out.cells[0].source == _interrupted_banner(2)
    assert out.cells[1].source == "print('first')"
    assert "The batch run was interrupted at the next cell." in out.cells[2].source
    assert out.cells[3].source == "import time; time.sleep(300)"
    assert texts(out)[0] == "first\n", "the finished cell's output is kept"


def test_a_job_cancelled_from_a_terminal_is_cancelled_and_its_notebook_says_interrupted(
    cluster, make_batch, kernel, tmp_path, timed
):
    batch = make_batch(cluster)
    write_notebook(
        tmp_path / "long.ipynb", "print('first')", "import time; time.sleep(300)", kernel=kernel
    )

    async def scenario() -> JobRecord:
        job = await batch.submit(batch.request({"notebook": "long.ipynb"}))
        batch.watcher.start()
        try:
            await until(
                lambda: (
                    status_of(batch.get(job.id)) == "running"
                    and texts(output_of(batch.get(job.id)))[0] == "first\n"
                ),
                90,
                "the first cell's output",
            )
            assert batch.get(job.id).state == "RUNNING"
            await asyncio.to_thread(cluster.run, "scancel", job.id)  # as a user in a terminal
            began = time.monotonic()
            elapsed = await until(lambda: batch.get(job.id).terminal, 10, "cancelled")
            timed(elapsed)
            assert elapsed < FAIL_WITHIN
            record = batch.get(job.id)
            await until(lambda: status_of(record) == "interrupted", 10, "notebook interrupted")
            print(f"notebook marked {time.monotonic() - began:.2f} s after scancel")
            return record
        finally:
            await batch.watcher.stop()

    record = asyncio.run(scenario())
    assert record.state == "CANCELLED"
    _assert_interrupted_in_the_sleep(record)


@pytest.mark.slow
def test_a_job_over_its_time_limit_is_timeout_and_its_notebook_says_interrupted(
    cluster, make_batch, kernel, tmp_path, timed
):
    # Slurm's smallest limit is one minute and slurmctld checks limits every ~30 s (with
    # OverTimeLimit=0, KillWait=2 here): this runs 60-95 s.
    batch = make_batch(cluster)
    write_notebook(
        tmp_path / "long.ipynb", "print('first')", "import time; time.sleep(300)", kernel=kernel
    )

    async def scenario() -> JobRecord:
        job = await batch.submit(
            batch.request({"notebook": "long.ipynb", "resources": {"time": "1"}})
        )
        batch.watcher.start()
        try:
            await until(lambda: batch.get(job.id).state == "RUNNING", 60, "running")
            limit = await until(
                lambda: slurm_state(cluster, job.id) == "TIMEOUT", 150, "Slurm's TIMEOUT"
            )
            print(f"Slurm said TIMEOUT {limit:.1f} s after the job started running")
            elapsed = await until(lambda: batch.get(job.id).terminal, 10, "the record's TIMEOUT")
            timed(elapsed)
            assert elapsed < FAIL_WITHIN
            record = batch.get(job.id)
            await until(lambda: status_of(record) == "interrupted", 10, "notebook interrupted")
            return record
        finally:
            await batch.watcher.stop()

    record = asyncio.run(scenario())
    assert record.state == "TIMEOUT"
    _assert_interrupted_in_the_sleep(record)


def test_a_job_over_its_memory_is_out_of_memory_and_its_notebook_says_the_kernel_died(
    make_cluster, make_batch, kernel, tmp_path, timed
):
    why_not = cgroup_memory_available()
    if why_not:
        pytest.fail(f"Slurm cannot enforce memory limits on this machine: {why_not}")
    cluster = make_cluster(cgroup=True)
    batch = make_batch(cluster)
    write_notebook(
        tmp_path / "big.ipynb",
        "print('small')",
        "x = bytearray(1024**3)",
        "print('never')",
        kernel=kernel,
    )

    async def scenario() -> JobRecord:
        job = await batch.submit(
            batch.request({"notebook": "big.ipynb", "resources": {"mem": "400M"}})
        )
        batch.watcher.start()
        try:
            await until(
                lambda: slurm_state(cluster, job.id) not in ("PENDING", "RUNNING", ""),
                90,
                "the job's end",
            )
            elapsed = await until(lambda: batch.get(job.id).terminal, 10, "the record's end")
            timed(elapsed)
            assert elapsed < FAIL_WITHIN
            record = batch.get(job.id)
            await until(lambda: status_of(record) not in (None, "running"), 10, "notebook end")
            return record
        finally:
            await batch.watcher.stop()

    record = asyncio.run(scenario())
    assert record.state == "OUT_OF_MEMORY", batch.log_tail(record)
    out = output_of(record)
    provenance = out.metadata.container_kernels.provenance
    assert provenance.status == "failed"
    assert provenance.error.evalue.startswith("the kernel stopped: "), provenance.error
    assert texts(out)[0] == "small\n"
    assert "Detected 1 oom-kill event" in batch.log_tail(record)


# -- the server ---------------------------------------------------------------------------------


def test_a_server_restart_mid_job_keeps_record_state_and_notebook_and_concludes_after(
    cluster, make_batch, kernel, tmp_path, timed
):
    write_notebook(
        tmp_path / "short.ipynb",
        "print('one')",
        "import time; time.sleep(4)",
        "print('two')",
        kernel=kernel,
    )
    first = make_batch(cluster)

    async def before_restart() -> str:
        job = await first.submit(first.request({"notebook": "short.ipynb"}))
        first.watcher.start()
        try:
            await until(lambda: status_of(first.get(job.id)) == "running", 90, "running")
        finally:
            await first.watcher.stop()  # the server goes down with the job running
        return job.id

    job_id = asyncio.run(before_restart())
    record_file = tmp_path / "jobs" / f"{job_id}.json"
    saved = record_file.read_text()
    assert json.loads(saved)["state"] == "RUNNING"
    # The job ends while no server runs.
    deadline = time.monotonic() + 60
    while slurm_state(cluster, job_id) != "COMPLETED":
        assert time.monotonic() < deadline, slurm_state(cluster, job_id)
        time.sleep(0.2)

    second = make_batch(cluster)  # a new server process: same jobs directory, nothing in memory
    record = second.get(job_id)
    assert record.to_json() == json.loads(saved), "the record is read back as it was saved"
    assert [r.id for r in second.list()] == [job_id]

    async def after_restart() -> float:
        second.watcher.start()
        try:
            return await until(lambda: second.get(job_id).terminal, 10, "concluded")
        finally:
            await second.watcher.stop()

    elapsed = asyncio.run(after_restart())
    timed(elapsed)
    assert elapsed < FAIL_WITHIN
    record = second.get(job_id)
    assert (record.state, record.exit_code, record.reason) == ("COMPLETED", 0, None)
    assert json.loads(record_file.read_text())["state"] == "COMPLETED"
    assert status_of(record) == "completed"
    assert texts(output_of(record)) == ["one\n", "", "two\n"]


def test_a_corrupt_job_record_is_named_in_a_warning_and_other_jobs_are_unaffected(
    cluster, make_batch, kernel, tmp_path, caplog, timed
):
    write_notebook(tmp_path / "ok.ipynb", "print('ok')", kernel=kernel)
    first = make_batch(cluster)
    job_id = asyncio.run(first.submit(first.request({"notebook": "ok.ipynb"}))).id
    bad = tmp_path / "jobs" / "4242.json"
    bad.write_text('{"id": "4242", "state": "RUNN')  # cut off, as by a full disk or a crash

    caplog.set_level(logging.WARNING)
    began = time.monotonic()
    second = make_batch(cluster)  # the server starts with the bad file there
    assert [r.id for r in second.list()] == [job_id]
    timed(time.monotonic() - began)
    warnings = {r.getMessage() for r in caplog.records if r.levelno == logging.WARNING}
    assert warnings == {
        f"Skipping unreadable job record {bad}: Unterminated string starting at: "
        "line 1 column 25 (char 24)"
    }

    async def watch() -> None:
        second.watcher.start()
        try:
            await until(lambda: second.get(job_id).terminal, 90, "the good job's end")
        finally:
            await second.watcher.stop()

    asyncio.run(watch())
    assert second.get(job_id).state == "COMPLETED"
    assert second.watcher.last_error is None
    assert bad.read_text() == '{"id": "4242", "state": "RUNN', "the bad file is left for a human"


def test_a_job_record_that_is_json_but_not_a_record_is_skipped_with_a_warning(
    cluster, make_batch, kernel, tmp_path, caplog
):
    write_notebook(tmp_path / "ok.ipynb", "print('ok')", kernel=kernel)
    first = make_batch(cluster)
    job_id = asyncio.run(first.submit(first.request({"notebook": "ok.ipynb"}))).id
    bad = tmp_path / "jobs" / "4243.json"
    bad.write_text("[]")
    caplog.set_level(logging.WARNING)
    second = make_batch(cluster)
    assert [r.id for r in second.list()] == [job_id]
    assert any(str(bad) in r.getMessage() for r in caplog.records)


# -- the disk -----------------------------------------------------------------------------------


def test_a_full_output_directory_is_named_and_nothing_is_submitted(
    cluster, make_batch, kernel, tmp_path, full_disk, timed
):
    batch = make_batch(cluster)
    write_notebook(tmp_path / "analysis.ipynb", ("lr = 0.1", ["parameters"]), kernel=kernel)
    request = batch.request(
        {"notebook": "analysis.ipynb", "output_dir": "full", "parameters": {"lr": 0.5}}
    )
    began = time.monotonic()
    with pytest.raises(SpecError) as info:
        asyncio.run(batch.submit(request))
    elapsed = time.monotonic() - began
    timed(elapsed)
    assert str(info.value) == (
        f"output_dir: cannot write into {str(full_disk)!r}: No space left on device; choose a "
        "directory you can write to."
    )
    assert elapsed < FAIL_WITHIN
    assert batch.slurm.calls["sbatch"] == 0, "no job was submitted"
    assert cluster.run("squeue", "-h", "-t", "all").strip() == ""
    assert batch.list() == []


def test_a_full_output_directory_is_left_as_it_was(
    cluster, make_batch, kernel, tmp_path, full_disk
):
    batch = make_batch(cluster)
    write_notebook(tmp_path / "analysis.ipynb", ("lr = 0.1", ["parameters"]), kernel=kernel)
    request = batch.request(
        {"notebook": "analysis.ipynb", "output_dir": "full", "parameters": {"lr": 0.5}}
    )
    with pytest.raises(SpecError):
        asyncio.run(batch.submit(request))
    assert files_in(full_disk) == {"filler"}, "nothing half-written is left"


# -- concurrency --------------------------------------------------------------------------------


def test_two_concurrent_submits_of_one_notebook_are_two_jobs_with_their_own_files(
    cluster, make_batch, kernel, tmp_path
):
    batch = make_batch(cluster)
    write_notebook(tmp_path / "same.ipynb", ("n = 1", ["parameters"]), "print(n)", kernel=kernel)
    request = batch.request({"notebook": "same.ipynb", "parameters": {"n": 7}})

    async def scenario() -> list[JobRecord]:
        records = await asyncio.gather(batch.submit(request), batch.submit(request))
        batch.watcher.start()
        try:
            ids = [r.id for r in records]
            await until(lambda: all(batch.get(i).terminal for i in ids), 120, "both ended")
        finally:
            await batch.watcher.stop()
        return [batch.get(r.id) for r in records]

    one, two = asyncio.run(scenario())
    assert one.id != two.id
    assert one.script_path != two.script_path
    assert one.output_notebooks != two.output_notebooks
    assert one.log_path != two.log_path
    for record in (one, two):
        assert (record.state, record.exit_code) == ("COMPLETED", 0), batch.log_tail(record)
        out = output_of(record)
        assert out.metadata.container_kernels.provenance.slurm.job_id == record.id
        assert texts(out)[-1] == "7\n"
    params = sorted(p.name for p in tmp_path.glob("same-*.params.json"))
    assert len(params) == 2, params


def test_two_submits_whose_file_names_collide_are_both_submitted(
    cluster, make_batch, kernel, tmp_path, monkeypatch
):
    from jupyter_container_kernels.batch import prepare

    # The collision is made certain by fixing the one random part of the name.
    monkeypatch.setattr(prepare, "_stamp", lambda: "20260101T000000-abcd")
    batch = make_batch(cluster)
    write_notebook(tmp_path / "same.ipynb", "print(1)", kernel=kernel)
    request = batch.request({"notebook": "same.ipynb"})

    async def both() -> list[JobRecord]:
        return list(await asyncio.gather(batch.submit(request), batch.submit(request)))

    one, two = asyncio.run(both())
    assert one.id != two.id and one.script_path != two.script_path


# -- Slurm forgot the job -----------------------------------------------------------------------


def test_a_job_slurm_has_forgotten_is_concluded_from_accounting(
    make_cluster, make_batch, kernel, tmp_path, timed
):
    cluster = make_cluster(accounting=True, min_job_age=2)
    batch = make_batch(cluster)
    write_notebook(tmp_path / "ok.ipynb", "print('ok')", kernel=kernel)
    write_notebook(tmp_path / "bad.ipynb", "1 / 0", kernel=kernel)
    # The server is down while both jobs run, end and are purged by slurmctld (MinJobAge=2).
    ok = asyncio.run(batch.submit(batch.request({"notebook": "ok.ipynb"}))).id
    bad = asyncio.run(batch.submit(batch.request({"notebook": "bad.ipynb"}))).id
    deadline = time.monotonic() + 150
    while slurm_state(cluster, ok) or slurm_state(cluster, bad):
        assert time.monotonic() < deadline, "slurmctld did not purge the finished jobs"
        time.sleep(0.5)
    # The output notebooks would tell too: take them away, so only accounting can.
    for job in (ok, bad):
        os.unlink(batch.get(job).output_notebooks[0])

    began = time.monotonic()
    asyncio.run(batch.refresh())
    elapsed = time.monotonic() - began
    timed(elapsed)
    assert elapsed < FAIL_WITHIN
    assert {k: v for k, v in batch.slurm.calls.items() if v} == {
        "sbatch": 2,
        "squeue": 1,
        "sacct": 1,
    }, "one squeue for both, one sacct for the ids it did not know"
    done, failed = batch.get(ok), batch.get(bad)
    assert (done.state, done.exit_code, done.reason) == ("COMPLETED", 0, None)
    assert (failed.state, failed.exit_code, failed.reason) == ("FAILED", 1, None)
    assert done.started and done.ended and failed.ended
    assert all(r.state in TERMINAL for r in batch.list())
