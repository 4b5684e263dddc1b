"""``module load`` through real Lmod: resolved once, cached by what invalidates it."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import time
from pathlib import Path

import pytest

from jupyter_container_kernels import modules
from jupyter_container_kernels.errors import ModuleLoadError
from jupyter_container_kernels.site import SiteConfig

SUPPORT = Path(__file__).resolve().parents[1] / "support"
MODULEFILES = SUPPORT / "modulefiles"
STANDIN_BIN = SUPPORT / "bin"


async def test_loaded_modules_change_the_environment(lmod_env: dict[str, str]) -> None:
    base = {**lmod_env, "PATH": "/usr/local/bin:/usr/bin:/bin"}
    env = await modules.module_environment(["apptainer", "cuda/12.4"], base)
    assert env["CUDA_HOME"] == "/opt/jck-test/cuda-12.4" and env["CUDA_VERSION"] == "12.4"
    assert env["PATH"] == f"/opt/jck-test/cuda-12.4/bin:{STANDIN_BIN}:/usr/local/bin:/usr/bin:/bin"
    assert env["LOADEDMODULES"] == "apptainer/1.3:cuda/12.4"
    assert env["HOME"] == lmod_env["HOME"]  # everything else is the base environment's
    assert not any(k.startswith("BASH_FUNC_") for k in env)
    assert "CUDA_HOME" not in lmod_env  # the caller's mapping is not modified


async def test_no_modules_runs_nothing(lmod_env: dict[str, str]) -> None:
    # Without modules not even a module system is needed.
    assert await modules.module_environment([], {"PATH": "/nowhere"}) == {"PATH": "/nowhere"}
    assert modules.cache_info().misses == 0


async def test_second_load_is_served_from_the_cache(lmod_env: dict[str, str]) -> None:
    first = await modules.module_environment(["apptainer", "cuda/12.4"], lmod_env)
    assert modules.cache_info().misses == 1
    # Per-kernel variables that modules do not touch do not defeat the cache.
    again = await modules.module_environment(
        ["apptainer", "cuda/12.4"], {**lmod_env, "JPY_SESSION_NAME": "other.ipynb"}
    )
    assert modules.cache_info().misses == 1 and modules.cache_info().hits == 1
    assert again == {**first, "JPY_SESSION_NAME": "other.ipynb"}


async def test_a_different_base_path_or_module_list_loads_again(lmod_env: dict[str, str]) -> None:
    await modules.module_environment(["cuda/12.4"], lmod_env)
    env = await modules.module_environment(
        ["cuda/12.4"], {**lmod_env, "PATH": "/opt/x/bin:/usr/bin:/bin"}
    )
    assert env["PATH"] == "/opt/jck-test/cuda-12.4/bin:/opt/x/bin:/usr/bin:/bin"
    await modules.module_environment(["cuda/12.2"], lmod_env)
    assert modules.cache_info().misses == 3


@pytest.fixture
def own_modulefiles(
    tmp_path: Path, lmod_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """A writable copy of the test modulefiles as MODULEPATH."""
    copy = tmp_path / "modulefiles"
    shutil.copytree(MODULEFILES, copy)
    monkeypatch.setenv("MODULEPATH", str(copy))
    return {**lmod_env, "MODULEPATH": str(copy)}


async def test_a_new_version_in_the_module_directory_invalidates(
    own_modulefiles: dict[str, str],
) -> None:
    env = await modules.module_environment(["cuda"], own_modulefiles)
    assert env["CUDA_VERSION"] == "12.4"  # the highest version is Lmod's default
    time.sleep(0.02)  # a visibly later directory mtime
    folder = Path(own_modulefiles["MODULEPATH"]) / "cuda"
    (folder / "12.9.lua").write_text((folder / "12.4.lua").read_text().replace("12.4", "12.9"))
    env = await modules.module_environment(["cuda"], own_modulefiles)
    assert env["CUDA_VERSION"] == "12.9"
    assert modules.cache_info().misses == 2


async def test_an_edited_modulefile_invalidates(own_modulefiles: dict[str, str]) -> None:
    await modules.module_environment(["cuda/12.2"], own_modulefiles)
    modulefile = Path(own_modulefiles["MODULEPATH"]) / "cuda" / "12.2.lua"
    modulefile.write_text(
        modulefile.read_text().replace(
            'setenv("CUDA_VERSION", "12.2")', 'setenv("CUDA_VERSION", "12.2.1")'
        )
    )
    later = time.time() + 1
    os.utime(modulefile, (later, later))
    env = await modules.module_environment(["cuda/12.2"], own_modulefiles)
    assert env["CUDA_VERSION"] == "12.2.1"


async def test_unknown_module_fails_with_lmods_message(lmod_env: dict[str, str]) -> None:
    with pytest.raises(ModuleLoadError) as info:
        await modules.module_environment(["cuda/12.4", "nosuch/1.0"], lmod_env)
    message = str(info.value)
    assert "module load cuda/12.4 nosuch/1.0" in message
    assert "The following module(s) are unknown" in message and '"nosuch/1.0"' in message


async def test_broken_module_fails_with_its_error_and_is_not_cached(
    lmod_env: dict[str, str],
) -> None:
    for _ in range(2):
        with pytest.raises(ModuleLoadError, match="broken module for tests"):
            await modules.module_environment(["broken"], lmod_env)
    assert modules.cache_info() == modules.CacheInfo(hits=0, misses=2, size=0)


async def test_module_names_are_arguments_never_shell_code(
    lmod_env: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "pwned"
    with pytest.raises(ModuleLoadError, match="unknown"):
        await modules.module_environment([f"x; touch {target}", f"$(touch {target})"], lmod_env)
    assert not target.exists()


async def test_site_module_init_must_exist(lmod_env: dict[str, str]) -> None:
    site = SiteConfig(module_init="/nonexistent/init/bash")
    with pytest.raises(ModuleLoadError, match="module_init.*not a file"):
        await modules.module_environment(["cuda/12.4"], lmod_env, site)


async def test_site_module_init_is_used(lmod_env: dict[str, str]) -> None:
    site = SiteConfig(module_init="/usr/share/lmod/lmod/init/bash")
    env = await modules.module_environment(
        ["cuda/12.4"], {**lmod_env, "LMOD_PKG": "/nonexistent"}, site
    )
    assert env["CUDA_VERSION"] == "12.4"


def test_module_system_is_detected_without_a_process(lmod_env: dict[str, str]) -> None:
    assert modules.module_system(lmod_env) == "lmod"
    assert modules.find_module_init(lmod_env) == "/usr/share/lmod/lmod/init/bash"


# -- kernels started together share one `module load` ----------------------------------------


@pytest.fixture
def counting_init(tmp_path: Path, lmod_env: dict[str, str]) -> tuple[SiteConfig, Path]:
    """The site's module init: Lmod's own, after adding a line to a counter file, so every
    ``module load`` this package runs is counted (and a site can see it as its init script)."""
    counter = tmp_path / "loads"
    counter.touch()
    init = tmp_path / "lmod-init.bash"
    init.write_text(
        f"printf 'load\\n' >> {shlex.quote(str(counter))}\n"
        f". {shlex.quote(modules.INIT_CANDIDATES[1])}\n"
    )
    return SiteConfig(module_init=str(init)), counter


def loads(counter: Path) -> int:
    return len(counter.read_text().splitlines())


async def test_kernels_started_together_share_one_module_load(
    lmod_env: dict[str, str], counting_init: tuple[SiteConfig, Path]
) -> None:
    site, counter = counting_init
    envs = await asyncio.gather(
        *(modules.module_environment(["apptainer", "cuda/12.4"], lmod_env, site) for _ in range(10))
    )
    assert loads(counter) == 1
    assert all(env == envs[0] for env in envs) and envs[0]["CUDA_VERSION"] == "12.4"
    assert modules.cache_info() == modules.CacheInfo(hits=9, misses=1, size=1)


async def test_a_shared_failing_load_fails_every_caller_and_is_tried_again_later(
    lmod_env: dict[str, str], counting_init: tuple[SiteConfig, Path]
) -> None:
    site, counter = counting_init
    results = await asyncio.gather(
        *(modules.module_environment(["broken"], lmod_env, site) for _ in range(10)),
        return_exceptions=True,
    )
    assert loads(counter) == 1
    for result in results:
        assert isinstance(result, ModuleLoadError)
        assert "`module load broken` failed" in str(result)
        assert "broken module for tests" in str(result)
    with pytest.raises(ModuleLoadError, match="broken module for tests"):
        await modules.module_environment(["broken"], lmod_env, site)
    assert loads(counter) == 2, "the error was not cached"
    assert modules.cache_info().size == 0


async def test_a_cancelled_caller_does_not_cancel_the_load_others_wait_for(
    lmod_env: dict[str, str], counting_init: tuple[SiteConfig, Path]
) -> None:
    site, counter = counting_init
    callers = [
        asyncio.ensure_future(modules.module_environment(["cuda/12.4"], lmod_env, site))
        for _ in range(3)
    ]
    await asyncio.sleep(0)  # every caller is now waiting on the one load the first started
    callers[0].cancel()
    with pytest.raises(asyncio.CancelledError):
        await callers[0]
    envs = await asyncio.gather(*callers[1:])
    assert [env["CUDA_VERSION"] for env in envs] == ["12.4", "12.4"]
    assert loads(counter) == 1
    await modules.module_environment(["cuda/12.4"], lmod_env, site)
    assert loads(counter) == 1, "the cancelled caller's load was cached for later starts"
