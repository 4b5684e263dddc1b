"""``module load`` through real Lmod: resolved once, cached by what invalidates it."""

from __future__ import annotations

import os
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
