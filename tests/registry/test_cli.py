"""``jupyter container-kernels`` as users and admins run it: a real subprocess with the Jupyter
paths of pytest-jupyter's ``jp_environ``; exit codes 0 (ok), 1 (error, one line, no traceback),
2 (usage). System and sys-prefix scopes run ``main()`` in this process, where ``jp_environ``
redirects those directories (a subprocess would write to the real ones)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jupyter_core.paths
import pytest
from jupyter_client.kernelspec import KernelSpecManager

from jupyter_container_kernels import cli

JUPYTER = str(Path(sys.executable).parent / "jupyter")


@pytest.fixture(autouse=True)
def site_config(image_root: str) -> None:
    """The site policy every CLI call reads: Charliecloud, user images only under image_root."""
    config = {
        "SiteConfig": {"default_runtime": "charliecloud", "allowed_image_roots": [image_root]}
    }
    path = Path(jupyter_core.paths.jupyter_config_dir(), "jupyter_container_kernels_config.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))


def jck(*args: str, ok: int | None = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [JUPYTER, "container-kernels", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    if ok is not None:
        assert done.returncode == ok, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def in_process(*args: str) -> int:
    try:
        cli.main(list(args))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_install_list_show_remove(
    test_image: str, tmp_path: Path, lmod_env: dict[str, str]
) -> None:
    """The probe runs with the kernel's binds and modules (real Lmod, the test modulefiles)."""
    scratch, data = tmp_path / "host-scratch", tmp_path / "host-data"
    scratch.mkdir(), data.mkdir()
    done = jck(
        "install",
        test_image,
        "--name",
        "pytorch-2.7",
        "--display-name",
        "PyTorch 2.7 (container)",
        "--gpu",
        "auto",
        "--bind",
        f"{scratch}:/scratch",
        "--bind",
        f"{data}:/data",
        "--module",
        "cuda/12.4",
        "--env",
        "OMP_NUM_THREADS=4",
        "--env",
        "A=b=c",
        "--python",
        "/usr/bin/python3",
    )
    assert "Installed pytorch-2.7" in done.stdout and "ipykernel" in done.stdout
    folder = Path(jupyter_core.paths.jupyter_data_dir(), "kernels", "pytorch-2.7")
    kernel = json.loads((folder / "kernel.json").read_text())
    assert (
        kernel["argv"][0] == "/usr/bin/python3"
        and kernel["display_name"] == "PyTorch 2.7 (container)"
    )
    assert kernel["metadata"]["kernel_provisioner"]["config"] == {
        "image": test_image,
        "runtime": "charliecloud",
        "gpu": "auto",
        "binds": [f"{scratch}:/scratch", f"{data}:/data"],
        "modules": ["cuda/12.4"],
        "env": {"OMP_NUM_THREADS": "4", "A": "b=c"},
        "cleanenv": False,
        "python": "/usr/bin/python3",
    }
    assert (folder / "logo-64x64.png").is_file()

    table = jck("list").stdout.splitlines()
    assert table[0].split() == [
        "NAME",
        "DISPLAY",
        "NAME",
        "IMAGE",
        "RUNTIME",
        "GPU",
        "MODULES",
        "RUNS",
        "ON",
        "SCOPE",
        "IMAGE",
        "PRESENT",
    ]
    assert table[1].split()[:1] == ["pytorch-2.7"] and "PyTorch 2.7 (container)" in table[1]
    assert table[1].split()[-6:] == ["charliecloud", "auto", "cuda/12.4", "server", "user", "yes"]

    listed = json.loads(jck("list", "--json").stdout)["kernels"]
    shown = json.loads(jck("show", "pytorch-2.7", "--json").stdout)
    assert listed == [shown] and shown["scope"] == "user" and shown["probe"]["ok"] is True
    assert "cuda/12.4" in jck("show", "pytorch-2.7").stdout

    assert (
        "pytorch-2.7"
        in json.loads(subprocess.check_output([JUPYTER, "kernelspec", "list", "--json"]))[
            "kernelspecs"
        ]
    )
    assert (
        KernelSpecManager().get_kernel_spec("pytorch-2.7").display_name == "PyTorch 2.7 (container)"
    )

    assert "Removed" in jck("remove", "pytorch-2.7").stdout and not folder.exists()
    error = jck("show", "pytorch-2.7", ok=1).stderr
    assert error.startswith("Error: ") and "'pytorch-2.7'" in error


def test_install_refuses_an_image_without_ipykernel_unless_told(bare_image: str) -> None:
    error = jck("install", bare_image, ok=1).stderr
    assert "pip install ipykernel" in error and len(error.strip().splitlines()) == 1
    assert json.loads(jck("list", "--json").stdout) == {"kernels": []}
    assert (
        "Installed py-bare " in jck("install", bare_image, "--no-probe").stdout
    )  # name from the image


def test_install_with_slurm_resources_registers_a_node_kernel(image_root: str) -> None:
    image = Path(image_root) / "torch.sif"
    image.write_text("x")
    args = ("install", str(image), "--no-probe", "--name", "torch-gpu")
    error = jck(*args, "--time", "1:00;reboot", ok=1).stderr
    assert error.startswith("Error: slurm.time:") and "metacharacter" in error
    jck(*args, "--partition", "gpu", "--time", "2:00:00", "--gres", "gpu:1",
        "--cpus-per-task", "8", "--pending-timeout", "300")  # fmt: skip
    [kernel] = json.loads(jck("list", "--json").stdout)["kernels"]
    assert kernel["slurm"] == {"partition": "gpu", "time": "2:00:00", "gres": "gpu:1",
                               "cpus_per_task": "8", "pending_timeout": 300.0}  # fmt: skip
    shown = jck("show", "torch-gpu").stdout
    assert "runs on: node (--partition=gpu --time=2:00:00 --cpus-per-task=8 --gres=gpu:1)" in shown
    jck("install", str(image), "--no-probe", "--name", "plain")
    assert "runs on: server" in jck("show", "plain").stdout


def test_user_images_outside_the_allowed_roots_are_refused(tmp_path: Path, image_root: str) -> None:
    image = tmp_path / "own.sif"
    image.write_text("x")
    error = jck("install", str(image), "--no-probe", ok=1).stderr
    assert "allow" in error and image_root in error
    prefix = tmp_path / "prefix"
    done = jck("install", str(image), "--no-probe", "--prefix", str(prefix))
    assert (prefix / "share/jupyter/kernels/own/kernel.json").is_file(), done.stdout


@pytest.mark.parametrize("flag", ["--system", "--sys-prefix"])
def test_admin_scopes(flag: str, test_image: str, tmp_path: Path) -> None:
    image = tmp_path / "site" / "tool.sif"  # admins are not bound to the allowed roots
    image.parent.mkdir()
    image.write_text("x")
    assert in_process("install", str(image), "--no-probe", flag) == 0
    scope = flag.lstrip("-")
    base = (
        jupyter_core.paths.SYSTEM_JUPYTER_PATH[0]
        if scope == "system"
        else jupyter_core.paths.ENV_JUPYTER_PATH[0]
    )
    assert Path(base, "kernels", "tool", "kernel.json").is_file()
    assert KernelSpecManager().get_kernel_spec("tool").resource_dir == str(
        Path(base, "kernels", "tool")
    )
    if scope == "system":
        assert in_process("remove", "tool") == 1, "a system kernel is removed only with --system"
    assert in_process("remove", "tool", flag) == 0
    assert not Path(base, "kernels", "tool").exists()


def test_probe(test_image: str, bare_image: str) -> None:
    result = json.loads(jck("probe", test_image, "--json").stdout)
    assert result["ok"] is True and result["ipykernel_version"] and result["cached"] is False
    assert jck("probe", test_image).stdout.startswith("OK: Python 3.")
    bare = jck("probe", bare_image, "--runtime", "charliecloud", ok=1)
    assert (
        bare.stdout.startswith("UNUSABLE: no ipykernel") and "pip install ipykernel" in bare.stdout
    )


def test_sync(tmp_path: Path, test_image: str) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        f'[kernels.site-torch]\ndisplay_name = "Site torch"\nimage = "{test_image}"\n'
    )
    dry = json.loads(jck("sync", str(catalog), "--dry-run", "--json").stdout)
    assert dry["dry_run"] is True and [(c["action"], c["name"]) for c in dry["changes"]] == [
        ("created", "site-torch")
    ]
    assert json.loads(jck("list", "--json").stdout) == {"kernels": []}
    assert "created" in jck("sync", str(catalog)).stdout
    again = jck("sync", str(catalog))
    assert (
        "unchanged" in again.stdout
        and "0 created, 0 updated, 0 removed, 1 unchanged" in again.stderr
    )
    assert "(catalog)" in jck("list").stdout
    assert "managed by the catalog" in jck("remove", "site-torch", ok=1).stderr
    catalog.write_text('[kernels.site-torch]\nimage = "/x.sif"\ngpu = "yes"\n')
    assert "kernels.site-torch.gpu: 'yes'" in jck("sync", str(catalog), ok=1).stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ((), 2, "give a command"),
        (("frobnicate",), 2, "unknown command 'frobnicate'"),
        (("install",), 2, "expected one IMAGE"),
        (("show", "a", "b"), 2, "expected one kernel NAME"),
        (
            ("install", "/x.sif", "--gpu", "yes"),
            2,
            "Error: gpu: 'yes' is not one of: auto, nvidia, rocm, none.",
        ),
        (("install", "/x.sif", "--runtime", "docker"), 2, "runtime: 'docker' is not one of"),
        (("install", "/x.sif", "--name", ""), 2, "--name was given an empty value"),
        (("install", "/x.sif", "--display-name", "  "), 2, "--display-name was given an empty"),
        (("install", "/x.sif", "--bind", ""), 2, "--bind was given an empty value"),
        (("submit", "a.ipynb", "--partition="), 2, "--partition was given an empty value"),
        (("cancel",), 2, "expected one job ID"),
        (
            ("install", "/x.sif", "--name", "My Kernel", "--no-probe"),
            1,
            "'My Kernel' is not a valid kernel name",
        ),
        (
            ("install", "relative.sif", "--no-probe"),
            1,
            "image: 'relative.sif' is not an absolute path",
        ),
        (("install", "/x.sif", "--env", "NOVALUE", "--no-probe"), 1, "'NOVALUE' is not NAME=VALUE"),
        (("remove", "nosuch"), 1, "'nosuch'"),
        (("pull",), 2, "expected one SOURCE"),
        (
            ("pull", "/nonexistent.tar"),
            1,
            "'/nonexistent.tar': no such file; give docker://REF, oras://REF, docker-archive:PATH",
        ),
    ],
)
def test_exit_codes_and_messages(args: tuple[str, ...], code: int, message: str) -> None:
    done = jck(*args, ok=code)
    assert message in done.stderr


@pytest.mark.parametrize(
    "verb",
    [
        "install", "list", "show", "remove", "sync", "probe", "pull", "export", "submit", "jobs",
        "cancel",
    ],
)  # fmt: skip
def test_every_verb_has_help(verb: str) -> None:
    done = jck(verb, "--help")
    assert "--help-all" in done.stdout or "Options" in done.stdout
    if verb == "install":
        for flag in (
            "--bind",
            "--module",
            "--env",
            "--runtime",
            "--gpu",
            "--python",
            "--name",
            "--display-name",
            "--user",
            "--sys-prefix",
            "--prefix",
            "--system",
            "--no-probe",
        ):
            assert flag in done.stdout, flag


def test_the_root_command_lists_the_verbs() -> None:
    done = jck("--help")
    for verb in ("install", "list", "show", "remove", "sync", "probe", "submit"):
        assert verb in done.stdout
