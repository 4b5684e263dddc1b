"""Real Jupyter clients run container kernels end to end, in their own processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest

CELLS = [
    "print(open('/etc/jck-test-image').read().strip())",
    "import os, sys\nos.environ['OMP_NUM_THREADS'], sys.executable",
    "open('/mnt/5/input.txt').read()",
]


def notebook(path: Path, cells: list[str], *, parameters: str | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["language_info"] = {"name": "python"}
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


def jupyter(*args: str, cwd: Path, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "JUPYTER_PATH": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def outputs(cell: Any) -> str:
    texts = []
    for out in cell.outputs:
        if out.output_type == "stream":
            texts.append(out.text)
        elif out.output_type == "execute_result":
            texts.append(out.data["text/plain"])
        elif out.output_type == "error":
            texts.append(f"{out.ename}: {out.evalue}")
    return "".join(texts)


@pytest.fixture
def container_kernel(
    lmod_env: dict[str, str],
    make_container_kernel: Callable[..., str],
    test_image: str,
    tmp_path: Path,
) -> str:
    (tmp_path / "hostdata").mkdir()
    (tmp_path / "hostdata" / "input.txt").write_text("bound from the host")
    return make_container_kernel(
        "torch-like",
        {
            "image": test_image,
            "runtime": "apptainer",
            "modules": ["apptainer", "cuda/12.4"],
            "binds": [f"{tmp_path / 'hostdata'}:/mnt/5"],
            "env": {"OMP_NUM_THREADS": "8"},
            "gpu": "none",
        },
    )


@pytest.mark.parametrize("runtime", ["apptainer", "charliecloud"])
def test_nbconvert_execute_runs_every_cell_in_the_container(
    runtime: str,
    container_kernel: str,
    make_container_kernel: Callable[..., str],
    test_image: str,
    tmp_path: Path,
    jp_data_dir: Path,
) -> None:
    name = container_kernel
    if runtime == "charliecloud":
        name = make_container_kernel(
            "ch",
            {
                "image": test_image,
                "runtime": "charliecloud",
                "binds": [f"{tmp_path / 'hostdata'}:/mnt/5"],
                "env": {"OMP_NUM_THREADS": "8"},
            },
        )
    notebook(tmp_path / "in.ipynb", CELLS)
    done = jupyter(
        "jupyter",
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        f"--ExecutePreprocessor.kernel_name={name}",
        "--output",
        "out.ipynb",
        "in.ipynb",
        cwd=tmp_path,
        data_dir=jp_data_dir,
    )
    assert done.returncode == 0, done.stderr
    cells = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells
    assert [outputs(c) for c in cells] == [
        "py-ipykernel\n",
        "('8', '/usr/bin/python3')",
        "'bound from the host'",
    ]


def test_nbconvert_reports_why_a_container_kernel_cannot_start(
    lmod_env: dict[str, str],
    make_container_kernel: Callable[..., str],
    bare_image: str,
    tmp_path: Path,
    jp_data_dir: Path,
) -> None:
    name = make_container_kernel("bare", {"image": bare_image, "runtime": "charliecloud"})
    notebook(tmp_path / "in.ipynb", ["1 + 1"])
    done = jupyter(
        "jupyter",
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        f"--ExecutePreprocessor.kernel_name={name}",
        "in.ipynb",
        cwd=tmp_path,
        data_dir=jp_data_dir,
    )
    assert done.returncode != 0
    assert "KernelStartError" in done.stderr and "No module named ipykernel" in done.stderr


def test_papermill_injects_parameters_and_runs_in_the_container(
    container_kernel: str, tmp_path: Path, jp_data_dir: Path
) -> None:
    notebook(
        tmp_path / "in.ipynb",
        ["print(n * 2, open('/etc/jck-test-image').read().strip())"],
        parameters="n = 1",
    )
    done = jupyter(
        "papermill",
        "in.ipynb",
        "out.ipynb",
        "-k",
        container_kernel,
        "-p",
        "n",
        "21",
        cwd=tmp_path,
        data_dir=jp_data_dir,
    )
    assert done.returncode == 0, done.stderr
    cells = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells
    assert outputs(cells[-1]) == "42 py-ipykernel\n"


# The server tests are plain functions driving pytest-jupyter's loop (jp_asyncio_loop), where
# jp_serverapp runs; pytest-asyncio would run an `async def` test in a loop of its own.


def test_jupyter_server_answers_a_failed_start_with_the_containers_stderr(
    lmod_env: dict[str, str],
    make_container_kernel: Callable[..., str],
    bare_image: str,
    jp_fetch: Any,
    jp_asyncio_loop: Any,
) -> None:
    """JupyterLab opens a notebook with POST api/sessions; the reply's message is what its
    "Error Starting Kernel" dialog shows."""
    from tornado.httpclient import HTTPClientError

    name = make_container_kernel("bare", {"image": bare_image, "runtime": "charliecloud"})
    body = {"path": "nb.ipynb", "type": "notebook", "kernel": {"name": name}}
    with pytest.raises(HTTPClientError) as info:
        jp_asyncio_loop.run_until_complete(
            jp_fetch("api", "sessions", method="POST", body=json.dumps(body))
        )
    assert info.value.code == 500
    message = json.loads(info.value.response.body)["message"]
    assert "No module named ipykernel" in message and "install it in the image" in message


def test_jupyter_server_starts_and_stops_a_container_kernel(
    lmod_env: dict[str, str],
    make_container_kernel: Callable[..., str],
    test_image: str,
    jp_fetch: Any,
    jp_serverapp: Any,
    jp_asyncio_loop: Any,
) -> None:
    import psutil

    name = make_container_kernel(
        "ok", {"image": test_image, "runtime": "apptainer", "modules": ["apptainer"]}
    )
    run = jp_asyncio_loop.run_until_complete
    response = run(jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": name})))
    kernel = json.loads(response.body)
    assert response.code == 201 and kernel["name"] == name
    km = jp_serverapp.kernel_manager.get_kernel(kernel["id"])
    tree = psutil.Process(km.provisioner.pid)
    tree = [tree, *tree.children(recursive=True)]
    assert any("ipykernel_launcher" in " ".join(p.cmdline()) for p in tree)
    run(jp_fetch("api", "kernels", kernel["id"], method="DELETE"))
    _, alive = psutil.wait_procs(tree, timeout=5)
    assert not alive
