"""A real OCI registry on 127.0.0.1 for the tests: Debian's ``docker-registry`` (the CNCF
distribution registry) with its own config file, TLS with a self-signed certificate made here
with ``openssl``, a free port, optionally htpasswd authentication (bcrypt, ``htpasswd -B``).

``start(folder, auth=None)`` returns a running :class:`Registry`; ``push`` copies an OCI layout
into it with the real ``skopeo``; ``stop`` ends it. Nothing here reaches the network.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import require_executable

START_TIMEOUT = 20.0


@dataclass
class Registry:
    """``host`` is ``127.0.0.1:PORT``; ``cert_dir`` holds its CA certificate as ``ca.crt``
    (what ``--cert-dir`` takes); ``auth`` the ``(user, password)`` it requires, if any;
    ``pushed`` each pushed ``path:tag`` and its manifest digest."""

    host: str
    cert_dir: Path
    folder: Path
    process: subprocess.Popen[bytes]
    auth: tuple[str, str] | None = None
    pushed: dict[str, str] = field(default_factory=dict)

    def push(self, layout: Path, ref_name: str, repository: str) -> str:
        """Copy ``oci:LAYOUT:REF_NAME`` to ``HOST/REPOSITORY`` (``path:tag``); returns the
        manifest digest the registry stored."""
        digest_file = self.folder / "pushed-digest"
        creds = [f"--dest-creds={self.auth[0]}:{self.auth[1]}"] if self.auth else []
        subprocess.run(
            [require_executable("skopeo"), "copy", "--quiet", f"--dest-cert-dir={self.cert_dir}",
             *creds, f"--digestfile={digest_file}", f"oci:{layout}:{ref_name}",
             f"docker://{self.host}/{repository}"],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        self.pushed[repository] = digest_file.read_text().strip()
        return self.pushed[repository]

    def push_sif(self, sif: Path, repository: str) -> str:
        """Store the file ``sif`` as ``apptainer push`` does (an ORAS artifact: one layer of
        type ``application/vnd.sylabs.sif.layer.v1.sif``), through skopeo's dir: transport;
        returns the manifest digest."""
        folder = self.folder / f"sif-{repository.replace('/', '-').replace(':', '-')}"
        folder.mkdir()

        def blob(data: bytes) -> tuple[str, int]:
            digest = hashlib.sha256(data).hexdigest()
            (folder / digest).write_bytes(data)
            return f"sha256:{digest}", len(data)

        config, config_size = blob(b"{}")
        layer, layer_size = blob(sif.read_bytes())
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.sylabs.sif.config.v1+json",
                       "digest": config, "size": config_size},
            "layers": [{"mediaType": "application/vnd.sylabs.sif.layer.v1.sif",
                        "digest": layer, "size": layer_size,
                        "annotations": {"org.opencontainers.image.title": sif.name}}],
        }  # fmt: skip
        (folder / "manifest.json").write_text(json.dumps(manifest))
        (folder / "version").write_text("Directory Transport Version: 1.1\n")
        digest_file = self.folder / "pushed-digest"
        subprocess.run(
            [require_executable("skopeo"), "copy", "--quiet", f"--dest-cert-dir={self.cert_dir}",
             f"--digestfile={digest_file}", f"dir:{folder}", f"docker://{self.host}/{repository}"],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        self.pushed[repository] = digest_file.read_text().strip()
        return self.pushed[repository]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start(folder: Path, auth: tuple[str, str] | None = None) -> Registry:
    registry = require_executable("docker-registry")
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [require_executable("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    cert_dir = folder / "certs"
    cert_dir.mkdir()
    (cert_dir / "ca.crt").write_bytes(cert.read_bytes())
    auth_config = ""
    if auth:
        done = subprocess.run(
            [require_executable("htpasswd"), "-Bbn", *auth],
            check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        (folder / "htpasswd").write_text(done.stdout)
        auth_config = f"auth:\n  htpasswd:\n    realm: jck-test\n    path: {folder}/htpasswd\n"
    (folder / "config.yml").write_text(
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {folder}/data\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: jck-test-secret\n"
        f"  tls:\n    certificate: {cert}\n    key: {key}\n{auth_config}"
    )
    log = open(folder / "registry.log", "wb")  # noqa: SIM115 (the registry's, until it stops)
    process = subprocess.Popen(
        [registry, "serve", str(folder / "config.yml")], stdout=log, stderr=subprocess.STDOUT
    )
    running = Registry(f"127.0.0.1:{port}", cert_dir, folder, process, auth)
    context = ssl.create_default_context(cafile=str(cert))
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            urllib.request.urlopen(f"https://127.0.0.1:{port}/v2/", context=context, timeout=2)
            return running
        except urllib.error.HTTPError as exc:
            if exc.code == 401:  # up, and asking for credentials
                return running
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            running.stop()
            log_text = (folder / "registry.log").read_text()
            raise RuntimeError(f"docker-registry did not start: {log_text}")
        time.sleep(0.1)


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
