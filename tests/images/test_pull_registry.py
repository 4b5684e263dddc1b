"""Pulling ``docker://`` references from a real registry (Debian's ``docker-registry`` on
127.0.0.1 with TLS, see :mod:`.registry`) with the real ``skopeo``: the image runs a
Charliecloud kernel, its registry digest is recorded, each failure is one line naming the fix,
and a failed or cancelled pull leaves nothing behind."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import AsyncKernelManager

from jupyter_container_kernels.errors import CancelledError, RegistryError, SpecError
from jupyter_container_kernels.images.registry import RegistryOptions, classify, parse_reference
from jupyter_container_kernels.images.sources import parse_source
from jupyter_container_kernels.images.store import ImageStore, ProgressEvent
from tests.kernels.test_provisioner import KERNEL_INFO_TIMEOUT, config_for, kernel, run_json

from .registry import Registry
from .test_pull_kernel import jck

__all__ = ["kernel"]  # the fixture, shared with the provisioner's tests


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(str(tmp_path / "store"))


def left_in(store: ImageStore) -> list[str]:
    return sorted(os.listdir(store.root)) if os.path.isdir(store.root) else []


async def test_a_registry_image_runs_a_charliecloud_kernel(
    oci_registry: Registry, store: ImageStore, kernel: Any
) -> None:
    source = parse_source(f"docker://{oci_registry.host}/jck/pulled:1")
    options = RegistryOptions(cert_dir=str(oci_registry.cert_dir))
    events: list[ProgressEvent] = []
    pulled = store.pull(source, options=options, progress=events.append)
    assert Path(pulled.path).name == "pulled-1" and not pulled.reused
    assert [e.phase for e in events if e.finished] == ["download", "unpack"]
    download = [e for e in events if e.phase == "download"]
    assert download[-1].done == download[-1].total > 50_000_000  # the compressed layers' bytes
    meta = json.loads(Path(pulled.path + ".json").read_text())
    assert meta["source"] == f"docker://{oci_registry.host}/jck/pulled:1"
    assert meta["registry_digest"] == oci_registry.pushed["jck/pulled:1"]
    assert meta["repo_tags"] == [f"{oci_registry.host}/jck/pulled:1"]
    assert "source_path" not in meta and "tarball_sha256" not in meta

    async with kernel(config_for("charliecloud", pulled.path)) as (_km, kc):
        seen = await run_json(
            kc,
            "{'pulled': open('/etc/jck-pulled').read(), "
            "'whited_out': os.path.exists('/etc/jck-test-image')}",
        )
    assert seen == {"pulled": "from the registry\n", "whited_out": False}

    start = time.monotonic()
    again = store.pull(source, options=options, progress=events.append)
    assert again.reused and again.path == pulled.path
    assert time.monotonic() - start < 3.0  # the manifest is read, nothing downloaded
    assert left_in(store) == [".locks", "pulled-1", "pulled-1.json"]


async def test_pull_and_install_from_a_registry_on_the_command_line(
    oci_registry: Registry, lmod_env: dict[str, str], jp_environ: None
) -> None:
    """``pull --cert-dir`` shows JSON progress and prints the stored image; ``install
    docker://… --runtime charliecloud`` pulls (the site's ``registry_cert_dir``) and registers
    a kernel that jupyter_client starts inside the image."""
    ref = f"docker://{oci_registry.host}/jck/pulled:1"
    done = jck("pull", ref, "--cert-dir", str(oci_registry.cert_dir), "--json", env=lmod_env)
    assert done.returncode == 0, done.stderr
    phases = [json.loads(line)["phase"] for line in done.stderr.splitlines()]
    assert phases, done.stdout
    assert phases[0] == "download" and phases[-1] == "unpack"
    shown = json.loads(done.stdout)
    assert shown["registry_digest"] == oci_registry.pushed["jck/pulled:1"]

    done = jck("install", ref, "--runtime", "charliecloud", env=lmod_env)
    assert done.returncode == 1  # no CA given: one line, naming the fix
    assert done.stderr.startswith(f"Error: {ref}: the TLS certificate of {oci_registry.host} is")
    assert "give --cert-dir DIR (or c.SiteConfig.registry_cert_dir)" in done.stderr
    config_dir = Path(os.environ["JUPYTER_CONFIG_DIR"])
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "jupyter_container_kernels_config.json").write_text(
        json.dumps({"SiteConfig": {"registry_cert_dir": str(oci_registry.cert_dir)}})
    )
    done = jck("install", ref, "--runtime", "charliecloud", "--name", "reg", env=lmod_env)
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.startswith("Installed reg (reg (container)) in ") and "ipykernel" in done.stdout
    )

    km = AsyncKernelManager(kernel_name="reg")
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=KERNEL_INFO_TIMEOUT)
        assert await run_json(kc, "open('/etc/jck-pulled').read()") == "from the registry\n"
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)


# -- each failure: one line naming the fix, nothing left behind -----------------------------


def test_a_missing_tag_is_not_found(oci_registry: Registry, store: ImageStore) -> None:
    options = RegistryOptions(cert_dir=str(oci_registry.cert_dir))
    with pytest.raises(RegistryError) as info:
        store.pull(parse_source(f"docker://{oci_registry.host}/jck/tiny:2"), options=options)
    assert info.value.kind == "not-found" and info.value.http_status == 404
    assert str(info.value) == (
        f"docker://{oci_registry.host}/jck/tiny:2: no such image in {oci_registry.host} "
        f"(manifest unknown); check the repository and tag (`skopeo list-tags "
        f"docker://{oci_registry.host}/jck/tiny` lists the tags)"
    )
    assert left_in(store) == []


def test_an_unknown_certificate_authority_points_at_cert_dir(
    oci_registry: Registry, store: ImageStore
) -> None:
    with pytest.raises(RegistryError) as info:
        store.pull(parse_source(f"docker://{oci_registry.host}/jck/tiny:1"))
    message = str(info.value)
    assert info.value.kind == "tls" and "\n" not in message
    assert "x509: certificate signed by unknown authority" in message
    assert "give --cert-dir DIR (or c.SiteConfig.registry_cert_dir)" in message
    assert left_in(store) == []


def test_a_registry_without_tls_checks_needs_no_certificate(
    oci_registry: Registry, store: ImageStore
) -> None:
    pulled = store.pull(
        parse_source(f"docker://{oci_registry.host}/jck/tiny:1"),
        options=RegistryOptions(tls_verify=False),
    )
    assert Path(pulled.path, "etc/tiny").read_text() == "tiny\n"


def test_unauthorized_says_how_to_log_in_and_an_authfile_works(
    auth_registry: Registry, store: ImageStore, tmp_path: Path
) -> None:
    ref = f"docker://{auth_registry.host}/jck/tiny:1"
    with pytest.raises(RegistryError) as info:
        store.pull(parse_source(ref), options=RegistryOptions(cert_dir=str(auth_registry.cert_dir)))
    assert info.value.kind == "unauthorized"
    assert f"log in with `skopeo login {auth_registry.host}`, or give --authfile FILE" in str(
        info.value
    )
    assert left_in(store) == []

    authfile = tmp_path / "auth.json"
    login = skopeo(
        "login", f"--cert-dir={auth_registry.cert_dir}", f"--authfile={authfile}",
        "-u", "jck", "-p", "secret", auth_registry.host,
    )  # fmt: skip
    assert login.returncode == 0, login.stderr
    options = RegistryOptions(cert_dir=str(auth_registry.cert_dir), authfile=str(authfile))
    pulled = store.pull(parse_source(ref), options=options)
    assert Path(pulled.path, "etc/tiny").read_text() == "tiny\n"


class TooManyRequests(BaseHTTPRequestHandler):
    """What Docker Hub answers over its pull limit: 429 with a ``TOOMANYREQUESTS`` error."""

    def do_GET(self) -> None:
        body = json.dumps({"errors": [{"code": "TOOMANYREQUESTS", "message": "You have reached "
                                       "your pull rate limit."}]}).encode()  # fmt: skip
        self.send_response(429)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def rate_limited(oci_registry: Registry) -> Iterator[str]:
    """A registry endpoint over its pull limit (a small HTTPS server answering 429, with the
    test registry's certificate: docker-registry itself has no rate limit)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), TooManyRequests)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    serve = oci_registry.folder
    context.load_cert_chain(serve / "cert.pem", serve / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_rate_limited_says_wait_or_log_in(
    oci_registry: Registry, rate_limited: str, store: ImageStore
) -> None:
    options = RegistryOptions(cert_dir=str(oci_registry.cert_dir))
    with pytest.raises(RegistryError) as info:
        store.pull(parse_source(f"docker://{rate_limited}/jck/tiny:1"), options=options)
    assert info.value.kind == "rate-limited" and info.value.http_status == 429
    assert "is rate-limiting pulls (429 too many requests); wait and try again" in str(info.value)


def test_not_enough_space_refuses_before_downloading(
    oci_registry: Registry, tmp_path: Path
) -> None:
    """The manifest's layer sizes are checked against the store's free space first."""
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=40m", "jck-test", str(small)], check=True, timeout=30
    )  # fmt: skip (needs root)
    try:
        store = ImageStore(str(small / "store"))
        options = RegistryOptions(cert_dir=str(oci_registry.cert_dir))
        with pytest.raises(Exception, match=r"not enough space in .*: the pull needs about"):
            store.pull(parse_source(f"docker://{oci_registry.host}/jck/pulled:1"), options=options)
        assert left_in(store) == [".locks"]
    finally:
        subprocess.run(["umount", str(small)], check=True, timeout=30)


def test_skopeo_running_out_of_space_is_named() -> None:
    """skopeo's own message for a full disk (as containers/image words it)."""
    reference = parse_reference("docker://registry.example.org/team/tool:1")
    stderr = ('time="2026-01-01T00:00:00Z" level=fatal msg="writing blob: storing blob to file '
              '\\"/store/.tmp-tool-1-x/layout/blobs/sha256/oci-put-blob123\\": write '
              '/store/.tmp-tool-1-x/layout/blobs/sha256/oci-put-blob123: no space left on '
              'device"\n')  # fmt: skip
    error = classify(stderr, reference, "/store")
    assert (error.kind, str(error)) == ("no-space", (
        "no space left on device while pulling docker://registry.example.org/team/tool:1 into "
        "/store; free some space or set c.SiteConfig.image_store elsewhere"))  # fmt: skip


def test_a_cancelled_download_leaves_nothing(oci_registry: Registry, store: ImageStore) -> None:
    cancel = threading.Event()

    def progress(event: ProgressEvent) -> None:
        if event.phase == "download":
            cancel.set()

    with pytest.raises(CancelledError):
        store.pull(
            parse_source(f"docker://{oci_registry.host}/jck/pulled:1"),
            options=RegistryOptions(cert_dir=str(oci_registry.cert_dir)),
            progress=progress,
            cancel=cancel,
        )
    assert left_in(store) == [".locks"]


def test_references_are_checked_before_any_tool_runs() -> None:
    assert parse_reference("docker://reg.example.org:5000/a/b").tag == "latest"
    ref = parse_reference("docker://reg.example.org:5000/a/b@sha256:" + "0" * 64)
    assert (ref.repository, ref.tag, ref.name) == (
        "reg.example.org:5000/a/b",
        None,
        "b-000000000000",
    )
    with pytest.raises(SpecError, match=r"source: 'docker://Bad Name' is not an image reference"):
        parse_source("docker://Bad Name")
    with pytest.raises(SpecError, match="cert_dir: '/nonexistent' is not a directory"):
        RegistryOptions(cert_dir="/nonexistent")


def skopeo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=60)
