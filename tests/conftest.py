"""Fixtures shared by every test: the real parts the suite runs on.

* ``test_images`` / ``test_image`` / ``bare_image`` (session): directory images built once by
  ``tests/support/build_image.sh`` (Debian bookworm; ``py-ipykernel`` has ipykernel, ``py-bare``
  only python3). Both contain ``/etc/jck-test-image`` (the image's name) and the bind
  destinations ``/mnt/0``…``/mnt/9``, ``/scratch``, ``/data``.
* ``lmod_env``: this process's environment set up for real Lmod with the test modulefiles
  (``apptainer/1.3`` puts the Apptainer stand-in on PATH; ``cuda/12.4``, ``cuda/12.2``;
  ``broken/1.0`` fails), the stand-in NOT on PATH until that module is loaded, ``$USER`` set
  (ch-run needs it) and an empty module cache. Returns the environment as a dict.
* ``apptainer_standin``: the path of the Apptainer stand-in (``tests/support/bin/apptainer``).
* ``podman_env``: Podman set up for the tests (``CONTAINERS_CONF`` is
  ``tests/support/containers.conf``: runc, explicit ulimits; ``CONTAINERS_STORAGE_CONF`` a
  storage of the session's own, overlay, under pytest's temporary directory), for this test's
  environment; afterwards no container may be left (``podman ps -a`` is checked, then
  cleaned). Returns the environment as a dict.
* ``make_container_kernel(name, config, **kernel_json)``: writes a container kernelspec into
  pytest-jupyter's temporary Jupyter data dir (``jp_environ``) and returns its name, for
  ``AsyncKernelManager(kernel_name=...)``, nbclient or a subprocess with the same environment.

Nothing here skips: a missing part fails with the command that installs it (``.ci/run``
installs everything).

Markers: a test is ``system`` when it needs a real part (Slurm, Lmod, Charliecloud, the test
images, a browser, root): it uses one of :data:`SYSTEM_FIXTURES` (directly or through another
fixture), lives in ``tests/ui``, or is listed in :data:`SYSTEM_TESTS`. Everything else runs
anywhere, without root: ``pytest -m "not system"``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server"]

ROOT = Path(__file__).resolve().parent.parent
SUPPORT = ROOT / "tests" / "support"
STANDIN_BIN = SUPPORT / "bin"
MODULEFILES = SUPPORT / "modulefiles"
LMOD_INIT_CANDIDATES = ("/usr/share/lmod/lmod/init/bash",)
INSTALL_HINT = "Run `.ci/run`, or `tests/support/install_system_deps.sh` as root, to install it."


# Fixtures that provision a real part; a test using any of them (its fixture closure includes
# fixtures used through other fixtures, e.g. ``batch`` -> ``slurm_cluster``) is ``system``. A
# server in any other test finds no Slurm (``no_slurm_outside_system_tests``).
SYSTEM_FIXTURES = frozenset(
    {
        "test_images",  # debootstrapped images (root), run by ch-run
        "apptainer_standin",  # the stand-in runs images through ch-run
        "lmod_env",  # real Lmod
        "slurm_cluster",  # the single-node Slurm
        "node_cluster",  # a two-host Slurm: the node in its own network namespace (tests/nodes)
        "lab",  # `jupyter lab` on Slurm with the test image (tests/ui)
        "podman_env",  # real Podman (root, runc)
        "oci_registry",  # docker-registry with TLS, skopeo (tests/images)
        "auth_registry",
    }
)
# Test directories whose every test is ``system``.
SYSTEM_DIRECTORIES = frozenset({"ui"})
# Tests that reach a real part without one of those fixtures: a module
# (``tests/x/test_y.py``) or a test (``tests/x/test_y.py::test_z``, every parametrization),
# each with what it runs. Keep it short.
SYSTEM_TESTS: dict[str, str] = {
    "tests/images/test_pull.py::test_a_tarball_written_by_buildah": "buildah (root, vfs storage)",
}


def _is_system(item: pytest.Item) -> bool:
    if SYSTEM_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    path, _, name = item.nodeid.partition("::")
    if path.split("/")[:2] in (["tests", d] for d in SYSTEM_DIRECTORIES):
        return True
    test = name.split("[")[0]
    return path in SYSTEM_TESTS or f"{path}::{test}" in SYSTEM_TESTS


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that needs a real part ``system`` (see the module docstring)."""
    for item in items:
        if _is_system(item) and item.get_closest_marker("system") is None:
            item.add_marker(pytest.mark.system)


@pytest.fixture(autouse=True)
def no_slurm_outside_system_tests(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A jupyter_server in a test that is not ``system`` finds no Slurm commands
    (``Slurm.bin_dir`` is an empty directory), on every machine: ``GET environment`` reports Slurm
    unavailable instead of running ``sinfo``, as on a laptop. A test's own ``Slurm`` config wins."""
    if request.node.get_closest_marker("system") or "jp_server_config" not in request.fixturenames:
        return
    config = request.getfixturevalue("jp_server_config")
    if "bin_dir" not in config.Slurm and "executables" not in config.Slurm:
        config.Slurm.bin_dir = str(tmp_path_factory.mktemp("no-slurm"))


def require_executable(name: str) -> str:
    """The path of ``name`` on PATH (or in /usr/sbin, /sbin), or fail the test saying how to
    install it."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if not found:
        pytest.fail(f"`{name}` is not installed, and these tests need the real one. {INSTALL_HINT}")
    return found


@pytest.fixture(scope="session")
def test_images() -> dict[str, str]:
    """``{"py-bare": path, "py-ipykernel": path}``, built on first use and cached across runs
    (``$JCK_IMAGE_CACHE``, default ``~/.cache/jupyter-container-kernels-test``)."""
    require_executable("ch-run")
    done = subprocess.run(
        ["bash", str(SUPPORT / "build_image.sh")], capture_output=True, text=True, timeout=900
    )
    if done.returncode != 0:
        pytest.fail(
            "Building the test images failed (tests/support/build_image.sh needs root, "
            f"debootstrap and the Debian archive). {INSTALL_HINT}\n{done.stderr[-3000:]}"
        )
    paths = done.stdout.strip().splitlines()[-2:]
    images = {os.path.basename(p): p for p in paths}
    assert set(images) == {"py-bare", "py-ipykernel"}, done.stdout
    return images


@pytest.fixture(scope="session")
def test_image(test_images: dict[str, str]) -> str:
    """Directory image with python3 and ipykernel (Debian's 6.17)."""
    return test_images["py-ipykernel"]


@pytest.fixture(scope="session")
def bare_image(test_images: dict[str, str]) -> str:
    """Directory image with python3 but no ipykernel."""
    return test_images["py-bare"]


@pytest.fixture
def apptainer_standin() -> str:
    """Path of the Apptainer stand-in (runs directory images through ch-run)."""
    require_executable("ch-run")
    return str(STANDIN_BIN / "apptainer")


@pytest.fixture
def lmod_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Real Lmod with ``tests/support/modulefiles``; see the module docstring."""
    init = next((p for p in LMOD_INIT_CANDIDATES if os.path.isfile(p)), None)
    if init is None:
        pytest.fail(f"Lmod is not installed (no {LMOD_INIT_CANDIDATES[0]}). {INSTALL_HINT}")
    for name in list(os.environ):
        if name in ("LOADEDMODULES", "_LMFILES_", "BASH_ENV") or name.startswith(
            ("_ModuleTable", "__LMOD_REF_COUNT_", "LMOD_")
        ):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MODULEPATH", str(MODULEFILES))
    monkeypatch.setenv("LMOD_PKG", os.path.dirname(os.path.dirname(init)))
    path = [
        p
        for p in os.environ.get("PATH", "").split(os.pathsep)
        if p and Path(p).resolve() != STANDIN_BIN.resolve()
    ]
    monkeypatch.setenv("PATH", os.pathsep.join(path))
    if not os.environ.get("USER"):
        import pwd

        monkeypatch.setenv("USER", pwd.getpwuid(os.getuid()).pw_name)
    from jupyter_container_kernels import modules

    modules.clear_cache()
    return dict(os.environ)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[None]:
    """A running single-node Slurm (tests/support/slurm.sh): started here unless it already
    runs, and then stopped here too."""
    require_executable("sbatch")
    slurm_sh = str(SUPPORT / "slurm.sh")
    running = subprocess.run(["bash", slurm_sh, "status"], capture_output=True, check=False)
    if running.returncode != 0:
        done = subprocess.run(
            ["bash", slurm_sh, "start"], capture_output=True, text=True, timeout=300, check=False
        )
        if done.returncode != 0:
            pytest.fail(
                f"Could not start the test Slurm cluster. {INSTALL_HINT}\n"
                f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            )
    yield
    if running.returncode != 0:
        subprocess.run(["bash", slurm_sh, "stop"], capture_output=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def node_cluster() -> Iterator[Any]:
    """A private two-host Slurm (``faults.slurm_private.PrivateSlurm`` with ``netns=True``): the
    compute node runs in its own network namespace at its own address, with 8 CPUs and 2 fake
    GPUs. Client commands reach it through ``SLURM_CONF`` (see ``cluster_env``)."""
    from faults.slurm_private import PrivateSlurm

    with PrivateSlurm(netns=True, gpus=2, cpus=8, min_job_age=600, kill_wait=2) as cluster:
        yield cluster


@pytest.fixture
def cluster_env(node_cluster: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``node_cluster``, with ``SLURM_CONF`` naming it in this process (and so for the servers,
    kernels and jobs it starts)."""
    monkeypatch.setenv("SLURM_CONF", str(node_cluster.conf))
    return node_cluster


@pytest.fixture(scope="session")
def podman_storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A storage.conf for a Podman storage of this session's own (removed at the end)."""
    podman = require_executable("podman")
    folder = tmp_path_factory.mktemp("podman")
    conf = folder / "storage.conf"
    conf.write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{folder}/graph"\nrunroot = "{folder}/run"\n'
    )
    yield conf
    env = {**os.environ, "CONTAINERS_CONF": str(SUPPORT / "containers.conf"),
           "CONTAINERS_STORAGE_CONF": str(conf)}  # fmt: skip
    subprocess.run([podman, "system", "reset", "--force"], env=env, capture_output=True,
                   timeout=120, check=False)  # fmt: skip


@pytest.fixture
def podman_env(monkeypatch: pytest.MonkeyPatch, podman_storage: Path) -> Iterator[dict[str, str]]:
    podman = require_executable("podman")
    monkeypatch.setenv("CONTAINERS_CONF", str(SUPPORT / "containers.conf"))
    monkeypatch.setenv("CONTAINERS_STORAGE_CONF", str(podman_storage))
    yield dict(os.environ)
    left = subprocess.run(
        [podman, "ps", "-a", "--format", "{{.ID}} {{.Names}} {{.Status}}"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    subprocess.run([podman, "rm", "-f", "--all"], capture_output=True, timeout=120, check=False)
    assert left == "", f"containers left behind: {left}"


@pytest.fixture
def make_container_kernel(jp_environ: None, jp_kernel_dir: Path) -> Callable[..., str]:
    """``make(name, config, *, argv=None, interrupt_mode="message", **kernel_json) -> name``.

    Writes ``<jp_data_dir>/kernels/<name>/kernel.json`` naming the container provisioner with
    ``config`` (a ContainerSpec dict). ``argv`` defaults to ``python3 -m ipykernel_launcher -f
    {connection_file}``; other keyword arguments go into kernel.json as they are (``env``,
    ``display_name``…). The kernel is found through ``JUPYTER_DATA_DIR`` (set by ``jp_environ``).
    """

    def make(
        name: str,
        config: dict[str, Any],
        *,
        argv: list[str] | None = None,
        interrupt_mode: str = "message",
        **kernel_json: Any,
    ) -> str:
        folder = Path(jp_kernel_dir) / name
        folder.mkdir(parents=True, exist_ok=True)
        spec = {
            "argv": argv or ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": f"{name} (container)",
            "language": "python",
            "interrupt_mode": interrupt_mode,
            "metadata": {
                "kernel_provisioner": {
                    "provisioner_name": "container-provisioner",
                    "config": config,
                }
            },
            **kernel_json,
        }
        (folder / "kernel.json").write_text(json.dumps(spec, indent=1))
        return name

    return make
