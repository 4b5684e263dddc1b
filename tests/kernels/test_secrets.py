"""Credentials of the Jupyter server and JupyterHub never enter a container.

A single-user server spawned by JupyterHub has ``JUPYTERHUB_API_TOKEN`` (and the older
``JPY_API_TOKEN``) in its environment, and kernels inherit the server's environment. Neither
reaches the process inside a container, with or without ``cleanenv``, through any runtime: the
runtime process does not get them either (Apptainer, ch-run and Shifter pass their own
environment in). Only the spec's ``env`` or a site pass-through entry naming one exactly lets
one in. Job scripts apply the same rule on the node (``tests/batch/test_parity.py`` shows they
start the runtime alike; the last test here runs one with credentials in its environment).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from jupyter_container_kernels.batch.script import JobScript, render
from jupyter_container_kernels.launch import prepare
from jupyter_container_kernels.runtimes import container_environment, get_runtime
from jupyter_container_kernels.runtimes.base import DEFAULT_CONTAINER_PATH, SECRET_VARS
from jupyter_container_kernels.site import SiteConfig
from jupyter_container_kernels.spec import RUNTIMES, ContainerSpec

from . import test_provisioner
from .test_provisioner import config_for, run_json

#: The fixture of the provisioner tests: a kernel started by AsyncKernelManager from kernel.json.
kernel = test_provisioner.kernel

CREDENTIALS = {
    "JUPYTERHUB_API_TOKEN": "hub-api-token-value",
    "JPY_API_TOKEN": "jpy-api-token-value",
    "JUPYTERHUB_OAUTH_ACCESS_TOKEN": "hub-oauth-token-value",
    "JUPYTER_TOKEN": "server-token-value",
}
HOST = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/u",
    "USER": "u",
    "LANG": "C.UTF-8",
    "JPY_SESSION_NAME": "nb.ipynb",
    "JPY_PARENT_PID": "4242",
    "JUPYTER_DATA_DIR": "/home/u/.local/share/jupyter",
    "JUPYTERHUB_USER": "u",
    **CREDENTIALS,
}
IMAGES = {"podman": "docker.io/x:1", "podman-hpc": "docker.io/x:1", "shifter": "docker:x:1"}


def recorder(folder: Path, out: Path) -> str:
    """An executable that writes the argv and environment it was given to ``out``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "runtime"
    path.write_text(
        "#!/usr/bin/python3 -I\nimport json, os, sys\n"
        f"with open({str(out)!r}, 'w') as f:\n"
        "    json.dump({'argv': sys.argv[1:], 'env': dict(os.environ)}, f)\n"
    )
    path.chmod(0o755)
    return str(path)


def spec(runtime: str, **data: Any) -> ContainerSpec:
    return ContainerSpec.from_dict(
        {"image": IMAGES.get(runtime, "/img/a"), "runtime": runtime, **data}
    )


def invocation(s: ContainerSpec, passthrough: tuple[str, ...] = ()) -> str:
    """Everything the runtime is given (argv and environment), as one string."""
    runtime = get_runtime(s.runtime)
    inv = runtime.command(
        s, ["python3"], executable="/opt/rt", host_env=HOST, gpu=None, passthrough=passthrough
    )
    return json.dumps([inv.argv, inv.env])


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("cleanenv", [False, True])
def test_no_runtime_is_given_the_servers_credentials(runtime: str, cleanenv: bool) -> None:
    s = spec(runtime, cleanenv=cleanenv)
    given = invocation(s)
    for value in CREDENTIALS.values():
        assert value not in given
    inside = container_environment(s, HOST)
    assert not set(CREDENTIALS) & set(inside)
    # What kernels read from Jupyter still arrives, with cleanenv too.
    assert inside["JPY_SESSION_NAME"] == "nb.ipynb" and inside["JPY_PARENT_PID"] == "4242"
    assert inside["JUPYTER_DATA_DIR"] == HOST["JUPYTER_DATA_DIR"]
    # Hub variables that are not credentials are the host's like any other.
    assert ("JUPYTERHUB_USER" in inside) is (not cleanenv)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("cleanenv", [False, True])
def test_a_credential_goes_in_only_when_the_site_names_it_exactly(
    runtime: str, cleanenv: bool
) -> None:
    s = spec(runtime, cleanenv=cleanenv)
    named = container_environment(s, HOST, passthrough=["JUPYTERHUB_API_TOKEN"])
    assert named["JUPYTERHUB_API_TOKEN"] == "hub-api-token-value"
    assert "JPY_API_TOKEN" not in named
    assert "hub-api-token-value" in invocation(s, ("JUPYTERHUB_API_TOKEN",))
    # A pattern is not a name: 'JUPYTERHUB_*' passes the hub's other variables, not its token.
    patterned = container_environment(s, HOST, passthrough=["JUPYTERHUB_*"])
    assert "JUPYTERHUB_API_TOKEN" not in patterned
    assert "hub-api-token-value" not in invocation(s, ("JUPYTERHUB_*",))


def test_the_kernels_own_env_may_set_a_credential() -> None:
    s = spec("apptainer", env={"JUPYTERHUB_API_TOKEN": "for-this-kernel"})
    assert container_environment(s, HOST)["JUPYTERHUB_API_TOKEN"] == "for-this-kernel"
    assert "hub-api-token-value" not in invocation(s)


def test_the_documented_credential_patterns() -> None:
    assert SECRET_VARS == (
        "JUPYTERHUB_*TOKEN*",
        "JUPYTERHUB_*SECRET*",
        "JUPYTERHUB_CRYPT_KEY",
        "JPY_API_TOKEN",
        "JPY_COOKIE_SECRET",
        "JUPYTER_TOKEN",
    )


# -- for real: `env` inside the image, and a kernel --------------------------------------------


@pytest.mark.parametrize("runtime", ["charliecloud", "apptainer"])
@pytest.mark.parametrize("cleanenv", [False, True])
async def test_env_inside_the_image_shows_no_credential(
    runtime: str, cleanenv: bool, test_image: str, lmod_env: dict[str, str]
) -> None:
    s = ContainerSpec.from_dict(config_for(runtime, test_image, cleanenv=cleanenv))
    host = {**lmod_env, **CREDENTIALS, "JPY_SESSION_NAME": "nb.ipynb"}
    inv = await prepare(s, ["env", "-0"], site=SiteConfig(), host_env=host)
    done = subprocess.run(inv.argv, env=inv.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    inside = dict(item.partition("=")[::2] for item in done.stdout.split("\0") if item)
    assert not set(CREDENTIALS) & set(inside), sorted(inside)
    assert inside["JPY_SESSION_NAME"] == "nb.ipynb"
    assert inside["PATH"] == DEFAULT_CONTAINER_PATH  # the image's `env` printed this


@pytest.mark.parametrize("cleanenv", [False, True])
async def test_a_kernel_started_by_a_hub_spawned_server_does_not_see_its_token(
    cleanenv: bool, test_image: str, kernel: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("JUPYTERHUB_USER", "u")
    async with kernel(config_for("charliecloud", test_image, cleanenv=cleanenv)) as (_km, kc):
        seen = await run_json(
            kc, "{k: v for k, v in os.environ.items() if 'JUPYTER' in k or 'JPY' in k}"
        )
    assert not set(CREDENTIALS) & set(seen), seen
    assert ("JUPYTERHUB_USER" in seen) is (not cleanenv)


# -- job scripts -------------------------------------------------------------------------------


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("cleanenv", [False, True])
def test_a_job_script_keeps_the_credentials_of_its_environment_out(
    runtime: str, cleanenv: bool, tmp_path: Path
) -> None:
    """As when `sbatch` is run from a terminal of a hub-spawned server: the token is in the
    job's environment; the runtime is not given it."""
    out = tmp_path / "given.json"
    s = spec(runtime, cleanenv=cleanenv, gpu="none")
    text = render(
        JobScript(
            spec=s,
            kernel="k",
            notebook=str(tmp_path / "nb.ipynb"),
            output_dir=str(tmp_path),
            stem="nb",
            mode="script",
            python_scripts=(str(tmp_path / "nb.py"),),
            runtime_executable=recorder(tmp_path / "bin", out),
            passthrough=("JUPYTERHUB_API_TOKEN",) if runtime == "podman" else (),
        )
    )
    done = subprocess.run(
        ["bash", "-c", text], env={**HOST, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    given = out.read_text()
    for name, value in CREDENTIALS.items():
        allowed = runtime == "podman" and name == "JUPYTERHUB_API_TOKEN"
        assert (value in given) is allowed, name
