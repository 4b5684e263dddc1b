"""What is inside an image: Python, ipykernel, platform, and the big ML frameworks.

:func:`probe_image` runs one short, constant Python program (:data:`PROBE_CODE`) inside the
image through :func:`.launch.prepare` — the same path kernels take, so site binds, modules and
runtime paths apply — and reads the one JSON line it prints. Frameworks are looked up with
``importlib.metadata`` and never imported, so a probe takes about as long as starting Python.

Results are cached on disk in ``<jupyter_data_dir>/container-kernels/probe-cache.json``. For a
path image (Apptainer/Singularity file, Charliecloud directory) the key is image path + size +
mtime + runtime + python, so replacing or touching the image invalidates its entry. For a
reference (``docker://…``, a Podman/Shifter image name) the key is the reference + runtime +
python, and only ``use_cache=False`` probes again. :func:`cached_probe` reads the cache and never
starts a process: listings use it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from jupyter_core.paths import jupyter_data_dir

from .. import _process
from ..errors import ProcessError
from ..site import SiteConfig, load_site_config
from ..spec import ContainerSpec

#: Distributions reported in ``packages`` when installed in the image.
PACKAGES = ("torch", "tensorflow", "jax")
#: Prefix of the line the probe prints (anything else on stdout is ignored).
MARKER = "JCK-PROBE "
#: Bump when the probe program's output changes: older cache entries are then ignored.
CACHE_VERSION = 1

PROBE_CODE = f"""\
import json, platform, sys
try:
    from importlib import metadata
except ImportError:
    metadata = None
def version(name):
    if metadata is not None:
        try:
            return metadata.version(name)
        except Exception:
            pass
    try:
        import importlib.util
        if importlib.util.find_spec(name) is not None:
            return "unknown"
    except Exception:
        pass
    return None
print({MARKER!r} + json.dumps({{
    "python": platform.python_version(),
    "executable": sys.executable,
    "ipykernel": version("ipykernel"),
    "platform": platform.platform(),
    "packages": {{n: version(n) for n in {PACKAGES!r}}},
}}))
"""

NO_IPYKERNEL_FIX = (
    "install it in the image, e.g. `pip install ipykernel` in its recipe "
    "(or give --python the interpreter that has it)"
)


@dataclass(frozen=True)
class ProbeResult:
    """What a probe found; :meth:`to_dict` is the REST ``Probe`` shape."""

    ok: bool
    message: str
    python_version: str
    ipykernel_version: str | None
    platform: str
    packages: dict[str, str] = field(default_factory=dict)
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_output(cls, info: dict[str, Any], spec: ContainerSpec) -> ProbeResult:
        python = str(info.get("python") or "?")
        ipykernel = info.get("ipykernel")
        packages = {k: str(v) for k, v in (info.get("packages") or {}).items() if v}
        plat = str(info.get("platform") or "")
        extras = "".join(f", {k} {v}" for k, v in sorted(packages.items()))
        if ipykernel:
            message = f"Python {python} with ipykernel {ipykernel}{extras} ({plat})"
        else:
            where = info.get("executable") or spec.python
            message = (
                f"no ipykernel in the image's Python ({where}, Python {python}): {NO_IPYKERNEL_FIX}"
            )
        return cls(bool(ipykernel), message, python, ipykernel or None, plat, packages)


def report(result: ProbeResult, spec: ContainerSpec) -> dict[str, Any]:
    """What a probe answers (REST, ``probe --json``): the result, and the digest the image store
    recorded for a pulled image (``image_digest``, when there is one)."""
    from ..images.store import stored_digest

    digest = stored_digest(spec.image) if spec.is_path_image else None
    return {**result.to_dict(), **({"image_digest": digest} if digest else {})}


def cache_path() -> Path:
    """The probe cache file (under the Jupyter data directory)."""
    return Path(jupyter_data_dir()) / "container-kernels" / "probe-cache.json"


def cache_key(spec: ContainerSpec) -> str | None:
    """The cache key of ``spec``'s image; ``None`` when a path image does not exist."""
    parts = [spec.runtime, spec.python, spec.image]
    if spec.is_path_image:
        try:
            st = os.stat(spec.image)
        except OSError:
            return None
        parts += [str(st.st_size), str(st.st_mtime_ns)]
    return json.dumps(parts)


_memo: tuple[tuple[str, int, int], dict[str, Any]] | None = None


#: The type of each field of a cache entry (a :class:`ProbeResult` without ``cached``).
_ENTRY_TYPES: dict[str, tuple[type, ...]] = {
    "ok": (bool,),
    "message": (str,),
    "python_version": (str,),
    "ipykernel_version": (str, type(None)),
    "platform": (str,),
    "packages": (dict,),
}


def _valid_entry(entry: Any) -> bool:
    """Whether ``entry`` is exactly what :func:`_write_cache` writes (a hand-edited, older or
    damaged file must not put a wrong-typed result in a listing)."""
    return (
        isinstance(entry, dict)
        and entry.keys() == _ENTRY_TYPES.keys()
        and all(isinstance(entry[k], types) for k, types in _ENTRY_TYPES.items())
        and all(isinstance(k, str) and isinstance(v, str) for k, v in entry["packages"].items())
    )


def _read_cache() -> dict[str, Any]:
    """The cache's valid entries; parsed again only when the file changed (a listing of 500
    kernels reads it once). A damaged file (not JSON, another shape, invalid entries) counts
    as empty where damaged; the next probe rewrites it."""
    global _memo
    path = cache_path()
    try:
        st = os.stat(path)
        stamp = (str(path), st.st_mtime_ns, st.st_size)
        if _memo is not None and _memo[0] == stamp:
            return dict(_memo[1])
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError, RecursionError):  # RecursionError: JSON nested too deep
        return {}
    entries = (
        data.get("entries")
        if isinstance(data, dict) and data.get("version") == CACHE_VERSION
        else None
    )
    valid = (
        {k: v for k, v in entries.items() if _valid_entry(v)} if isinstance(entries, dict) else {}
    )
    _memo = (stamp, valid)
    return dict(valid)


def _write_cache(key: str, result: ProbeResult) -> None:
    entries = _read_cache()
    entries[key] = {k: v for k, v in result.to_dict().items() if k != "cached"}
    path = cache_path()
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".probe-cache.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"version": CACHE_VERSION, "entries": entries}, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError:  # a read-only data dir (or a directory in the file's place) costs a re-probe
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def cached_probe(spec: ContainerSpec) -> ProbeResult | None:
    """The cached result for ``spec``'s image as it is now, or ``None``. Starts no process."""
    key = cache_key(spec)
    if key is None:
        return None
    entry = _read_cache().get(key)
    if entry is None:
        return None
    return ProbeResult(**{**entry, "cached": True})


async def probe_image(
    spec: ContainerSpec,
    *,
    site: SiteConfig | None = None,
    use_cache: bool = True,
    timeout: float = 60.0,
) -> ProbeResult:
    """Run :data:`PROBE_CODE` with ``spec.python`` inside ``spec``'s image (or use the cache).

    A Python without ipykernel is a result (``ok=False``, the message says the fix), not an
    error. Raises :class:`~.errors.ImageError`, :class:`~.errors.RuntimeNotFoundError`,
    :class:`~.errors.ModuleLoadError` (from :func:`.launch.prepare`), :class:`ProcessError`
    with the stderr tail when the runtime or the interpreter fails, and
    :class:`~.errors.ProcessTimeoutError`.
    """
    from ..launch import prepare  # launch imports the runtimes; keep `list` imports light

    if use_cache:
        hit = cached_probe(spec)
        if hit is not None:
            return hit
    site = site or load_site_config()
    cmd = [spec.python, "-c", PROBE_CODE]
    invocation = await prepare(spec, cmd, site=site)
    hint = (
        f"The probe ran `{spec.python} -c …` in {spec.image} with {spec.runtime}. Check that the "
        f"image runs with {spec.runtime} and that {spec.python!r} exists in it (set the kernel's "
        "'python' to the interpreter's path inside the image)."
    )
    try:
        done = await _process.run(invocation.argv, env=invocation.env, timeout=timeout, hint=hint)
    except ProcessError as exc:  # quote the command without the (long, constant) program
        shown = ["<probe program>" if a == PROBE_CODE else a for a in exc.argv]
        raise ProcessError(shown, exc.returncode, exc.stderr, hint) from None
    info = _parse(done)
    result = ProbeResult.from_output(info, spec)
    key = cache_key(spec)
    if key is not None:
        _write_cache(key, result)
    return replace(result, cached=False)


def _parse(done: _process.Completed) -> dict[str, Any]:
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(MARKER):
            try:
                info = json.loads(line[len(MARKER) :])
            except ValueError:
                break
            if isinstance(info, dict):
                return info
    raise ProcessError(
        done.argv,
        done.returncode,
        _process.tail(done.stderr + "\n" + done.stdout),
        "The probe program printed no result; the image's Python may be too old (Python 3 is "
        "needed) or the runtime printed something else.",
    )
