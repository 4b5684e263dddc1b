"""The extension's life cycle and GET environment, on a real server, Lmod and Slurm."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from jupyter_container_kernels.batch.service import BatchService
from jupyter_container_kernels.server.app import ContainerKernelsApp

ROOT = Path(__file__).resolve().parents[2]


def test_the_extension_is_found_from_the_package(jp_serverapp: Any) -> None:
    point = jp_serverapp.extension_manager.extension_points["jupyter_container_kernels"]
    assert isinstance(point.app, ContainerKernelsApp)
    from jupyter_container_kernels import _jupyter_labextension_paths

    assert _jupyter_labextension_paths() == [
        {"src": "labextension", "dest": "jupyter-container-kernels"}
    ]


def test_the_server_enables_the_extension_by_the_shipped_config() -> None:
    import json

    config = json.loads(
        (ROOT / "jupyter-config/jupyter_server_config.d/jupyter_container_kernels.json").read_text()
    )
    assert config["ServerApp"]["jpserver_extensions"] == {"jupyter_container_kernels": True}


def test_the_job_watcher_starts_with_the_server_and_stops_with_it(
    jp_serverapp: Any, extension: Any, run: Any
) -> None:
    watcher = extension.batch.watcher
    task = watcher._task
    assert task is not None and not task.done(), "the watcher runs once the server started"
    run(jp_serverapp._cleanup())  # what the server does on shutdown
    assert task.done() and watcher._task is None


class RecordingBatchService(BatchService):
    """A site's own service class, configured instead of the default."""


@pytest.fixture
def custom_service_config(jp_server_config: Config, tmp_path: Path) -> Config:
    jp_server_config.ContainerKernelsApp.batch_service_class = RecordingBatchService
    jp_server_config.BatchService.jobs_dir = str(tmp_path / "site-jobs")
    return jp_server_config


def test_collaborators_are_swapped_through_config(
    custom_service_config: Config, extension: Any, jp_root_dir: Path, tmp_path: Path
) -> None:
    assert type(extension.batch) is RecordingBatchService
    assert extension.batch.jobs_dir == str(tmp_path / "site-jobs")
    assert extension.batch.root_dir == str(jp_root_dir.resolve()) and extension.batch.paths.confined


@pytest.fixture
def lmod_server_config(jp_server_config: Config, lmod_env: dict[str, str]) -> Config:
    """The site loads the apptainer module for everything (it puts the stand-in on PATH)."""
    jp_server_config.SiteConfig.default_modules = ["apptainer/1.3"]
    jp_server_config.SiteConfig.default_binds = ["/scratch:/scratch:ro"]
    jp_server_config.SiteConfig.node_gpu = "rocm"
    return jp_server_config


def test_environment_describes_this_node_and_the_site(
    lmod_server_config: Config, slurm_cluster: None, api: Any, allowed_image_roots: list[str]
) -> None:
    status, env = api("GET", "environment")
    assert status == 200, env
    runtimes = {r["name"]: r for r in env["runtimes"]}
    assert set(runtimes) == {
        "apptainer",
        "singularity",
        "charliecloud",
        "podman",
        "podman-hpc",
        "shifter",
    }
    # found on PATH after the site's default modules (the Apptainer stand-in's module)
    assert runtimes["apptainer"]["found"] is True
    assert runtimes["apptainer"]["executable"] == str(ROOT / "tests/support/bin/apptainer")
    assert runtimes["charliecloud"]["found"] is True and runtimes["charliecloud"][
        "executable"
    ].endswith("/ch-run")
    assert runtimes["shifter"] == {"name": "shifter", "executable": "shifter", "found": False}
    assert env["module_system"] == "lmod"
    assert env["gpu"] == "rocm"
    assert env["slurm"]["available"] is True and env["slurm"]["message"] is None
    assert env["defaults"] == {
        "runtime": "charliecloud",
        "binds": ["/scratch:/scratch:ro"],
        "modules": ["apptainer/1.3"],
        "cleanenv": False,
        "allowed_image_roots": allowed_image_roots,
    }


def test_environment_asks_slurm_once_however_many_clients_ask(
    slurm_cluster: None, extension: Any, aapi: Any, run: Any
) -> None:
    slurm = extension.batch.slurm
    before = slurm.calls["sinfo"]

    async def many() -> list[tuple[int, Any]]:
        return await asyncio.gather(*(aapi("GET", "environment") for _ in range(10)))

    answers = run(many()) + run(many())
    assert {status for status, _ in answers} == {200}
    assert slurm.calls["sinfo"] - before == 1
    extension.environment.clear()
    run(many())
    assert slurm.calls["sinfo"] - before == 1, "the batch service caches sinfo for the same TTL"


@pytest.fixture
def config_file(jp_config_dir: Path) -> Path:
    """The site's policy and the extension's settings in one file, as the README shows."""
    path = jp_config_dir / "jupyter_container_kernels_config.json"
    path.write_text(
        '{"SiteConfig": {"default_runtime": "podman", "default_cleanenv": true},'
        ' "ContainerKernelsApp": {"environment_ttl": 5}}'
    )
    return path


def test_the_extension_reads_the_site_config_file(
    config_file: Path, extension: Any, api: Any
) -> None:
    assert extension.environment_ttl == 5
    status, env = api("GET", "environment")
    assert status == 200
    assert env["defaults"]["cleanenv"] is True
    # the server's own config (here: the test's) wins over the file
    assert env["defaults"]["runtime"] == "charliecloud"


def test_the_environment_reports_the_server_root_as_an_absolute_path(
    extension: Any, api: Any, jp_root_dir: Path
) -> None:
    """jupyter_server may report a root under $HOME as ``~/…``; the file picker needs the real
    absolute path to turn a picked file into an image path."""
    status, env = api("GET", "environment")
    assert status == 200
    assert env["server_root"] == str(jp_root_dir.resolve())
