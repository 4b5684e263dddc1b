"""From an image reference to a running kernel in the browser: Debian's Chromium driving a real
JupyterLab, a real TLS registry on 127.0.0.1 (Debian's ``docker-registry``, a self-signed CA the
server trusts through ``SiteConfig.registry_cert_dir``), the real pull into the image store and
Charliecloud running the result.

The image pushed is the test image with ``/etc/jck-test-image`` rewritten, so the cell's output
proves the kernel runs the pulled image, not the one the ``lab`` fixture registered.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.images.dockersave import Entry
from tests.images.ocilayout import write
from tests.images.registry import Registry, start

from .conftest import Lab
from .test_ui_e2e import (
    KERNEL_TIMEOUT_MS,
    launcher_tile,
    open_launcher,
    open_side_panel,
    wait_for_idle_kernel,
)

MARKER = "pulled through the Lab UI"
DISPLAY_NAME = "Pulled in the browser (container)"
#: Download (~85 MB), unpack, probe, on a 2-core box shared with other tests.
PULL_TIMEOUT_MS = 240_000
#: Every text the pull's progress line showed, recorded in the page as it changes (the poll
#: runs each second; a screenshot alone could miss a phase).
RECORD_PULL_TEXTS = """() => {
  window.jckPullTexts = [];
  new MutationObserver(() => {
    for (const el of document.querySelectorAll('[data-testid="jck-pull-text"]')) {
      const text = el.textContent;
      if (window.jckPullTexts[window.jckPullTexts.length - 1] !== text) {
        window.jckPullTexts.push(text);
      }
    }
  }).observe(document.body, { subtree: true, childList: true, characterData: true });
}"""


@pytest.fixture(scope="module")
def kernel_registry(
    test_image: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Registry]:
    """A TLS registry holding ``jck/kernel:1``: the test image, its marker file rewritten."""
    folder = tmp_path_factory.mktemp("ui-registry")
    layout = folder / "layout"
    upper = [Entry("etc/jck-test-image", f"{MARKER}\n".encode())]
    write(layout, [("1", [Path(test_image), upper])], gzip_layers=True, gzip_level=1)
    registry = start(folder / "serve")
    try:
        registry.push(layout, "1", "jck/kernel:1")
        yield registry
    finally:
        registry.stop()


@pytest.fixture
def lab_server_config(kernel_registry: Registry) -> dict[str, dict[str, Any]]:
    """The server trusts the registry's self-signed CA (the site's setting for private CAs)."""
    return {"SiteConfig": {"registry_cert_dir": str(kernel_registry.cert_dir)}}


def test_an_image_reference_becomes_a_kernel_with_progress(
    in_browser: Callable[[Callable[[Any, Callable[[str], Path]], None]], None],
    lab: Lab,
    kernel_registry: Registry,
) -> None:
    reference = f"docker://{kernel_registry.host}/jck/kernel:1"
    in_browser(lambda page, shot: pull_journey(page, shot, lab, reference))


def pull_journey(page: Any, shot: Callable[[str], Path], lab: Lab, reference: str) -> None:
    # 1. The form recognises a registry reference and offers to pull it (no probe yet).
    panel = open_side_panel(page, "jck-kernels-panel")
    panel.locator('[data-testid="jck-register-toggle"]').click()
    form = panel.locator('[data-testid="jck-register-form"]')
    image = form.locator('[data-testid="jck-register-image"]')
    image.fill("/shared/images/tool.sif")
    kind = form.locator('[data-testid="jck-register-source-kind"]')
    assert kind.get_attribute("data-kind") == "image"
    image.fill("images/tool.tar")
    assert kind.get_attribute("data-kind") == "archive"
    assert "docker save tarball" in kind.inner_text()
    image.fill(reference)
    assert (kind.get_attribute("data-kind"), kind.get_attribute("data-scheme")) == (
        "registry",
        "docker",
    )
    form.locator('[data-testid="jck-register-runtime"]').select_option("charliecloud")
    assert "pulled into the image store for charliecloud" in kind.inner_text()
    form.locator('[data-testid="jck-register-gpu"]').select_option("none")
    form.locator('[data-testid="jck-register-display-name"]').fill(DISPLAY_NAME)
    assert form.locator('[data-testid="jck-probe-button"]').is_disabled()
    submit = form.locator('[data-testid="jck-register-submit"]')
    assert submit.inner_text() == "Pull and register"
    shot("pull-form")

    # 2. Submitting starts the pull: the panel shows its progress bar and phase.
    page.evaluate(RECORD_PULL_TEXTS)
    submit.click()
    pull = panel.locator('[data-testid="jck-pull"]')
    pull.wait_for(state="visible")
    assert reference in pull.inner_text()
    assert pull.locator('[data-testid="jck-pull-progress"]').is_visible()
    assert pull.locator('[data-testid="jck-pull-text"]').get_attribute("aria-live") == "polite"
    assert form.count() == 0  # the form closed; the pull goes on without it
    assert pull.get_attribute("data-state") == "running"
    shot("pull-progress")

    # 3. Once it succeeded, the kernel is in the panel, on the pulled image.
    panel.locator('[data-testid="jck-pull"][data-state="succeeded"]').wait_for(
        timeout=PULL_TIMEOUT_MS
    )
    (op,) = lab.api("container-kernels/images/pulls")["pulls"]
    assert (op["state"], op["runtime"], op["source"]) == ("succeeded", "charliecloud", reference)
    assert f"registered kernel {op['kernel']}" in pull.inner_text()
    row = panel.locator(f'[data-testid="jck-kernel"][data-kernel-name="{op["kernel"]}"]')
    row.wait_for(state="visible")
    assert DISPLAY_NAME in row.inner_text()
    assert row.locator('[data-testid="jck-kernel-image"]').inner_text() == op["image_path"]
    texts: list[str] = page.evaluate("window.jckPullTexts")
    # A phase with a known total showed its bytes (the poll runs each second, so which phases
    # were caught depends on the machine's speed: the download of ~90 MB always takes one).
    bytes_shown = r"(Downloading|Unpacking layers) · [\d.]+ (B|KiB|MiB) of [\d.]+ MiB"
    assert any(re.fullmatch(bytes_shown, t) for t in texts), texts
    assert texts[-1] == f"Done: registered kernel {op['kernel']}", texts
    shot("pull-succeeded")

    # 4. Its tile is in the launcher; the kernel runs inside the pulled image.
    open_launcher(page)
    tile = launcher_tile(page, DISPLAY_NAME)
    tile.wait_for(state="visible")
    shot("pulled-tile-in-launcher")
    tile.click()
    notebook = page.locator(".jp-NotebookPanel").last
    notebook.wait_for(state="visible")
    wait_for_idle_kernel(page, DISPLAY_NAME)
    notebook.locator(".jp-Cell .cm-content").first.click()
    page.keyboard.type("print(open('/etc/jck-test-image').read())")
    page.keyboard.press("Shift+Enter")
    output = notebook.locator(".jp-OutputArea-output").first
    output.wait_for(state="visible", timeout=KERNEL_TIMEOUT_MS)
    assert output.inner_text().strip() == MARKER, output.inner_text()
    shot("pulled-kernel-runs")
