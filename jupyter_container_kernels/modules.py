"""``module load A B`` resolved once into an environment, and cached by what invalidates it.

A kernel start with modules must not pay for a login shell every time. The first start runs one
``bash`` (a constant script; module names are positional arguments, never code) that sources the
module system's init script, runs ``module load "$@"`` and prints the environment. The
difference from the environment bash was given (variables set and unset) is cached and later
applied to the caller's base environment without any process. Job scripts load modules with
the same steps (:func:`load_steps`, :func:`job_lines`), so both end in the same environment.

Works with Lmod and with Environment Modules (both define ``module`` from an ``init/bash``
script and record loaded modulefiles in ``_LMFILES_``); which one is used depends only on the
init script found (:func:`find_module_init`).

A cached result is reused while all of these hold (otherwise the modules are loaded again):

* same init script, module names and ``MODULEPATH``;
* the base environment has the same values for every variable the load changed (``PATH``…)
  and for the module system's own state (``LOADEDMODULES``, ``_LMFILES_``, ``LMOD_*``…);
* the loaded modulefiles, their directories (a new ``cuda/12.6`` changes the default version),
  the ``.version``/``.modulerc*``/``default`` files there and the ``MODULEPATH`` directories
  keep their modification times.

A modulefile whose effect depends on other variables (``os.getenv`` in Lua) is the one case this
misses; :func:`clear_cache` (or a server restart) forgets everything.

Resolution is single-flight: kernels started together with a cold cache share one ``module
load`` per cache key (one task per key and event loop). Its error reaches every caller waiting
on it and is not cached, so the next start tries again; a caller that is cancelled stops
waiting without cancelling the load the others wait for.
"""

from __future__ import annotations

import asyncio
import fnmatch
import functools
import os
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from . import _process
from .errors import ContainerKernelError, ModuleLoadError
from .site import SiteConfig

#: Where ``module`` is defined, tried in order after ``SiteConfig.module_init``.
INIT_CANDIDATES = (
    "$LMOD_PKG/init/bash",
    "/usr/share/lmod/lmod/init/bash",
    "$MODULESHOME/init/bash",
    "/usr/share/modules/init/bash",
)
#: Seconds ``module load`` may take (Lmod on a cold shared filesystem can be slow).
LOAD_TIMEOUT = 120.0

_MARK = "=jck-module-loaded="  # cannot be a variable name: separates the snapshot from the log


def load_steps(init: str, names: str) -> list[str]:
    """The one definition of loading modules, as bash: source the init script, check that it
    defined ``module``, run ``module load``; what they print goes to stderr, failures exit
    (90: the init script failed, 91: it defined no ``module``, else ``module``'s status).

    ``init`` and ``names`` are shell words (``"$init"`` and ``"$@"`` in :func:`module_environment`'s
    constant script, quoted values in job scripts, see :func:`job_lines`)."""
    return [
        f". {init} >&2 || {{ printf 'sourcing %s failed\\n' {init} >&2; exit 90; }}",
        f"type module >/dev/null 2>&1 || {{ printf '%s does not define the module command\\n' "
        f"{init} >&2; exit 91; }}",
        f"module load {names} >&2 || exit $?",
    ]


def job_lines(init: str, modules: Sequence[str]) -> list[str]:
    """:func:`load_steps` for a job script running under ``set -u``, with the same result
    :func:`module_environment` gives: the shell functions the module system exports (``module``,
    ``ml``) are not exported onwards (they are never part of a Python result either)."""
    return [
        "set +u  # module systems read unset variables",
        "jck_functions=$(declare -Fx)",
        *load_steps(shlex.quote(init), " ".join(shlex.quote(m) for m in modules)),
        "while read -r _ _ jck_function; do",
        "  case $'\\n'\"$jck_functions\"$'\\n' in",
        "    *$'\\n'\"declare -fx $jck_function\"$'\\n'*) ;;",
        '    *) export -fn -- "$jck_function" ;;',
        "  esac",
        "done < <(declare -Fx)",
        "set -u",
    ]


# $1: init script; $2…: module names. The environment after loading goes to stdout, behind a
# marker; everything the module system prints goes to stderr.
_SCRIPT = "\n".join(
    [
        "init=$1; shift",
        *load_steps('"$init"', '"$@"'),
        "printf '%s\\0' '=jck-module-loaded='",
        "env -0",
        "",
    ]
)
#: Shell start-up variables that would run user code in our non-interactive bash.
_SHELL_STARTUP = ("BASH_ENV", "ENV")
#: Never part of a result: bash's own bookkeeping and exported shell functions.
_IGNORED = ("_", "SHLVL", "PWD", "OLDPWD", "BASH_FUNC_*")
#: The module systems' own state; a cached result is valid only for the same values.
_STATE = (
    "MODULEPATH",
    "MODULESHOME",
    "MODULERCFILE",
    "LOADEDMODULES",
    "_LMFILES_",
    "LMOD_*",
    "_ModuleTable*",
    "__LMOD_*",
    "MODULES_*",
    "__MODULES_*",
)
_DIR_MARKERS = (".version", ".modulerc", ".modulerc.lua", "default")


@dataclass(frozen=True)
class CacheInfo:
    """Counters for tests and diagnostics: ``misses`` counts the ``bash`` runs."""

    hits: int
    misses: int
    size: int


@dataclass(frozen=True)
class _Entry:
    set_vars: tuple[tuple[str, str], ...]
    unset_vars: tuple[str, ...]
    inputs: tuple[tuple[str, str | None], ...]  # base-env values the result was computed from
    stamps: tuple[tuple[str, int | None], ...]  # watched path -> mtime_ns (None: absent)


_Key = tuple[str, tuple[str, ...], str]  # init script, module names, MODULEPATH
_cache: dict[_Key, _Entry] = {}
#: The load running now per event loop and key, awaited by every caller that needs it.
_inflight: dict[tuple[asyncio.AbstractEventLoop, _Key], asyncio.Task[_Entry]] = {}
_hits = 0
_misses = 0


def cache_info() -> CacheInfo:
    return CacheInfo(_hits, _misses, len(_cache))


def clear_cache() -> None:
    """Forget every resolved module environment (and reset the counters)."""
    global _hits, _misses
    _cache.clear()
    _hits = _misses = 0


def find_module_init(
    env: Mapping[str, str] | None = None, site: SiteConfig | None = None
) -> str | None:
    """The init script that defines ``module``: the site's, else the first of
    :data:`INIT_CANDIDATES` that exists (``$VARS`` read from ``env``); ``None`` if none does.

    Raises :class:`ModuleLoadError` when ``SiteConfig.module_init`` names a missing file."""
    env = os.environ if env is None else env
    if site is not None and site.module_init:
        if not os.path.isfile(site.module_init):
            raise ModuleLoadError(
                f"c.SiteConfig.module_init is {site.module_init!r}, which is not a file. Point it "
                "at the init/bash script of Lmod or Environment Modules, or leave it empty."
            )
        return site.module_init
    for candidate in INIT_CANDIDATES:
        var, _, rest = candidate.partition("/")
        if var.startswith("$"):
            if not env.get(var[1:]):
                continue
            candidate = os.path.join(env[var[1:]], rest)
        if os.path.isfile(candidate):
            return candidate
    return None


def module_system(
    env: Mapping[str, str] | None = None, site: SiteConfig | None = None
) -> str | None:
    """``"lmod"``, ``"environment-modules"`` or ``None`` (no init script found). No process."""
    init = find_module_init(env, site)
    if init is None:
        return None
    return "lmod" if "lmod" in os.path.realpath(init).lower() else "environment-modules"


async def module_environment(
    modules: Sequence[str], base_env: Mapping[str, str], site: SiteConfig | None = None
) -> dict[str, str]:
    """``base_env`` after ``module load *modules`` (a copy; no process when cached or empty).

    Raises :class:`ModuleLoadError` with the module system's own message when a module is
    unknown or fails to load, or when no module system is installed.
    """
    global _hits, _misses
    base = dict(base_env)
    if not modules:
        return base
    init = find_module_init(base, site)
    if init is None:
        raise ModuleLoadError(
            f"Cannot load modules {', '.join(modules)}: no module system found (looked for "
            f"{', '.join(INIT_CANDIDATES)}). Install Lmod or Environment Modules, set "
            "c.SiteConfig.module_init to its init/bash script, or remove 'modules' from the kernel."
        )
    key = (init, tuple(modules), base.get("MODULEPATH", ""))
    loop = asyncio.get_running_loop()
    while True:
        entry = _cache.get(key)
        if entry is not None and _still_valid(entry, base):
            _hits += 1
            break
        running = _inflight.get((loop, key))
        if running is None:
            _misses += 1
            running = loop.create_task(_load(init, modules, dict(base)))
            _inflight[(loop, key)] = running
            running.add_done_callback(functools.partial(_finished, loop, key))
            # shield: cancelling this caller must not cancel the load others wait for
            entry = await asyncio.shield(running)
            break
        entry = await asyncio.shield(running)  # its errors are ours too
        if _still_valid(entry, base):
            _hits += 1
            break
        # loaded for a base environment that differs from ours where it matters: load again
    for name in entry.unset_vars:
        base.pop(name, None)
    base.update(entry.set_vars)
    return base


def _finished(loop: asyncio.AbstractEventLoop, key: _Key, task: asyncio.Task[_Entry]) -> None:
    """A load ended: cache its result; an error is only reported to its callers."""
    if _inflight.get((loop, key)) is task:
        del _inflight[(loop, key)]
    if not task.cancelled() and task.exception() is None:  # exception(): retrieved, no warning
        _cache[key] = task.result()


async def _load(init: str, modules: Sequence[str], base: dict[str, str]) -> _Entry:
    env = {k: v for k, v in base.items() if k not in _SHELL_STARTUP}
    argv = ["bash", "--noprofile", "--norc", "-c", _SCRIPT, "jck-module-load", init, *modules]
    what = f"module load {' '.join(modules)}"
    try:
        done = await _process.run(argv, env=env, timeout=LOAD_TIMEOUT, check=False)
    except ContainerKernelError as exc:  # bash missing, or the load hung
        raise ModuleLoadError(f"`{what}` could not run: {exc}") from exc
    if done.returncode != 0:
        message = _process.tail(done.stderr) or "(no message)"
        raise ModuleLoadError(
            f"`{what}` failed (exit status {done.returncode}):\n{message}\n"
            "Fix the module names in the kernel's 'modules' (see `module avail`), or ask your "
            "site why the module fails to load."
        )
    entries = done.stdout.split("\0")
    try:
        split = entries.index(_MARK)
    except ValueError:
        raise ModuleLoadError(
            f"`{what}` printed no environment; stderr:\n{_process.tail(done.stderr)}"
        ) from None
    # Compared with what bash was given: what the init script exports (LMOD_CMD,
    # MODULESHOME…) is part of the result, as it is in a job script that loads modules.
    before, after = env, _parse(entries[split + 1 :])
    set_vars = {k: v for k, v in after.items() if before.get(k) != v and not _ignored(k)}
    unset_vars = sorted(k for k in before if k not in after and not _ignored(k))
    watched = {*set_vars, *unset_vars, *(k for k in base if _is_state(k))}
    inputs = tuple(sorted((k, base.get(k)) for k in watched))
    return _Entry(
        tuple(sorted(set_vars.items())),
        tuple(unset_vars),
        inputs,
        _stamps(_watched_paths(after, base)),
    )


def _still_valid(entry: _Entry, base: Mapping[str, str]) -> bool:
    recorded = dict(entry.inputs)
    if any(base.get(k) != v for k, v in recorded.items()):
        return False
    if any(_is_state(k) and k not in recorded for k in base):  # module state appeared
        return False
    return _stamps(p for p, _ in entry.stamps) == entry.stamps


def _parse(items: Iterable[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, eq, value = item.partition("=")
        if eq and name:
            out[name] = value
    return out


def _ignored(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in _IGNORED)


def _is_state(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in _STATE)


def _watched_paths(after: Mapping[str, str], base: Mapping[str, str]) -> list[str]:
    paths: set[str] = set()
    for modulepath in (base.get("MODULEPATH", ""), after.get("MODULEPATH", "")):
        paths.update(p for p in modulepath.split(":") if p)
    for modulefile in after.get("_LMFILES_", "").split(":"):
        if modulefile:
            folder = os.path.dirname(modulefile)
            paths.update((modulefile, folder, *(os.path.join(folder, m) for m in _DIR_MARKERS)))
    return sorted(paths)


def _stamps(paths: Iterable[str]) -> tuple[tuple[str, int | None], ...]:
    out = []
    for path in paths:
        try:
            out.append((path, os.stat(path).st_mtime_ns))
        except OSError:
            out.append((path, None))
    return tuple(out)
