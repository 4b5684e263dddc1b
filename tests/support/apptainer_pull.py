#!/usr/bin/python3 -I
"""Test stand-in for `apptainer pull` and `apptainer build` (run by tests/support/bin/apptainer).
NOT Apptainer; stdlib only, with real tools underneath: skopeo (fetch), umoci (unpack, with
whiteouts), mksquashfs (the image file).

Accepted, as Apptainer 1.3 spells them:
  apptainer pull  [--force|-F] [--authfile F] [--no-https] [--disable-cache] [OUT.sif] SOURCE
  apptainer build [--force|-F] [--authfile F] [--no-https] [--disable-cache] OUT.sif SOURCE
SOURCE: docker://REF, oras://REF (pull); docker-archive://PATH (or docker-archive:PATH),
oci-archive://PATH, docker://REF (build).

Output: Apptainer's INFO lines on stderr (`INFO:    Converting OCI blobs to SIF format`,
`INFO:    Starting build...`, skopeo's `Copying blob …` lines, `INFO:    Extracting OCI
image...`, `INFO:    Inserting Apptainer configuration...`, `INFO:    Creating SIF file...`);
failures print `FATAL:   …` and exit 255 (an existing OUT without --force, a registry error
quoting skopeo's message, a missing archive); bad usage prints `Error: …` and exits 1.

Stand-in only: the "SIF" written is a SquashFS file of the image's root file system (the
stand-in's `exec` runs it with ch-run, which mounts SquashFS itself), not a real SIF. TLS: the
registry's CA comes from SSL_CERT_DIR / SSL_CERT_FILE, as for Apptainer (Go). oras:// pulls
the layer of media type application/vnd.sylabs.sif.layer.v1.sif (as `apptainer push` stores a
SIF) with skopeo's dir: transport.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

SIF_LAYER = "application/vnd.sylabs.sif.layer.v1.sif"
BOOL = {"force": "F", "no-https": None, "disable-cache": None, "help": "h"}
VALUE = {"authfile": None}
BIND_DIRS = [f"mnt/{i}" for i in range(10)] + ["scratch", "data"]
USAGE = {
    "pull": "apptainer [global options...] pull [pull options...] [output file] <URI>",
    "build": "apptainer [global options...] build [local options...] <IMAGE PATH> <BUILD SPEC>",
}


class UsageError(Exception):
    pass


class Fatal(Exception):
    pass


def info(message):
    print(f"INFO:    {message}", file=sys.stderr, flush=True)


def parse(verb, args):
    shorts = {s: n for n, s in BOOL.items() if s}
    opts, rest, i = {}, [], 0
    while i < len(args):
        arg, i = args[i], i + 1
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if name in BOOL:
                opts[name] = True
            elif name in VALUE:
                if not eq:
                    if i >= len(args):
                        raise UsageError(f"flag needs an argument: --{name}")
                    value, i = args[i], i + 1
                opts[name] = value
            else:
                raise UsageError(f"unknown flag: --{name}")
        elif arg.startswith("-") and len(arg) > 1:
            for letter in arg[1:]:
                if letter not in shorts:
                    raise UsageError(f"unknown shorthand flag: '{letter}' in {arg}")
                opts[shorts[letter]] = True
        else:
            rest.append(arg)
    wanted = (1, 2) if verb == "pull" else (2, 2)
    if not wanted[0] <= len(rest) <= wanted[1]:
        raise UsageError(
            f"accepts between {wanted[0]} and {wanted[1]} arg(s), received {len(rest)}"
        )
    return opts, rest


def skopeo(args, fail_prefix):
    """Run skopeo, its progress lines passed on; its fatal message becomes ours."""
    tool = shutil.which("skopeo")
    if not tool:
        raise Fatal("stand-in needs skopeo on PATH")
    proc = subprocess.run([tool, *args], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        print(line, file=sys.stderr, flush=True)
    if proc.returncode != 0:
        found = re.findall(r'level=fatal msg="((?:[^"\\]|\\.)*)"', proc.stderr)
        message = found[-1].replace('\\"', '"') if found else proc.stderr.strip()
        raise Fatal(f"{fail_prefix}: {message}")


def source_args(opts):
    args = [f"--src-authfile={opts['authfile']}"] if "authfile" in opts else []
    return args + (["--src-tls-verify=false"] if opts.get("no-https") else [])


def build_from(source, out, opts, work):
    """An image source -> a SquashFS file at `out` (through an OCI layout and a rootfs)."""
    if source.startswith("docker://"):
        fetched, what = source, "While making image from oci registry: error fetching image"
    elif source.startswith(("docker-archive:", "oci-archive:")):
        kind, _, path = source.partition(":")
        path = path.removeprefix("//")
        if not os.path.isfile(path):
            raise Fatal(
                f"While performing build: conveyor failed to get: unable to open "
                f"{kind} {path}: no such file or directory"
            )
        fetched, what = f"{kind}:{path}", "While performing build: conveyor failed to get"
    else:
        raise Fatal(
            f"While performing build: unsupported build spec {source!r} (stand-in: "
            "docker://, docker-archive://, oci-archive://)"
        )
    info("Converting OCI blobs to SIF format")
    info("Starting build...")
    layout = os.path.join(work, "layout")
    skopeo(["copy", *source_args(opts), fetched, f"oci:{layout}:img"], what)
    info("Extracting OCI image...")
    bundle = os.path.join(work, "bundle")
    done = subprocess.run(
        [
            shutil.which("umoci") or "umoci",
            "unpack",
            "--rootless",
            "--image",
            f"{layout}:img",
            bundle,
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise Fatal(f"While performing build: while extracting: {done.stderr.strip()[-500:]}")
    shutil.rmtree(layout)
    info("Inserting Apptainer configuration...")
    rootfs = os.path.join(bundle, "rootfs")
    for folder in ("dev", "proc", "sys", "tmp", "home", "root", "etc", *BIND_DIRS):
        os.makedirs(os.path.join(rootfs, folder), exist_ok=True)
    for file in ("etc/hosts", "etc/resolv.conf", "etc/passwd", "etc/group"):  # bound at run
        open(os.path.join(rootfs, file), "a").close()
    info("Creating SIF file...")
    squash(rootfs, out)


def squash(rootfs, out):
    tmp = out + ".stand-in-tmp"
    mksquashfs = shutil.which("mksquashfs")
    if mksquashfs is None:  # Apptainer's own words when squashfs-tools are missing
        raise Fatal(
            "While performing build: while creating SIF: while creating squashfs: create command "
            'failed: exec: "mksquashfs": executable file not found in $PATH'
        )
    done = subprocess.run([mksquashfs, rootfs, tmp,
                           "-noappend", "-no-progress", "-quiet", "-noI", "-noD", "-noF", "-noX",
                           "-all-root"], capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise Fatal(
            f"While performing build: while creating squashfs: "
            f"{(done.stderr or done.stdout).strip()[-500:]}"
        )
    os.replace(tmp, out)


def pull_oras(source, out, opts, work):
    info("Downloading oras image")
    folder = os.path.join(work, "artifact")
    skopeo(["copy", *source_args(opts), "docker://" + source.removeprefix("oras://"),
            f"dir:{folder}"], "While pulling image from oci registry: failed to get "
           "checksum for " + source)  # fmt: skip
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    layers = [x for x in manifest.get("layers", []) if x.get("mediaType") == SIF_LAYER]
    if len(layers) != 1:
        raise Fatal(
            f"While pulling image from oci registry: {source} is not a SIF artifact "
            f"(no single layer of type {SIF_LAYER})"
        )
    blob = os.path.join(folder, layers[0]["digest"].removeprefix("sha256:"))
    os.replace(blob, out)


def main(verb, args):
    try:
        opts, rest = parse(verb, args)
        if opts.get("help"):
            print(f"Usage:\n  {USAGE[verb]}")
            return 0
        if len(rest) == 1:
            source = rest[0]
            base = re.split(r"[/:]", source.split("://", 1)[-1].split("@")[0])
            out = "_".join(base[-2:]) + ".sif"
        else:
            out, source = rest
        out = os.path.abspath(out)
        if os.path.exists(out) and not opts.get("force"):
            raise Fatal(f'Image file already exists: "{out}" - will not overwrite')
        if verb == "pull" and not source.startswith(("docker://", "oras://")):
            raise Fatal(
                f"Unsupported transport type: {source.split(':')[0]} (stand-in: docker://, oras://)"
            )
        work = tempfile.mkdtemp(prefix="jck-standin-build-", dir=os.path.dirname(out))
        try:
            if source.startswith("oras://"):
                pull_oras(source, out, opts, work)
            else:
                build_from(source, out, opts, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if verb == "build":
            info(f"Build complete: {out}")
        return 0
    except UsageError as e:
        print(f"Error: {e}\n\nUsage:\n  {USAGE[verb]}\n", file=sys.stderr)
        return 1
    except Fatal as e:
        print(f"FATAL:   {e}", file=sys.stderr)
        return 255


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
