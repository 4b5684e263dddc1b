"""Image probes: what the real test images contain, the fix when ipykernel is missing, and the
on-disk cache (keyed by image path, size and mtime) that lets listings run nothing."""

from __future__ import annotations

import os
from typing import Any

import pytest

from jupyter_container_kernels.errors import ProcessError, RuntimeNotFoundError
from jupyter_container_kernels.registry.probe import cache_path, cached_probe, probe_image
from jupyter_container_kernels.site import SiteConfig
from jupyter_container_kernels.spec import ContainerSpec


def spec(image: str, **settings: Any) -> ContainerSpec:
    return ContainerSpec.from_dict({"image": image, "runtime": "charliecloud", **settings})


async def test_an_image_with_ipykernel_is_usable(test_image: str, site: SiteConfig) -> None:
    result = await probe_image(spec(test_image), site=site)
    assert result.ok is True and result.cached is False
    assert result.python_version.startswith("3.")
    assert result.ipykernel_version and result.ipykernel_version.startswith("6.")
    assert "Linux" in result.platform and result.packages == {}
    assert f"ipykernel {result.ipykernel_version}" in result.message
    assert set(result.to_dict()) == {
        "ok",
        "message",
        "python_version",
        "ipykernel_version",
        "platform",
        "packages",
        "cached",
    }


async def test_an_image_without_ipykernel_says_how_to_fix_it(
    bare_image: str, site: SiteConfig
) -> None:
    result = await probe_image(spec(bare_image), site=site)
    assert result.ok is False and result.ipykernel_version is None
    assert result.python_version.startswith("3.")
    assert "no ipykernel" in result.message and "pip install ipykernel" in result.message


async def test_a_cached_probe_runs_no_process(test_image: str, site: SiteConfig) -> None:
    first = await probe_image(spec(test_image), site=site)
    assert cache_path().is_file()
    # With the runtime gone, only the cache can answer.
    gone = SiteConfig(runtime_paths={"charliecloud": "/nonexistent/ch-run"})
    again = await probe_image(spec(test_image), site=gone)
    assert again.cached is True
    assert again.to_dict() == {**first.to_dict(), "cached": True}
    assert cached_probe(spec(test_image)) == again
    with pytest.raises(RuntimeNotFoundError, match="/nonexistent/ch-run"):
        await probe_image(spec(test_image), site=gone, use_cache=False)


async def test_the_cache_is_per_image_state_runtime_and_python(
    test_image: str, site: SiteConfig
) -> None:
    await probe_image(spec(test_image), site=site)
    assert cached_probe(spec(test_image, python="/usr/bin/python3")) is None
    st = os.stat(test_image)
    try:
        os.utime(test_image, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        assert cached_probe(spec(test_image)) is None, "touching the image invalidates its entry"
        assert (await probe_image(spec(test_image), site=site)).cached is False
    finally:
        os.utime(test_image, ns=(st.st_atime_ns, st.st_mtime_ns))


async def test_a_missing_interpreter_is_an_error_with_the_runtime_output(
    test_image: str, site: SiteConfig
) -> None:
    with pytest.raises(ProcessError) as info:
        await probe_image(spec(test_image, python="/opt/nothing/bin/python"), site=site)
    message = str(info.value)
    assert "/opt/nothing/bin/python" in message and "'python'" in message
    assert cached_probe(spec(test_image, python="/opt/nothing/bin/python")) is None


async def test_probes_take_the_kernels_path_through_modules(
    test_image: str, lmod_env: dict[str, str]
) -> None:
    """The Apptainer stand-in is only on PATH once the apptainer/1.3 module is loaded."""
    result = await probe_image(
        ContainerSpec.from_dict(
            {"image": test_image, "runtime": "apptainer", "modules": ["apptainer/1.3"]}
        ),
        site=SiteConfig(),
    )
    assert result.ok is True and result.ipykernel_version
