"""The release artifacts, built as a release builds them and installed as a user installs them.

``python -m build`` makes the sdist, then the wheel from the sdist, once for this module. The
wheel alone, in a fresh virtualenv whose PATH holds nothing but that virtualenv (so no Node),
gives an enabled server extension, the prebuilt JupyterLab extension, the CLI and the kernel
provisioner. The sdist carries what a downstream packager needs to rebuild the extension from
its TypeScript sources (``labextension/`` with ``yarn.lock`` and ``.yarnrc.yml``), and the
tests, deliberately (conda-forge recipes run them); the last test does that rebuild with
Node (``jlpm install`` + ``jlpm build:prod``).

System and slow (minutes): it installs from PyPI and npm. Run only these with
``pytest -m packaging``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.system, pytest.mark.packaging, pytest.mark.timeout(1200)]

ROOT = Path(__file__).resolve().parents[2]
NAME = "jupyter_container_kernels"
LABEXTENSION = "jupyter-container-kernels"


def version() -> str:
    text = (ROOT / NAME / "__init__.py").read_text()
    found = re.search(r'^__version__ = "([^"]+)"$', text, re.M)
    assert found, "__version__ not found in jupyter_container_kernels/__init__.py"
    return found.group(1)


def run(argv: list[str], *, timeout: float, **kwargs) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    assert done.returncode == 0, (
        f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"sdist": …tar.gz, "wheel": ….whl}`` from ``python -m build`` (sdist, then the wheel
    from the sdist, each in an isolated build environment)."""
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], timeout=900)
    sdists, wheels = sorted(out.glob("*.tar.gz")), sorted(out.glob("*.whl"))
    assert [p.name for p in sdists] == [f"{NAME}-{version()}.tar.gz"]
    assert [p.name for p in wheels] == [f"{NAME}-{version()}-py3-none-any.whl"]
    return {"sdist": sdists[0], "wheel": wheels[0]}


@pytest.fixture(scope="module")
def venv(dists: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with the wheel and JupyterLab installed; returns its ``bin``."""
    where = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", str(where)], timeout=120)
    bin_dir = where / "bin"
    run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", str(dists["wheel"]), "jupyterlab"],
        timeout=600,
        env=only(bin_dir),
    )
    return bin_dir


def only(bin_dir: Path) -> dict[str, str]:
    """An environment whose PATH is ``bin_dir`` alone (no Node, no other Jupyter), with empty
    user Jupyter directories (next to the virtualenv), so nothing of this machine's user
    (``jupyter labextension develop`` links, a config disabling the extension) takes part."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PYTHON"))}
    env.pop("VIRTUAL_ENV", None)
    user = bin_dir.parent / "user-jupyter"
    env.update(
        PATH=str(bin_dir),
        JUPYTER_CONFIG_DIR=str(user / "config"),
        JUPYTER_DATA_DIR=str(user / "data"),
        JUPYTER_RUNTIME_DIR=str(user / "runtime"),
        NO_COLOR="1",
    )
    return env


def jupyter(bin_dir: Path, *args: str) -> str:
    """``jupyter ARGS`` from the virtualenv: its stdout and stderr, without colours."""
    done = run([str(bin_dir / "jupyter"), *args], timeout=120, env=only(bin_dir))
    return re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)


def test_the_wheel_holds_the_package_the_built_extension_and_the_server_config(
    dists: dict[str, Path],
) -> None:
    data = f"{NAME}-{version()}.data/data"
    share = f"{data}/share/jupyter/labextensions/{LABEXTENSION}"
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        names = set(wheel.namelist())
        built = json.loads(wheel.read(f"{share}/package.json"))
    for name in (
        f"{NAME}/__init__.py",
        f"{NAME}/py.typed",
        f"{NAME}/server/openapi.yaml",
        f"{share}/package.json",
        f"{share}/install.json",
        f"{share}/schemas/{LABEXTENSION}/package.json.orig",
        f"{data}/etc/jupyter/jupyter_server_config.d/{NAME}.json",
    ):
        assert name in names, f"{name} is missing from the wheel"
    assert any(re.fullmatch(rf"{share}/static/remoteEntry\.[0-9a-f]+\.js", n) for n in names)
    assert not [n for n in names if n.startswith(("tests/", "labextension/"))], "sources leaked"
    assert built["version"] == version(), "the shipped extension is a stale build"


def test_the_sdist_holds_the_sources_that_rebuild_the_extension(dists: dict[str, Path]) -> None:
    prefix = f"{NAME}-{version()}/"
    with tarfile.open(dists["sdist"]) as sdist:
        names = {n.removeprefix(prefix) for n in sdist.getnames()}
    for name in (
        "pyproject.toml",
        "README.md",
        "CHANGELOG.md",
        f"{NAME}/__init__.py",
        "jupyter-config/jupyter_server_config.d/jupyter_container_kernels.json",
        "labextension/package.json",
        "labextension/yarn.lock",
        "labextension/.yarnrc.yml",
        "labextension/tsconfig.json",
        "labextension/install.json",
        "labextension/src/index.ts",
        "labextension/schema/plugin.json",
        "labextension/style/index.css",
        "tests/conftest.py",  # deliberately: downstream packagers run the fast tests
    ):
        assert name in names, f"{name} is missing from the sdist"
    unwanted = re.compile(
        r"(^|/)(node_modules|\.yarn|\.venv|test-artifacts|__pycache__)(/|$)"
        r"|^labextension/lib(-test)?/|^(\.ci|binder|benchmarks)/|\.whl$"
    )
    assert sorted(n for n in names if unwanted.search(n)) == []


def test_the_server_extension_is_enabled_and_validates(venv: Path) -> None:
    out = jupyter(venv, "server", "extension", "list")
    assert re.search(rf"^\s*{NAME}\s+enabled\s*$", out, re.M), out
    assert re.search(rf"^\s*- Validating {NAME}\.\.\.\s*\n\s*{NAME}\s+\S+\s+OK", out, re.M), out


def test_the_labextension_is_installed_enabled_and_ok(venv: Path) -> None:
    out = jupyter(venv, "labextension", "list")
    assert re.search(rf"^\s*{LABEXTENSION} v{re.escape(version())} enabled\s+OK", out, re.M), out


def test_the_cli_and_the_provisioner_are_registered(venv: Path) -> None:
    done = run([str(venv / "jupyter-container-kernels"), "--help"], timeout=60, env=only(venv))
    assert "install" in done.stdout and "submit" in done.stdout, done.stdout
    out = jupyter(venv, "kernelspec", "provisioners")
    assert re.search(r"^\s*container-provisioner\s+jupyter_container_kernels", out, re.M), out


def test_the_sdist_rebuilds_the_wheel_from_the_typescript_sources(
    dists: dict[str, Path], tmp_path: Path
) -> None:
    """What a packager does: unpack the sdist, drop the prebuilt extension, build the wheel
    (the build hook runs ``jlpm install`` and ``jlpm build:prod``; Node must be on PATH)."""
    with tarfile.open(dists["sdist"]) as sdist:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
            sdist.extractall(tmp_path, filter="data")
        else:
            sdist.extractall(tmp_path)  # our own sdist
    source = tmp_path / f"{NAME}-{version()}"
    prebuilt = source / NAME / "labextension"
    if prebuilt.exists():
        shutil.rmtree(prebuilt)
    out = tmp_path / "dist"
    run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(source)], timeout=900)
    wheel = out / f"{NAME}-{version()}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as built:
        names = built.namelist()
    assert any("/static/remoteEntry." in n for n in names), "the rebuilt wheel has no extension"
