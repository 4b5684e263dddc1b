"""Batch jobs on a real single-node Slurm, run by the container kernel (Charliecloud + test
image), tracked by the one watcher."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import psutil
import pytest

from jupyter_container_kernels.batch.records import JobRecord, JobStore
from jupyter_container_kernels.batch.service import BatchService
from jupyter_container_kernels.batch.slurm import Slurm
from jupyter_container_kernels.batch.states import TERMINAL
from jupyter_container_kernels.batch.watcher import JobWatcher
from jupyter_container_kernels.errors import (
    ImageError,
    NotFoundError,
    SchedulerError,
    SchedulerUnavailableError,
    SpecError,
)
from jupyter_container_kernels.site import SiteConfig

from .conftest import cell_text, read_output, wait_until, write_notebook

pytestmark = pytest.mark.timeout(240)

SHOW_ENV = "import os\nprint(os.environ.get('CUDA_VISIBLE_DEVICES', 'unset'))"


def submit(batch: BatchService, **request) -> str:
    return asyncio.run(batch.submit(batch.request(request))).id


def test_a_notebook_runs_to_completed_with_outputs_and_provenance(
    batch, container_kernel, tmp_path, test_image
):
    write_notebook(
        tmp_path / "analysis.ipynb",
        ("scale = 1", ["parameters"]),
        "import sys\nprint(open('/etc/jck-test-image').read().strip(), sys.version_info[0])",
        "scale * 21",
        kernel=container_kernel,
    )
    job_id = submit(batch, notebook="analysis.ipynb", parameters={"scale": 2})

    record = wait_until(batch, job_id)
    assert (record.state, record.exit_code) == ("COMPLETED", 0), batch.log_tail(record)
    assert record.started and record.ended and record.submitted
    out = read_output(record.output_notebooks[0])
    code = [c for c in out.cells if c.cell_type == "code"]
    assert cell_text(code[2]) == "py-ipykernel 3\n", "ran inside the image"
    assert cell_text(code[3]) == "42", "the injected parameter won"
    provenance = out.metadata.container_kernels.provenance
    assert provenance.status == "completed"
    assert provenance.slurm.job_id == job_id
    assert provenance.host and provenance.started <= provenance.ended
    assert provenance.container.image == test_image
    assert provenance.container.runtime == "charliecloud"
    assert provenance.container.image_identity["kind"] == "directory"
    assert provenance.kernel == container_kernel
    assert batch.api(record)["output_notebooks"] == [f"analysis-{job_id}.ipynb"]


def test_a_failing_notebook_is_failed_with_an_error_notebook(batch, container_kernel, tmp_path):
    write_notebook(
        tmp_path / "broken.ipynb", "x = 1", "1 / 0", "print('never runs')", kernel=container_kernel
    )
    job_id = submit(batch, notebook="broken.ipynb")

    record = wait_until(batch, job_id)
    assert (record.state, record.exit_code) == ("FAILED", 1)
    out = read_output(record.output_notebooks[0])
    banner = out.cells[0]
    assert banner.cell_type == "markdown" and "ZeroDivisionError" in banner.source
    marker = next(
        i for i, c in enumerate(out.cells) if 'id="container-kernels-error-cell"' in c.source
    )
    failing = out.cells[marker + 1]
    assert failing.source == "1 / 0"
    assert failing.outputs[0].output_type == "error", "the failing cell keeps its traceback"
    assert out.cells[-1].outputs == [], "nothing ran after the failure"
    assert out.metadata.container_kernels.provenance.error.ename == "ZeroDivisionError"
    assert "ZeroDivisionError" in batch.api(record, with_log=True)["log_tail"]


def test_a_pending_job_is_cancelled(make_batch, slurm_cluster, container_kernel, tmp_path):
    # The site allows --begin, which keeps the job pending for an hour.
    batch = make_batch(extra_directives={"begin": r"now\+[0-9]+(minutes|hours?)"})
    write_notebook(tmp_path / "later.ipynb", "1", kernel=container_kernel)
    job_id = submit(batch, notebook="later.ipynb", resources={"begin": "now+1hour"})
    record = wait_until(batch, job_id, {"PENDING"})
    assert record.reason in (None, "BeginTime")

    record = asyncio.run(batch.cancel(job_id))
    if record.state != "CANCELLED":
        record = wait_until(batch, job_id)
    assert record.state == "CANCELLED"
    assert not Path(record.output_notebooks[0]).exists(), "it never ran"


def job_kernels(job_id: str) -> list[psutil.Process]:
    """The ipykernel processes started for Slurm job ``job_id``: descendants of its processes."""
    kernels = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("SLURM_JOB_ID") != job_id:
                continue
            for child in proc.children(recursive=True):
                if "ipykernel_launcher" in " ".join(child.cmdline()):
                    kernels.append(child)
        except psutil.Error:
            continue
    return kernels


def test_a_running_job_shows_progress_and_is_cancelled_cleanly(batch, container_kernel, tmp_path):
    write_notebook(
        tmp_path / "long.ipynb",
        "print('first cell done')",
        "import time; time.sleep(300)",
        kernel=container_kernel,
    )
    job_id = submit(batch, notebook="long.ipynb")
    record = wait_until(batch, job_id, {"RUNNING"} | TERMINAL)
    assert record.state == "RUNNING"
    output = Path(record.output_notebooks[0])
    deadline = time.monotonic() + 60
    while not output.exists() or "first cell done" not in cell_text(
        read_output(str(output)).cells[0]
    ):
        assert time.monotonic() < deadline, (
            "the output notebook was not written after the first cell"
        )
        time.sleep(0.3)
    kernels = job_kernels(job_id)
    assert kernels, "the job's kernel runs while the cell sleeps"

    assert asyncio.run(batch.cancel(job_id)).id == job_id
    record = wait_until(batch, job_id)
    assert record.state == "CANCELLED"

    out = read_output(str(output))
    provenance = out.metadata.container_kernels.provenance
    assert provenance.status == "interrupted", "the executor handled SIGTERM (not 'running')"
    assert provenance.error.ename == "Interrupted" and provenance.ended
    assert "cancelled or hit its time limit" in provenance.error.evalue
    assert "interrupted" in out.cells[0].source and "time limit" in out.cells[0].source
    marker = next(
        i for i, c in enumerate(out.cells) if 'id="container-kernels-error-cell"' in c.source
    )
    assert out.cells[marker + 1].source == "import time; time.sleep(300)", "it names the cell"
    leftovers = [p for p in kernels if p.is_running()]  # is_running checks the pid was not reused
    assert not leftovers, f"the kernel was left running: {[p.cmdline() for p in leftovers]}"
    assert asyncio.run(batch.slurm.cancel(job_id)) is False, "Slurm: already completed"


def test_a_sweep_of_three_is_one_array_with_three_output_notebooks(
    batch, container_kernel, tmp_path
):
    write_notebook(
        tmp_path / "sweep.ipynb",
        ("lr = 0.0", ["parameters"]),
        "print(f'lr={lr}')",
        kernel=container_kernel,
    )
    job_id = submit(batch, notebook="sweep.ipynb", sweep={"lr": [0.1, 0.01, 0.001]})

    record = wait_until(batch, job_id, timeout=180)
    assert (record.state, record.array_size) == ("COMPLETED", 3), (
        record.tasks,
        batch.log_tail(record),
    )
    assert [t.state for t in record.tasks] == ["COMPLETED"] * 3
    printed = [cell_text(read_output(p).cells[2]) for p in record.output_notebooks]
    assert printed == ["lr=0.1\n", "lr=0.01\n", "lr=0.001\n"]
    assert [Path(p).name for p in record.output_notebooks] == [
        f"sweep-{job_id}_{i}.ipynb" for i in range(3)
    ]


def test_a_gres_gpu_job_sees_its_gpu_in_the_container(batch, container_kernel, tmp_path):
    write_notebook(tmp_path / "gpu.ipynb", SHOW_ENV, kernel=container_kernel)
    job_id = submit(batch, notebook="gpu.ipynb", resources={"partition": "gpu", "gres": "gpu:1"})

    record = wait_until(batch, job_id)
    assert record.state == "COMPLETED", batch.log_tail(record)
    out = read_output(record.output_notebooks[0])
    assert cell_text(out.cells[0]).strip() in ("0", "1")
    assert out.metadata.container_kernels.provenance.slurm.cuda_visible_devices in ("0", "1")


def test_script_mode_runs_the_runtime_directly_with_modules(
    make_batch, slurm_cluster, lmod_env, make_container_kernel, test_image, tmp_path
):
    """Apptainer (the stand-in) comes from an Lmod module loaded in the job script itself."""
    kernel = make_container_kernel(
        "jck-apptainer",
        {
            "image": test_image,
            "runtime": "apptainer",
            "modules": ["apptainer/1.3"],
            "env": {"GREETING": 'it\'s "quoted" $(not run)'},
        },
    )
    write_notebook(
        tmp_path / "script.ipynb",
        ("n = 1", ["parameters"]),
        "%matplotlib inline",
        "import os\nprint(n, os.environ['GREETING'], os.environ.get('JCK_STANDIN_GPU'))",
        kernel=kernel,
    )
    batch = make_batch()
    job_id = submit(batch, notebook="script.ipynb", mode="script", parameters={"n": 7})

    record = wait_until(batch, job_id)
    assert record.state == "COMPLETED", batch.log_tail(record)
    assert record.output_notebooks == []
    assert '7 it\'s "quoted" $(not run) None' in batch.log_tail(record)
    assert "quoted" not in Path(record.script_path).read_text(), "env values stay out of the script"


@pytest.mark.parametrize("mode", ["notebook", "script"])
def test_hostile_paths_run_for_real(batch, container_kernel, tmp_path, mode):
    folder = tmp_path / "d ir 'q' \"dq\" $(touch PWNED) `touch PWNED` ünï ✓"
    notebook = write_notebook(
        folder / "nb '; echo INJECTED; '\n2.ipynb",
        ("word = ''", ["parameters"]),
        "print(word)",
        kernel=container_kernel,
    )
    hostile_value = '\'; touch PWNED; echo "$(id)" `id`\n'
    job_id = submit(
        batch,
        notebook=str(notebook.relative_to(tmp_path)),
        mode=mode,
        parameters={"word": hostile_value},
    )

    record = wait_until(batch, job_id)
    assert record.state == "COMPLETED", batch.log_tail(record)
    if mode == "notebook":
        assert cell_text(read_output(record.output_notebooks[0]).cells[2]) == hostile_value + "\n"
    else:
        assert hostile_value in batch.log_tail(record) + "\n"
    assert not list(tmp_path.rglob("PWNED")) and not (Path.home() / "PWNED").exists()
    assert "INJECTED\n" not in batch.log_tail(record)


def test_paths_sbatch_cannot_carry_are_refused_naming_the_field(batch, container_kernel, tmp_path):
    write_notebook(tmp_path / "ok.ipynb", "1", kernel=container_kernel)
    for bad in ("new\nline", "back\\slash", "100%"):
        with pytest.raises(SpecError) as info:
            batch.preview(batch.request({"notebook": "ok.ipynb", "output_dir": bad}))
        assert info.value.field == "output_dir"


@pytest.mark.parametrize(
    "request_",
    [
        {"mode": "notebook"},
        {"mode": "notebook", "sweep": {"x": [1, 2]}},
        {"mode": "script"},
        {"mode": "script", "sweep": {"x": [1, 2]}},
        {"mode": "script", "template": "mpi", "resources": {"ntasks": 2}},
        {
            "mode": "script",
            "template": "torchrun",
            "resources": {"nodes": 1, "partition": "gpu", "gres": "gpu:2"},
        },
        {
            "output_dir": "runs/a b 'c' ünï",
            "resources": {"time": "10:00", "mem": "100M", "cpus_per_task": 1},
        },
    ],
)
def test_every_exported_script_passes_sbatch_test_only(batch, container_kernel, tmp_path, request_):
    write_notebook(tmp_path / "x.ipynb", ("x = 0", ["parameters"]), "x", kernel=container_kernel)
    prepared = batch.prepare(batch.request({"notebook": "x.ipynb", **request_}))
    batch.write_files(prepared)
    verdict = asyncio.run(batch.slurm.test_only(prepared.script_path, cwd=str(tmp_path)))
    assert "to start at" in verdict


def test_slurm_refusing_a_request_quotes_slurm(batch, container_kernel, tmp_path):
    write_notebook(tmp_path / "x.ipynb", "1", kernel=container_kernel)
    with pytest.raises(SchedulerError, match="(?i)invalid partition"):
        submit(batch, notebook="x.ipynb", resources={"partition": "nosuchpartition"})


def test_job_records_survive_a_restart_of_the_watcher(
    make_batch, slurm_cluster, container_kernel, tmp_path
):
    write_notebook(tmp_path / "short.ipynb", "import time; time.sleep(2)", kernel=container_kernel)
    first = make_batch()
    job_id = submit(first, notebook="short.ipynb")

    async def watch_until_done(service: BatchService) -> str:
        service.watcher.start()
        try:
            for _ in range(600):
                if service.get(job_id).terminal:  # readers only read the cache
                    return service.get(job_id).state
                await asyncio.sleep(0.2)
        finally:
            await service.watcher.stop()
        return service.get(job_id).state

    async def watch_briefly(service: BatchService) -> None:
        service.watcher.start()
        await asyncio.sleep(0.5)
        await service.watcher.stop()

    asyncio.run(watch_briefly(first))  # the server stops while the job is pending or running
    second = make_batch()  # a new server process: same jobs directory, nothing in memory
    assert second.get(job_id).notebook == str(tmp_path / "short.ipynb")
    assert asyncio.run(watch_until_done(second)) == "COMPLETED"
    assert json.loads((tmp_path / "jobs" / f"{job_id}.json").read_text())["state"] == "COMPLETED"


def test_the_watcher_asks_slurm_once_per_round_and_readers_never(
    make_batch, slurm_cluster, container_kernel, tmp_path
):
    batch = make_batch(extra_directives={"begin": r"now\+[0-9]+hours?"})
    write_notebook(tmp_path / "held.ipynb", "1", kernel=container_kernel)
    ids = [submit(batch, notebook="held.ipynb", resources={"begin": "now+1hour"}) for _ in range(5)]
    try:
        before = dict(batch.slurm.calls)
        for _ in range(100):  # ten tabs reading, ten times each
            batch.list()
            [batch.api(batch.get(i), with_log=True) for i in ids]
        assert dict(batch.slurm.calls) == before, "readers read the cache"

        asyncio.run(batch.refresh())
        asyncio.run(batch.refresh())
        calls = {k: v - before.get(k, 0) for k, v in batch.slurm.calls.items()}
        assert calls == {"sbatch": 0, "squeue": 2}, "one squeue per round for all five jobs"
        assert {batch.get(i).state for i in ids} == {"PENDING"}
    finally:
        for i in ids:
            asyncio.run(batch.cancel(i))


def test_a_dead_controller_gives_a_clear_error_not_a_hang(make_batch, container_kernel, tmp_path):
    conf = tmp_path / "dead" / "slurm.conf"
    conf.parent.mkdir()
    conf.write_text(
        "ClusterName=dead\nSlurmctldHost=dead(127.0.0.1)\nSlurmctldPort=9\n"
        "NodeName=dead CPUs=1\nPartitionName=debug Nodes=dead Default=YES\n"
    )
    batch = make_batch(slurm=Slurm(slurm_conf=str(conf), timeout=30))
    write_notebook(tmp_path / "x.ipynb", "1", kernel=container_kernel)
    start = time.monotonic()
    with pytest.raises(SchedulerUnavailableError, match="Slurm is not reachable") as info:
        submit(batch, notebook="x.ipynb")
    assert "Unable to contact slurm controller" in str(info.value)
    assert time.monotonic() - start < 30
    assert not batch.list(), "nothing is tracked for a job that was never submitted"
    status = asyncio.run(batch.slurm_status())
    assert status["available"] is False and "not reachable" in status["message"]


def test_missing_slurm_commands_are_named(make_batch, container_kernel, tmp_path):
    batch = make_batch(slurm=Slurm(bin_dir=str(tmp_path / "no-slurm-here")))
    write_notebook(tmp_path / "x.ipynb", "1", kernel=container_kernel)
    with pytest.raises(SchedulerUnavailableError, match="c.Slurm.bin_dir"):
        submit(batch, notebook="x.ipynb")


def test_unknown_jobs_and_kernels_are_not_found(batch, tmp_path, make_container_kernel):
    with pytest.raises(NotFoundError):
        batch.get("999999")
    write_notebook(tmp_path / "x.ipynb", "1", kernel="no-such-kernel")
    with pytest.raises(NotFoundError, match="no-such-kernel"):
        batch.preview(batch.request({"notebook": "x.ipynb"}))
    with pytest.raises(NotFoundError, match="does not exist"):
        batch.preview(batch.request({"notebook": "missing.ipynb", "kernel": "x"}))


def test_a_missing_image_is_refused_at_submit_not_on_the_node(
    batch, make_container_kernel, tmp_path
):
    kernel = make_container_kernel("jck-gone", {"image": "/nonexistent/images/gone.sif"})
    write_notebook(tmp_path / "x.ipynb", "1", kernel=kernel)
    with pytest.raises(ImageError, match="does not exist"):
        submit(batch, notebook="x.ipynb")
    assert not batch.list()


def test_submit_requests_are_validated_at_the_edge(batch):
    with pytest.raises(SpecError, match="unknown field"):
        batch.request({"notebook": "a.ipynb", "script": "rm -rf ~"})
    with pytest.raises(SpecError, match="mode 'script'"):
        batch.request({"notebook": "a.ipynb", "template": "mpi"})
    with pytest.raises(SpecError, match="notebook"):
        batch.request({"notebook": "a.py"})
    with pytest.raises(SpecError, match="resources.time"):
        batch.request({"notebook": "a.ipynb", "resources": {"time": "1h\n#SBATCH --uid=0"}})


def test_notebooks_outside_the_root_are_refused_for_the_server(batch_env, tmp_path):
    server = BatchService(
        root_dir=str(tmp_path / "root"), restrict_to_root=True, jobs_dir=str(tmp_path / "jobs")
    )
    for request, refusal in (
        (
            {"notebook": "../elsewhere.ipynb"},
            "contains '..'; notebooks must be inside the server's root",
        ),
        ({"notebook": "/etc/x.ipynb"}, "is absolute; give the path relative to the server's root"),
        ({"notebook": "a.ipynb", "output_dir": "../out"}, "output_dir: '../out' contains '..'"),
    ):
        with pytest.raises(SpecError, match=re.escape(refusal)):
            server.prepare(server.request(request))


def test_the_mpi_template_starts_one_container_per_task_with_a_clean_environment(
    make_batch, slurm_cluster, make_container_kernel, test_image, tmp_path, monkeypatch
):
    """srun around the container; cleanenv keeps Slurm's per-task variables, drops the rest."""
    kernel = make_container_kernel(
        "jck-clean", {"image": test_image, "runtime": "charliecloud", "cleanenv": True}
    )
    monkeypatch.setenv("JCK_HOST_SECRET", "must-not-enter")
    write_notebook(
        tmp_path / "ranks.ipynb",
        "import os\nprint('rank', os.environ['SLURM_PROCID'], 'of', os.environ['SLURM_NTASKS'],"
        " os.environ.get('JCK_HOST_SECRET', 'clean'), open('/etc/jck-test-image').read().strip())",
        kernel=kernel,
    )
    batch = make_batch()
    job_id = submit(
        batch, notebook="ranks.ipynb", mode="script", template="mpi", resources={"ntasks": 2}
    )

    record = wait_until(batch, job_id)
    log = batch.log_tail(record)
    assert record.state == "COMPLETED", log
    assert sorted(line for line in log.splitlines() if line.startswith("rank")) == [
        "rank 0 of 2 clean py-ipykernel",
        "rank 1 of 2 clean py-ipykernel",
    ]


def test_a_job_slurm_does_not_know_stays_active_until_it_has_been_missing_for_rounds(
    batch_env, slurm_cluster, tmp_path
):
    store = JobStore(tmp_path / "jobs")
    slurm = Slurm()
    watcher = JobWatcher(store, slurm)

    def unknown_job(job_id: str, status: str | None) -> JobRecord:
        output = tmp_path / f"out-{job_id}.ipynb"
        if status:  # what the executor wrote into the output notebook
            nb = {"metadata": {"container_kernels": {"provenance": {"status": status}}}}
            output.write_text(json.dumps({**nb, "cells": [], "nbformat": 4, "nbformat_minor": 5}))
        record = JobRecord(
            id=job_id,
            name="nb",
            notebook=str(tmp_path / "nb.ipynb"),
            kernel="k",
            mode="notebook",
            output_dir=str(tmp_path),
            script_path=str(tmp_path / "nb.sbatch"),
            log_path=str(tmp_path / "nb.log"),
            output_notebooks=[str(output)],
            state="RUNNING",
        )
        store.save(record)
        return record

    # Ids far beyond any this test cluster hands out: squeue does not know them.
    unknown_job("60000001", None)  # no output notebook (yet)
    unknown_job("60000002", "running")  # the executor is (or was) running
    unknown_job("60000003", "interrupted")  # the outputs say how it ended
    unknown_job("60000004", "completed")

    asyncio.run(watcher.poll_once())
    assert store.get("60000003").state == "CANCELLED"
    assert (store.get("60000004").state, store.get("60000004").exit_code) == ("COMPLETED", 0)
    for _ in range(JobWatcher.MISSING_ROUNDS - 2):
        asyncio.run(watcher.poll_once())
    for job_id in ("60000001", "60000002"):
        assert store.get(job_id).state == "RUNNING", "one miss may be transient: still active"
    assert JobStore(tmp_path / "jobs").get("60000001").state == "RUNNING", "on disk too"

    asyncio.run(watcher.poll_once())  # missing for MISSING_ROUNDS rounds in a row
    for job_id in ("60000001", "60000002"):
        lost = store.get(job_id)
        assert (lost.state, lost.exit_code) == ("UNKNOWN", None)
        assert lost.reason == (
            "Slurm no longer knows this job and its outputs do not say how it ended"
        )
    assert slurm.calls["squeue"] == JobWatcher.MISSING_ROUNDS, "one squeue per round"
    assert slurm.calls["sacct"] <= 1, "accounting is off here: tried once, then remembered"
    assert not asyncio.run(watcher.poll_once()), "nothing active, no query"
    assert slurm.calls["squeue"] == JobWatcher.MISSING_ROUNDS
    assert asyncio.run(slurm.cancel("60000001")) is False, "nothing left to cancel"


def test_non_container_kernels_are_refused_naming_the_kernel(
    make_batch, make_container_kernel, jp_kernel_dir, tmp_path
):
    plain = Path(jp_kernel_dir) / "plain-python"
    plain.mkdir(parents=True)
    (plain / "kernel.json").write_text(
        json.dumps({"argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                    "display_name": "Plain", "language": "python"})
    )  # fmt: skip
    batch = make_batch()
    write_notebook(tmp_path / "x.ipynb", "1", kernel="plain-python")
    with pytest.raises(SpecError, match="'plain-python' is not a container kernel"):
        batch.preview(batch.request({"notebook": "x.ipynb"}))
    with pytest.raises(NotFoundError, match="'no-such-kernel'"):
        batch.preview(batch.request({"notebook": "x.ipynb", "kernel": "no-such-kernel"}))


def test_batch_jobs_get_the_site_defaults_interactive_kernels_get(
    make_batch, make_container_kernel, test_image, tmp_path
):
    # The kernel.json names no runtime: the site's default_runtime decides, as interactively.
    kernel = make_container_kernel("jck-site-default", {"image": test_image})
    site = SiteConfig(default_runtime="charliecloud", default_binds=[f"{tmp_path}:/site-data"])
    batch = make_batch(site=site)
    write_notebook(tmp_path / "x.ipynb", "1", kernel=kernel)
    script = batch.preview(batch.request({"notebook": "x.ipynb", "mode": "script"}))
    assert "command -v -- ch-run" in script, "the site's default runtime, not apptainer"
    assert "/site-data" in script, "and the site's default bind"
