"""Fixtures for the browser tests: a real `jupyter lab` with this extension (on the real Slurm of
``slurm_cluster``), and Debian's Chromium driven by Playwright.

* ``lab``: ``jupyter lab`` in a subprocess on a free port, in pytest-jupyter's temporary Jupyter
  dirs (``jp_environ``), with the server extension enabled, a container kernel
  ``jck-e2e`` ("JCK test image (container)", Charliecloud, the ``py-ipykernel`` test image) and a
  notebook ``demo.ipynb`` (a ``parameters`` cell and a cell printing ``/etc/jck-test-image``).
  A test adds server settings (``{"SiteConfig": {...}}``) by overriding ``lab_server_config``.
  The labextension is this checkout's build (``jupyter_container_kernels/labextension``),
  linked in through ``JUPYTER_PATH`` the way ``jupyter labextension develop`` does, so it wins
  over an installed copy; without a build, the installed one. ``serve_lab(...)`` runs such a
  Lab for other fixtures (another kernel, more environment such as ``SLURM_CONF``).
* ``in_browser(scenario)``: runs ``scenario(page, shot)`` with a Chromium page (1440x900) on that
  Lab; ``shot(name)`` saves numbered screenshots to ``test-artifacts/ui/`` (CI artifacts, never
  compared to anything), and a failure leaves ``failure.png``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "ui"
BUILT_LABEXTENSION = ROOT / "jupyter_container_kernels" / "labextension"
LABEXTENSION_NAME = "jupyter-container-kernels"
CHROMIUM = "/usr/bin/chromium"
# Flags shown to work for Debian's Chromium here (see the shared recipes).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
KERNEL_NAME = "jck-e2e"
KERNEL_DISPLAY_NAME = "JCK test image (container)"


def _notebook(kernel: str, display_name: str) -> dict[str, Any]:
    def code(cell_id: str, source: str, tags: list[str] | None = None) -> dict[str, Any]:
        metadata: dict[str, Any] = {"tags": tags} if tags else {}
        return {"cell_type": "code", "id": cell_id, "execution_count": None, "metadata": metadata,
                "outputs": [], "source": source}  # fmt: skip

    return {
        "cells": [
            code("params", "greeting = 'hello'\nrepeat = 2  # how many times", ["parameters"]),
            code(
                "main",
                "print(open('/etc/jck-test-image').read().strip())\nprint(greeting * repeat)",
            ),
        ],
        "metadata": {
            "kernelspec": {"name": kernel, "display_name": display_name, "language": "python"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _labextension_installed(env: dict[str, str]) -> bool:
    code = (
        "import json, os\n"
        "from jupyter_core.paths import jupyter_path\n"
        "from jupyterlab_server.config import get_federated_extensions\n"
        "exts = get_federated_extensions([os.path.join(p, 'labextensions') for p in jupyter_path()])\n"
        "print(json.dumps(sorted(exts)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, env=env, capture_output=True, text=True
    )
    return out.returncode == 0 and LABEXTENSION_NAME in json.loads(out.stdout or "[]")


@dataclass(frozen=True)
class Lab:
    url: str
    token: str
    root: Path
    kernel: str
    kernel_display_name: str
    log: Path

    def api(self, path: str) -> Any:
        """GET a JSON endpoint of the server (e.g. ``container-kernels/jobs``)."""
        request = urllib.request.Request(
            f"{self.url}{path}", headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")


@pytest.fixture
def lab_server_config() -> dict[str, dict[str, Any]]:
    """More settings for the ``lab`` server's jupyter_server_config.json, by class (none)."""
    return {}


@pytest.fixture
def lab(
    lab_server_config: dict[str, dict[str, Any]],
    jp_environ: None,
    jp_config_dir: Path,
    tmp_path: Path,
    make_container_kernel: Callable[..., str],
    test_image: str,
    slurm_cluster: None,
) -> Iterator[Lab]:
    """A real ``jupyter lab`` with the extension, a container kernel and ``demo.ipynb``."""
    kernel = make_container_kernel(
        KERNEL_NAME,
        {"image": test_image, "runtime": "charliecloud", "gpu": "none"},
        display_name=KERNEL_DISPLAY_NAME,
    )
    with serve_lab(
        tmp_path,
        Path(jp_config_dir),
        kernel,
        KERNEL_DISPLAY_NAME,
        server_config=lab_server_config,
    ) as server:
        yield server


@contextlib.contextmanager
def serve_lab(
    tmp_path: Path,
    config_dir: Path,
    kernel: str,
    display_name: str,
    env: dict[str, str] | None = None,
    server_config: dict[str, dict[str, Any]] | None = None,
) -> Iterator[Lab]:
    """Run ``jupyter lab`` (root ``tmp_path/work`` with ``demo.ipynb`` on ``kernel``) until the
    block ends; ``env`` adds to the server's environment (e.g. ``SLURM_CONF``), ``server_config``
    to its jupyter_server_config.json (by class)."""
    root = tmp_path / "work"
    root.mkdir()
    (root / "demo.ipynb").write_text(json.dumps(_notebook(kernel, display_name), indent=1))

    settings: dict[str, dict[str, Any]] = {
        "ServerApp": {"jpserver_extensions": {"jupyter_container_kernels": True}}
    }
    for section, values in (server_config or {}).items():
        settings.setdefault(section, {}).update(values)
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(settings))
    # No "get Jupyter news?" toast covering the panels in screenshots.
    (config_dir / "labconfig").mkdir(exist_ok=True)
    (config_dir / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )

    env = {**os.environ, **(env or {})}
    env.setdefault("USER", "root")  # ch-run refuses to start without it
    # This checkout's build wins over an installed copy (which may be another checkout's, or
    # older): it is linked in through JUPYTER_PATH, which Lab searches first, the way
    # `jupyter labextension develop` does.
    if (BUILT_LABEXTENSION / "package.json").is_file():
        extra = tmp_path / "jupyter-path"
        (extra / "labextensions").mkdir(parents=True)
        (extra / "labextensions" / LABEXTENSION_NAME).symlink_to(BUILT_LABEXTENSION)
        env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(extra), env.get("JUPYTER_PATH")]))
    elif not _labextension_installed(env):
        pytest.fail(
            "The labextension is neither installed nor built: run `pip install -e .` "
            "(builds it with jlpm) or `cd labextension && jlpm install && jlpm build:prod`."
        )

    port, token = _free_port(), secrets.token_hex(16)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = ARTIFACTS / "jupyter-lab.log"
    log = log_path.open("w")
    argv = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Lab(f"http://127.0.0.1:{port}/", token, root, kernel, display_name, log_path)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"jupyter lab exited ({proc.returncode}):\n{log_path.read_text()[-4000:]}"
                )
            try:
                server.api("api/status")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"jupyter lab did not answer in 90 s:\n{log_path.read_text()[-4000:]}"
                    )
                time.sleep(0.5)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


BrowserScenario = Callable[[Any, Callable[[str], Path]], None]


def _run_in_browser(url: str, scenario: BrowserScenario) -> None:
    """Run ``scenario(page, shot)`` in Chromium, in a thread of its own.

    Playwright's sync API runs an asyncio loop of its own; pytest-jupyter's autouse loop fixture
    would otherwise find that loop running and fail to close it. On failure the page is saved
    as ``test-artifacts/ui/failure.png``.
    """
    from playwright.sync_api import sync_playwright

    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    counter = iter(range(1, 100))
    failure: list[BaseException] = []

    def target() -> None:
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
                )
                try:
                    context = browser.new_context(viewport={"width": 1440, "height": 900})
                    context.set_default_timeout(30_000)
                    page = context.new_page()

                    def shot(name: str) -> Path:
                        path = ARTIFACTS / f"{next(counter):02d}-{name}.png"
                        page.screenshot(path=str(path))
                        return path

                    page.goto(url)
                    page.wait_for_selector(".jp-LauncherCard")
                    try:
                        scenario(page, shot)
                    except BaseException:
                        page.screenshot(path=str(ARTIFACTS / "failure.png"))
                        raise
                finally:
                    browser.close()
        except BaseException as error:
            failure.append(error)

    thread = threading.Thread(target=target, name="playwright")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


@pytest.fixture
def in_browser(lab: Lab) -> Callable[[BrowserScenario], None]:
    """``in_browser(scenario)`` runs ``scenario(page, shot)`` on a fresh page of ``lab``
    (workspace reset, 1440x900, 30 s default timeout); ``shot("launcher")`` saves
    ``test-artifacts/ui/NN-launcher.png`` (NN counts up). Debian's Chromium, headless:
    Playwright cannot download browsers here."""
    return lambda scenario: browse(lab, scenario)


def browse(lab: Lab, scenario: BrowserScenario) -> None:
    """``scenario(page, shot)`` on a fresh page of ``lab`` (see ``in_browser``)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"{CHROMIUM} is missing: `apt-get install chromium` (tests/support/install_system_deps.sh)."
        )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    _run_in_browser(f"{lab.url}lab?reset&token={lab.token}", scenario)
