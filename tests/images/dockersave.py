"""Write ``docker save`` tarballs with Python's tarfile, in Docker's own layout (no registry,
no daemon): ``manifest.json``, ``<config sha256>.json`` and ``<layer id>/layer.tar``.

A layer is a list of :class:`Entry`, a directory (added whole) or raw bytes; ``save(path, images)``
takes ``[(repo_tags, layers)]``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Entry:
    """One layer member: a file (``data``), a directory (``kind="dir"``), a symlink
    (``kind="sym"``, ``target``), a character device (``kind="chr"``) or a hard link."""

    name: str
    data: bytes = b""
    kind: str = "file"
    mode: int = 0o644
    target: str = ""


Layer = list[Entry] | Path | bytes  # bytes: the layer tar as it is (e.g. a broken one)

KINDS = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE,
         "chr": tarfile.CHRTYPE, "hard": tarfile.LNKTYPE}  # fmt: skip


def layer_bytes(layer: Layer) -> bytes:
    if isinstance(layer, bytes):
        return layer
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if isinstance(layer, Path):
            for child in sorted(os.listdir(layer)):
                tar.add(layer / child, arcname=child)
        else:
            for entry in layer:
                info = tarfile.TarInfo(entry.name)
                info.type = KINDS[entry.kind]
                info.mode = entry.mode if entry.kind != "dir" else 0o755
                info.mtime = 1_700_000_000
                info.linkname = entry.target
                info.size = len(entry.data) if entry.kind == "file" else 0
                tar.addfile(info, io.BytesIO(entry.data) if entry.kind == "file" else None)
    return out.getvalue()


def save(
    path: Path, images: list[tuple[list[str], list[Layer]]], *, manifest_first: bool = False
) -> list[str]:
    """Write the tarball; returns each image's ID (``sha256:`` + its config's sha256).
    ``docker save`` writes manifest.json last; ``manifest_first`` writes it first (so that a
    truncated copy still has it)."""
    manifest: list[dict[str, object]] = []
    ids: list[str] = []
    with tarfile.open(path, "w") as tar:
        written: set[str] = set()

        def add(name: str, data: bytes) -> None:
            if name in written:
                return
            written.add(name)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))

        plan = []
        for tags, layers in images:
            names, diff_ids, blobs = [], [], []
            for layer in layers:
                data = layer_bytes(layer)
                digest = hashlib.sha256(data).hexdigest()
                names.append(f"{digest}/layer.tar")
                diff_ids.append(f"sha256:{digest}")
                blobs.append((names[-1], data))
            config = json.dumps(
                {
                    "architecture": "amd64",
                    "os": "linux",
                    "config": {"Env": ["PATH=/usr/bin:/bin"]},
                    "rootfs": {"type": "layers", "diff_ids": diff_ids},
                    "tags": tags,
                }
            ).encode()
            config_id = hashlib.sha256(config).hexdigest()
            blobs.append((f"{config_id}.json", config))
            manifest.append({"Config": f"{config_id}.json", "RepoTags": tags, "Layers": names})
            ids.append(f"sha256:{config_id}")
            plan.extend(blobs)
        manifest_member = ("manifest.json", json.dumps(manifest).encode())
        for name, data in [manifest_member, *plan] if manifest_first else [*plan, manifest_member]:
            add(name, data)
    return ids
