"""Images from registries (``docker://REF``), read with ``skopeo``.

:func:`resolve` asks the registry for the manifest only (``skopeo inspect --raw``; for a
multi-platform index, then the manifest for this machine): the registry digest, the image's
config digest (what the store compares to reuse an image) and the layers' compressed size (the
free-space check, the download's total), before anything is downloaded. :func:`fetch` then
copies exactly that manifest (``skopeo copy docker://REPO@DIGEST oci:DIR:REF``) into an OCI
layout, which the one flattener (:mod:`.oci`, :mod:`.archive`) unpacks, digests checked.

TLS and credentials are skopeo's own: certificates in ``/etc/containers/certs.d/HOST:PORT/``
and ``$XDG_RUNTIME_DIR/containers/auth.json`` (``skopeo login``) work as they are;
:class:`RegistryOptions` adds a CA directory and an authfile of one's own. Every failure
becomes a :class:`~..errors.RegistryError` whose one line names the fix.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import _process
from ..errors import CommandNotFoundError, ProcessError, RegistryError, SpecError
from .oci import DIGEST, INDEX_TYPES, _for_host, _host

if TYPE_CHECKING:
    from ..site import SiteConfig

SKOPEO = "skopeo"
#: Seconds an inspect may take; a copy's limit is :attr:`RegistryOptions.timeout`.
INSPECT_TIMEOUT = 120.0
#: Seconds between two download progress events (the layout's bytes on disk are measured).
POLL = 0.5
#: ``HOST[:PORT]/PATH[:TAG][@sha256:…]``, the shape of a ``docker://`` reference.
REFERENCE = re.compile(
    r"(?P<repo>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+"
    r"|[a-z0-9]+(?:[._-][a-z0-9]+)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)

#: ``done, total`` bytes downloaded so far.
ByteProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class RegistryOptions:
    """How to reach registries: ``cert_dir`` a directory of CA certificates (``*.crt``) for a
    private CA, ``authfile`` a ``skopeo login`` / ``podman login`` credentials file,
    ``tls_verify`` false only for a registry without TLS or with a self-signed certificate one
    chooses not to check, ``timeout`` the seconds a download may take."""

    cert_dir: str | None = None
    authfile: str | None = None
    tls_verify: bool = True
    timeout: float = 6 * 3600.0

    def __post_init__(self) -> None:
        if self.cert_dir is not None and not os.path.isdir(self.cert_dir):
            raise SpecError(
                "cert_dir",
                f"{self.cert_dir!r} is not a directory; give the directory holding the "
                "registry's CA certificate (ca.crt)",
            )
        if self.authfile is not None and not os.path.isfile(self.authfile):
            raise SpecError(
                "authfile",
                f"{self.authfile!r} is not a file; give the file `skopeo login --authfile FILE` "
                "wrote",
            )

    def args(self, prefix: str = "") -> list[str]:
        """skopeo's options for these settings (``prefix`` ``src-`` for ``skopeo copy``)."""
        args = []
        if self.cert_dir:
            args.append(f"--{prefix}cert-dir={self.cert_dir}")
        if self.authfile:
            args.append(f"--{prefix}authfile={self.authfile}")
        if not self.tls_verify:
            args.append(f"--{prefix}tls-verify=false")
        return args


def site_options(
    site: SiteConfig, *, cert_dir: str | None = None, authfile: str | None = None
) -> RegistryOptions:
    """The options a pull uses: ``cert_dir`` and ``authfile`` given (CLI flags) win over the
    site's ``registry_cert_dir`` and ``registry_authfile``."""
    return RegistryOptions(
        cert_dir=_path(cert_dir or site.registry_cert_dir),
        authfile=_path(authfile or site.registry_authfile),
    )


def _path(value: str | None) -> str | None:
    return os.path.abspath(os.path.expanduser(value)) if value else None


@dataclass(frozen=True)
class Reference:
    """A ``docker://`` (or ``oras://``) reference: ``repository`` (``host:port/path``), ``tag``
    or ``digest``; ``text`` is the reference without its scheme."""

    text: str
    repository: str
    tag: str | None
    digest: str | None
    scheme: str = "docker"

    @property
    def uri(self) -> str:
        return f"{self.scheme}://{self.text}"

    @property
    def host(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def name(self) -> str:
        """A store name: the repository's last part and the tag (``pytorch-2.7``)."""
        last = self.repository.rsplit("/", 1)[-1]
        if self.tag:
            return f"{last}-{self.tag}"
        return f"{last}-{self.digest.removeprefix('sha256:')[:12]}" if self.digest else last


def parse_reference(text: str) -> Reference:
    """``docker://REF``, ``oras://REF`` (or ``REF``) parsed; :class:`SpecError` (field
    ``source``) when it is not a reference."""
    scheme = "oras" if text.startswith("oras://") else "docker"
    ref = text.removeprefix(f"{scheme}://")
    found = REFERENCE.fullmatch(ref)
    if not found:
        raise SpecError(
            "source",
            f"{text!r} is not an image reference; give {scheme}://HOST[:PORT]/PATH[:TAG|"
            f"@sha256:…], e.g. {scheme}://docker.io/library/debian:12",
        )
    tag = found["tag"] or (None if found["digest"] else "latest")
    return Reference(ref, found["repo"], tag, found["digest"], scheme)


@dataclass(frozen=True)
class Remote:
    """An image as its registry describes it: ``registry_digest`` is the digest the reference
    resolved to (the index of a multi-platform image), ``manifest_digest`` this platform's
    manifest, ``config_digest`` the image ID, ``layer_bytes`` the compressed layers' size."""

    reference: Reference
    registry_digest: str
    manifest_digest: str
    config_digest: str
    layer_bytes: int
    layers: int


def resolve(reference: Reference, options: RegistryOptions) -> Remote:
    """What ``reference`` names now, from its manifest alone (nothing is downloaded)."""
    raw = _inspect(f"docker://{reference.text}", reference, options)
    registry_digest = _sha256(raw)
    manifest, manifest_digest = _json(raw, reference), registry_digest
    if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
        manifest_digest = _platform_manifest(manifest, reference)
        raw = _inspect(f"docker://{reference.repository}@{manifest_digest}", reference, options)
        if _sha256(raw) != manifest_digest:
            raise RegistryError(
                "failed",
                f"docker://{reference.text}: the registry sent a manifest that does not match its "
                f"digest {manifest_digest}; refusing the pull",
            )
        manifest = _json(raw, reference)
    try:
        config = manifest["config"]["digest"]
        sizes = [int(layer["size"]) for layer in manifest["layers"]]
    except (KeyError, TypeError, ValueError):
        raise RegistryError(
            "failed",
            f"docker://{reference.text}: the registry's manifest is not an image manifest this "
            "version reads (schema 2 or OCI); convert the image or pull it with a newer tool",
        ) from None
    if not isinstance(config, str) or not DIGEST.fullmatch(config):
        raise RegistryError("failed", f"docker://{reference.text}: config digest {config!r} is "
                            "not sha256:<64 hex digits>")  # fmt: skip
    return Remote(reference, registry_digest, manifest_digest, config, sum(sizes), len(sizes))


def fetch(
    remote: Remote,
    layout: str,
    options: RegistryOptions,
    progress: ByteProgress | None = None,
    cancel: threading.Event | None = None,
) -> str:
    """Download the manifest :func:`resolve` found, and its blobs, into the new OCI layout
    directory ``layout``; returns the reference name the layout's index gives it. ``progress``
    gets the bytes on disk so far (never the final event: the caller sends it)."""
    ref_name = remote.reference.tag or "pulled"
    source = f"docker://{remote.reference.repository}@{remote.manifest_digest}"
    argv = [SKOPEO, "copy", "--retry-times=2", *options.args("src-"), source,
            f"oci:{layout}:{ref_name}"]  # fmt: skip
    total = remote.layer_bytes
    report = progress or (lambda done, total: None)
    stop = threading.Event()

    def poll() -> None:  # skopeo prints no byte counts without a terminal: measure the layout
        while not stop.wait(POLL):
            report(min(_bytes_under(layout), total), total)

    def on_line(line: str) -> None:
        if line.startswith("Copying blob"):
            report(min(_bytes_under(layout), total), total)

    watcher = threading.Thread(target=poll, name="jck-pull-progress", daemon=True)
    watcher.start()
    try:
        _skopeo(argv, remote.reference, options, options.timeout, on_line, cancel, layout)
    finally:
        stop.set()
        watcher.join()
    return ref_name


def classify(stderr: str, reference: Reference, where: str = "") -> RegistryError:
    """skopeo's error output as a :class:`RegistryError` naming the fix; ``where`` is the
    directory being written (for a full disk)."""
    message = _message(stderr)
    low = message.lower()
    src = reference.uri
    host = reference.host
    if "no space left on device" in low:
        return RegistryError("no-space", f"no space left on device while pulling {src} into "
                             f"{where or 'the image store'}; free some space or set "
                             "c.SiteConfig.image_store elsewhere")  # fmt: skip
    if "toomanyrequests" in low or re.search(r"\b429\b", low) or "too many requests" in low:
        return RegistryError("rate-limited", f"{src}: {host} is rate-limiting pulls (429 too many "
                             "requests); wait and try again, or log in (`skopeo login "
                             f"{host}`) for a higher limit")  # fmt: skip
    if ("unauthorized" in low or "authentication required" in low or "denied" in low
            or re.search(r"\b401\b", low)):  # fmt: skip
        return RegistryError("unauthorized", f"{src}: {host} refused access (unauthorized); log "
                             f"in with `skopeo login {host}`, or give --authfile FILE (or "
                             "c.SiteConfig.registry_authfile) holding your credentials")  # fmt: skip
    if "manifest unknown" in low or "name unknown" in low or "not found" in low:
        return RegistryError("not-found", f"{src}: no such image in {host} (manifest unknown); "
                             "check the repository and tag (`skopeo list-tags "
                             f"docker://{reference.repository}` lists the tags)")  # fmt: skip
    if "x509:" in low or "certificate" in low or "tls:" in low:
        return RegistryError("tls", f"{src}: the TLS certificate of {host} is not trusted "
                             f"({_short(message)}); give --cert-dir DIR (or "
                             "c.SiteConfig.registry_cert_dir), a directory holding the "
                             "registry's CA certificate as ca.crt, or install it in "
                             f"/etc/containers/certs.d/{host}/")  # fmt: skip
    if ("connection refused" in low or "no such host" in low or "i/o timeout" in low
            or "network is unreachable" in low):  # fmt: skip
        return RegistryError("unreachable", f"{src}: cannot reach {host} ({_short(message)}); "
                             "check the registry's address and port, and the proxy "
                             "variables (https_proxy)")  # fmt: skip
    return RegistryError("failed", f"pulling {src} failed: {_short(message)}")


def _inspect(source: str, reference: Reference, options: RegistryOptions) -> bytes:
    argv = [SKOPEO, "inspect", "--raw", "--retry-times=2", *options.args(), source]
    return _skopeo(argv, reference, options, INSPECT_TIMEOUT).stdout.encode()


def _skopeo(
    argv: list[str],
    reference: Reference,
    options: RegistryOptions,
    timeout: float,
    on_line: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
    where: str = "",
) -> _process.Completed:
    try:
        done = _process.run_sync(argv, timeout=timeout, check=False, on_line=on_line,
                                 cancel=cancel)  # fmt: skip
    except CommandNotFoundError:
        raise CommandNotFoundError(
            f"`{SKOPEO}` is needed to pull docker:// images and is not installed; install it "
            "(Debian and Ubuntu: apt install skopeo; RHEL: dnf install skopeo)"
        ) from None
    if done.returncode != 0:
        raise classify(done.stderr, reference, where) from ProcessError(
            argv, done.returncode, _process.tail(done.stderr)
        )
    return done


def _message(stderr: str) -> str:
    """The ``msg="…"`` of skopeo's last ``level=fatal`` line, else its last line."""
    for line in reversed(stderr.strip().splitlines()):
        found = re.search(r'level=fatal msg="((?:[^"\\]|\\.)*)"', line)
        if found:
            return found[1].replace('\\"', '"')
    lines = [line for line in stderr.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "(no output on stderr)"


def _short(message: str) -> str:
    """The end of skopeo's wrapped message (after its ``initializing source …:`` prefixes)."""
    parts = message.split(": ")
    return ": ".join(parts[-2:]) if len(parts) > 2 else message


def _platform_manifest(index: dict[str, Any], reference: Reference) -> str:
    for descriptor in index.get("manifests") or []:
        if isinstance(descriptor, dict) and _for_host(descriptor.get("platform")):
            digest = descriptor.get("digest")
            if isinstance(digest, str) and DIGEST.fullmatch(digest):
                return digest
    raise RegistryError("not-found", f"docker://{reference.text} has no image for {_host()}; "
                        "pull one built for this machine's platform")  # fmt: skip


def _json(raw: bytes, reference: Reference) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise RegistryError("failed", f"docker://{reference.text}: the registry's manifest is not "
                            "a JSON object")  # fmt: skip
    return data


def _sha256(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _bytes_under(folder: str) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for file in files:
            with contextlib.suppress(OSError):  # renamed or removed while we looked
                total += os.lstat(os.path.join(root, file)).st_size
    return total
