"""Write OCI image layouts with Python (json, tarfile, gzip; no registry, no tool):
``oci-layout``, ``index.json`` and ``blobs/sha256/HEX``, as a directory or tarred.

``write(path, images)`` takes ``[(ref_name, layers)]`` (layers as :mod:`.dockersave` takes
them); ``gzip_layers`` compresses them (at ``gzip_level``: 1 for big layers in fixtures);
``nested`` puts each image's manifest behind a nested index (as a multi-platform image has it);
``tarball`` writes the layout as one tar at ``path``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .dockersave import Layer, layer_bytes

OCI = "application/vnd.oci.image"


@dataclass(frozen=True)
class Written:
    """What :func:`write` wrote: each image's config digest (its ID) and layer digests."""

    digests: list[str]
    layers: list[list[str]]


def write(
    path: Path,
    images: list[tuple[str | None, list[Layer]]],
    *,
    gzip_layers: bool = False,
    gzip_level: int = 9,
    nested: bool = False,
    tarball: bool = False,
) -> Written:
    blobs: dict[str, bytes] = {}

    def blob(data: bytes) -> dict[str, object]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    descriptors: list[dict[str, object]] = []
    written = Written([], [])
    for ref, layers in images:
        datas = [layer_bytes(layer) for layer in layers]
        diff_ids = ["sha256:" + hashlib.sha256(data).hexdigest() for data in datas]
        if gzip_layers:
            datas = [gzip.compress(data, gzip_level, mtime=0) for data in datas]
        kind = f"{OCI}.layer.v1.tar" + ("+gzip" if gzip_layers else "")
        layer_descs = [{"mediaType": kind, **blob(data)} for data in datas]
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Env": ["PATH=/usr/bin:/bin"]},
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "history": [{"created_by": f"jck test layer {i}"} for i in range(len(datas))],
            }
        ).encode()
        config_desc = {"mediaType": f"{OCI}.config.v1+json", **blob(config)}
        manifest = {"schemaVersion": 2, "mediaType": f"{OCI}.manifest.v1+json",
                    "config": config_desc, "layers": layer_descs}  # fmt: skip
        descriptor: dict[str, object] = {
            "mediaType": f"{OCI}.manifest.v1+json",
            **blob(json.dumps(manifest).encode()),
        }
        if nested:  # a multi-platform index: this platform, and one that must be skipped
            other = {"mediaType": f"{OCI}.manifest.v1+json", **blob(b"{}"),
                     "platform": {"os": "linux", "architecture": "mips64"}}  # fmt: skip
            inner = {"schemaVersion": 2, "mediaType": f"{OCI}.index.v1+json",
                     "manifests": [other, descriptor]}  # fmt: skip
            descriptor = {"mediaType": f"{OCI}.index.v1+json", **blob(json.dumps(inner).encode())}
        if ref is not None:
            descriptor["annotations"] = {"org.opencontainers.image.ref.name": ref}
        descriptors.append(descriptor)
        written.digests.append(str(config_desc["digest"]))
        written.layers.append([str(d["digest"]) for d in layer_descs])
    index = {"schemaVersion": 2, "mediaType": f"{OCI}.index.v1+json", "manifests": descriptors}
    files = {
        "oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
        "index.json": json.dumps(index).encode(),
        **{f"blobs/sha256/{d.removeprefix('sha256:')}": data for d, data in blobs.items()},
    }
    if tarball:
        with tarfile.open(path, "w") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    else:
        for name, data in files.items():
            os.makedirs(path / os.path.dirname(name), exist_ok=True)
            (path / name).write_bytes(data)
    return written
