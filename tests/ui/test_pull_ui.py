"""From an image reference to a running kernel in the browser: Debian's Chromium driving a real
JupyterLab, a real TLS registry on 127.0.0.1 (Debian's ``docker-registry``, a self-signed CA the
server trusts through ``SiteConfig.registry_cert_dir``), the real pull into the image store and
Charliecloud running the result.

The image pushed is the test image with ``/etc/jck-test-image`` rewritten, so the cell's output
proves the kernel runs the pulled image, not the one the ``lab`` fixture registered. A second
pull goes through a proxy of that registry that stalls the layer's download, so it is reliably
still running when the page is reloaded (the pull survives, listed again) and cancelled.
"""

from __future__ import annotations

import http.server
import os
import re
import ssl
import threading
import urllib.error
import urllib.request
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
    """A TLS registry holding ``jck/kernel:1``: the test image, its marker file rewritten; and
    the same as ``jck/stall:1`` (another name in the store: pulled, not reused)."""
    folder = tmp_path_factory.mktemp("ui-registry")
    layout = folder / "layout"
    upper = [Entry("etc/jck-test-image", f"{MARKER}\n".encode())]
    write(layout, [("1", [Path(test_image), upper])], gzip_layers=True, gzip_level=1)
    registry = start(folder / "serve")
    try:
        registry.push(layout, "1", "jck/kernel:1")
        registry.push(layout, "1", "jck/stall:1")
        yield registry
    finally:
        registry.stop()


@pytest.fixture
def lab_server_config(kernel_registry: Registry) -> dict[str, dict[str, Any]]:
    """The server trusts the registry's self-signed CA (the site's setting for private CAs)."""
    return {"SiteConfig": {"registry_cert_dir": str(kernel_registry.cert_dir)}}


class StallingProxy(http.server.ThreadingHTTPServer):
    """A TLS proxy of ``upstream`` (same certificate) that forwards the registry API but stalls
    every blob over 1 MiB after its first 64 KiB, until :meth:`stop`."""

    daemon_threads = True

    def __init__(self, upstream: Registry) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = upstream.host
        self.client = ssl.create_default_context(cafile=str(upstream.cert_dir / "ca.crt"))
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        serve = upstream.folder
        server.load_cert_chain(serve / "cert.pem", serve / "key.pem")
        self.socket = server.wrap_socket(self.socket, server_side=True)
        self.released = threading.Event()
        self.thread = threading.Thread(target=self.serve_forever, name="stalling-proxy")
        self.thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.released.set()
        self.shutdown()
        self.server_close()
        self.thread.join()


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: StallingProxy
    protocol_version = "HTTP/1.1"
    HEADERS = ("Content-Type", "Content-Length", "Docker-Content-Digest", "Location",
               "Docker-Distribution-Api-Version", "WWW-Authenticate")  # fmt: skip

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._forward(body=False)

    def do_GET(self) -> None:
        self._forward(body=True)

    def _forward(self, body: bool) -> None:
        headers = {k: v for k in ("Accept", "Authorization") if (v := self.headers.get(k))}
        request = urllib.request.Request(
            f"https://{self.server.upstream}{self.path}", method=self.command, headers=headers
        )
        try:
            response = urllib.request.urlopen(request, context=self.server.client, timeout=30)
        except urllib.error.HTTPError as error:
            response = error
        length = int(response.headers.get("Content-Length") or 0)
        self.send_response(response.status)
        for name in self.HEADERS:
            if value := response.headers.get(name):
                self.send_header(name, value)
        self.end_headers()
        if not body:
            return
        if "/blobs/" in self.path and length > 1 << 20:
            self.wfile.write(response.read(64 << 10))
            self.wfile.flush()
            self.server.released.wait()
            self.close_connection = True
            return
        self.wfile.write(response.read())


@pytest.fixture
def stalling_proxy(kernel_registry: Registry) -> Iterator[StallingProxy]:
    proxy = StallingProxy(kernel_registry)
    try:
        yield proxy
    finally:
        proxy.stop()


def test_an_image_reference_becomes_a_kernel_with_progress(
    in_browser: Callable[[Callable[[Any, Callable[[str], Path]], None]], None],
    lab: Lab,
    kernel_registry: Registry,
    stalling_proxy: StallingProxy,
) -> None:
    """Pulled and registered from the form, the kernel runs in the pulled image; a pull
    survives a reload and is cancelled from the panel; a failing one shows the server's error.
    (One browser run, so the screenshots of both parts stay side by side.)"""
    reference = f"docker://{kernel_registry.host}/jck/kernel:1"

    def scenario(page: Any, shot: Callable[[str], Path]) -> None:
        pull_journey(page, shot, lab, reference)
        cancel_and_failure_journey(page, shot, lab, kernel_registry, stalling_proxy)

    in_browser(scenario)


def start_pull_from_form(page: Any, reference: str, display_name: str) -> Any:
    """Fill the Register image form with ``reference`` (Charliecloud, no GPU) and submit it;
    returns the panel."""
    panel = open_side_panel(page, "jck-kernels-panel")
    panel.locator('[data-testid="jck-register-toggle"]').click()
    form = panel.locator('[data-testid="jck-register-form"]')
    form.locator('[data-testid="jck-register-image"]').fill(reference)
    form.locator('[data-testid="jck-register-runtime"]').select_option("charliecloud")
    form.locator('[data-testid="jck-register-gpu"]').select_option("none")
    form.locator('[data-testid="jck-register-display-name"]').fill(display_name)
    form.locator('[data-testid="jck-register-submit"]').click()
    form.wait_for(state="detached")
    return panel


def cancel_and_failure_journey(
    page: Any, shot: Callable[[str], Path], lab: Lab, registry: Registry, proxy: StallingProxy
) -> None:
    # 5. A pull whose download stalls: the page reloads (as if the tab was closed and opened
    #    again) and the panel lists the pull, still running, with its Cancel button.
    stalled = f"docker://{proxy.host}/jck/stall:1"
    panel = start_pull_from_form(page, stalled, "Never registered")
    pull = panel.locator('[data-testid="jck-pull"]', has_text=proxy.host)
    text = pull.locator('[data-testid="jck-pull-text"]', has_text="Downloading")
    text.wait_for(timeout=PULL_TIMEOUT_MS)
    assert pull.get_attribute("data-state") == "running"
    # Bytes on disk of the layers' total (the manifest's), and a determinate bar.
    assert re.fullmatch(r"Downloading · [\d.]+ (B|KiB|MiB) of [\d.]+ (MiB|GiB)", text.inner_text())
    bar = pull.locator('[data-testid="jck-pull-progress"]')
    assert bar.get_attribute("data-indeterminate") == "false"
    shot("pull-stalled-downloading")
    page.reload()  # the restored workspace has the notebook open, not a launcher
    page.locator('.jp-SideBar li[data-id="jck-kernels-panel"]').wait_for()
    panel = open_side_panel(page, "jck-kernels-panel")
    pull = panel.locator('[data-testid="jck-pull"]', has_text=proxy.host)
    pull.wait_for(state="visible")
    assert pull.get_attribute("data-state") == "running"
    assert "Downloading" in pull.locator('[data-testid="jck-pull-text"]').inner_text()
    assert panel.locator('[data-testid="jck-pull"]').count() == 1  # not the finished one
    shot("pull-listed-after-reload")

    # 6. Cancel: the operation turns cancelled, registers nothing and leaves nothing stored.
    pull.locator('[data-testid="jck-pull-cancel"]').click()
    panel.locator('[data-testid="jck-pull"][data-state="cancelled"]').wait_for()
    assert pull.locator('[data-testid="jck-pull-text"]').inner_text() == "Cancelled"
    op = next(o for o in lab.api("container-kernels/images/pulls")["pulls"]
              if proxy.host in o["source"])  # fmt: skip
    assert (op["state"], op["kernel"], op["image_path"]) == ("cancelled", None, None)
    assert "Never registered" not in panel.locator('[data-testid="jck-kernel-list"]').inner_text()
    store = Path(os.environ["JUPYTER_DATA_DIR"]) / "container-kernels" / "images"
    assert not [p.name for p in store.iterdir() if p.name.startswith(".tmp")]
    shot("pull-cancelled")

    # 7. A reference the registry does not hold: the pull fails with the server's one line.
    panel = start_pull_from_form(page, f"docker://{registry.host}/jck/missing:1", "Missing")
    failed = panel.locator('[data-testid="jck-pull"][data-state="failed"]')
    failed.wait_for(timeout=PULL_TIMEOUT_MS)
    op = next(o for o in lab.api("container-kernels/images/pulls")["pulls"]
              if "missing" in o["source"])  # fmt: skip
    error = failed.locator('[data-testid="jck-pull-error"]')
    assert error.inner_text() == op["error"] and "no such image in" in op["error"], op
    assert error.get_attribute("role") == "alert"
    shot("pull-failed")

    # 8. Dismissed, finished pulls leave the panel.
    for _ in range(2):
        panel.locator('[data-testid="jck-pull-dismiss"]').first.click()
    panel.locator('[data-testid="jck-pull-list"]').wait_for(state="detached")


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
    form.wait_for(state="detached")  # the form closed; the pull goes on without it
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
    # Which phases the once-a-second poll caught depends on the machine's speed (the bytes of
    # a download are checked on the stalled pull below); every one is a phase this pull has.
    phases = ("Waiting to start", "Downloading", "Unpacking layers", "Probing the image")
    assert all(t.startswith(phases) for t in texts[:-1]) and len(texts) >= 2, texts
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
