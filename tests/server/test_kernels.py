"""Container kernels over REST: register an image, start it through /api/kernels, run code in it.

The image is the Charliecloud test image (``py-ipykernel``, and ``py-bare`` without ipykernel);
user images are allowed only under the directory that holds them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.jsonutil import json_default
from jupyter_client.session import Session


@pytest.fixture
def allowed_image_roots(image_root: Path, test_image: str) -> list[str]:
    return [str(image_root), os.path.dirname(test_image)]


@pytest.fixture(autouse=True)
def user_env(jp_environ: None, monkeypatch: pytest.MonkeyPatch) -> None:
    if not os.environ.get("USER"):  # ch-run refuses to start without it
        import pwd

        monkeypatch.setenv("USER", pwd.getpwuid(os.getuid()).pw_name)


def register(api: Any, image: str, **extra: Any) -> tuple[int, Any]:
    body = {"display_name": "Test image (container)", "spec": {"image": image}, **extra}
    return api("POST", "kernels", body)


async def execute(jp_ws_fetch: Any, kernel_id: str, code: str) -> str:
    """Run ``code`` over the kernel's websocket (as JupyterLab does); its stdout."""
    ws = await jp_ws_fetch("api", "kernels", kernel_id, "channels")
    session = Session()
    msg = session.msg(
        "execute_request",
        {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
        },
    )
    msg["channel"] = "shell"
    await ws.write_message(json.dumps(msg, default=json_default))
    out = []
    try:
        while True:
            reply = json.loads(await ws.read_message())
            if reply.get("parent_header", {}).get("msg_id") != msg["header"]["msg_id"]:
                continue
            if reply["msg_type"] == "stream":
                out.append(reply["content"]["text"])
            elif reply["msg_type"] == "error":
                raise AssertionError("\n".join(reply["content"]["traceback"]))
            elif reply["msg_type"] == "status" and reply["content"]["execution_state"] == "idle":
                return "".join(out)
    finally:
        ws.close()


def test_a_registered_image_starts_through_the_kernels_api_and_runs_code(
    api: Any, run: Any, jp_fetch: Any, jp_ws_fetch: Any, test_image: str
) -> None:
    status, kernel = register(api, test_image, name="jck-rest")
    assert status == 201, kernel
    assert kernel["name"] == "jck-rest" and kernel["scope"] == "user"
    assert kernel["editable"] is True and kernel["managed"] is False
    assert kernel["spec"]["image"] == test_image and kernel["spec"]["runtime"] == "charliecloud"
    assert kernel["image_present"] is True
    assert kernel["probe"]["ok"] is True and kernel["probe"]["ipykernel_version"]

    status, listing = api("GET", "kernels")
    assert status == 200 and [k["name"] for k in listing["kernels"]] == ["jck-rest"]
    assert api("GET", "kernels/jck-rest") == (200, listing["kernels"][0])

    response = run(jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": "jck-rest"})))
    kernel_id = json.loads(response.body)["id"]
    try:
        printed = run(
            execute(jp_ws_fetch, kernel_id, "print(open('/etc/jck-test-image').read().strip())")
        )
        assert printed == "py-ipykernel\n"
    finally:
        run(jp_fetch("api", "kernels", kernel_id, method="DELETE"))


def test_kernels_are_changed_and_removed(api: Any, test_image: str) -> None:
    assert register(api, test_image, name="edit-me", probe=False)[0] == 201
    status, kernel = api(
        "PATCH",
        "kernels/edit-me",
        {"display_name": "Renamed", "spec": {"gpu": "none", "binds": ["/tmp/x:/mnt/1"]}},
    )
    assert status == 200, kernel
    assert kernel["display_name"] == "Renamed"
    assert kernel["spec"]["gpu"] == "none" and kernel["spec"]["binds"] == ["/tmp/x:/mnt/1"]
    assert kernel["spec"]["image"] == test_image, "a partial spec keeps the other settings"
    assert api("DELETE", "kernels/edit-me") == (204, None)
    status, error = api("GET", "kernels/edit-me")
    assert status == 404 and "edit-me" in error["message"]


def test_register_errors(api: Any, test_image: str, bare_image: str, tmp_path: Path) -> None:
    assert register(api, test_image, name="taken", probe=False)[0] == 201
    status, error = register(api, test_image, name="taken", probe=False)
    assert status == 409 and "taken" in error["message"]

    status, error = api(
        "POST", "kernels", {"display_name": "x", "spec": {"image": test_image, "gpu": "tpu"}}
    )
    assert status == 400 and error["message"].startswith("spec.gpu"), error

    status, error = api("POST", "kernels", {"display_name": "x", "spec": {"image": "relative.sif"}})
    assert status == 400 and "spec.image" in error["message"], error

    outside = tmp_path / "elsewhere.sif"
    outside.write_text("not an image")
    status, error = register(api, str(outside), probe=False)
    assert status == 403 and "outside the directories where this site allows" in error["message"], (
        error
    )

    status, error = register(api, bare_image, name="bare")
    assert status == 400 and "ipykernel" in error["message"], error
    assert api("GET", "kernels/bare")[0] == 404, "nothing is installed when the probe refuses"


def test_unknown_kernels_are_404(api: Any) -> None:
    for method, body in (("GET", None), ("PATCH", {"display_name": "x"}), ("DELETE", None)):
        status, error = api(method, "kernels/nosuch", body)
        assert status == 404 and "nosuch" in error["message"], (method, error)


def test_probe_reports_what_the_image_contains(api: Any, test_image: str, bare_image: str) -> None:
    status, probe = api("POST", "images/probe", {"spec": {"image": test_image}})
    assert status == 200, probe
    assert probe["ok"] is True and probe["python_version"].startswith("3.")
    assert probe["ipykernel_version"] and probe["cached"] is False
    status, again = api("POST", "images/probe", {"spec": {"image": test_image}})
    assert again["cached"] is True and again["python_version"] == probe["python_version"]

    status, bare = api("POST", "images/probe", {"spec": {"image": bare_image}})
    assert status == 200 and bare["ok"] is False and bare["ipykernel_version"] is None
    assert "ipykernel" in bare["message"]


def test_probe_refuses_images_outside_the_allowed_roots(api: Any, tmp_path: Path) -> None:
    status, error = api("POST", "images/probe", {"spec": {"image": "/usr/lib"}})
    assert status == 403 and "outside the directories where this site allows" in error["message"], (
        error
    )


def test_an_apptainer_kernel_with_modules_starts_through_the_kernels_api(
    lmod_env: dict[str, str], api: Any, run: Any, jp_fetch: Any, jp_ws_fetch: Any, test_image: str
) -> None:
    """The Apptainer stand-in, found on PATH only after ``module load apptainer/1.3``."""
    spec = {"image": test_image, "runtime": "apptainer", "modules": ["apptainer/1.3"]}
    status, kernel = api(
        "POST", "kernels", {"name": "jck-apptainer", "display_name": "A", "spec": spec}
    )
    assert status == 201, kernel
    assert kernel["probe"]["ok"] is True
    response = run(
        jp_fetch("api", "kernels", method="POST", body=json.dumps({"name": "jck-apptainer"}))
    )
    kernel_id = json.loads(response.body)["id"]
    try:
        code = "import os; print(open('/etc/jck-test-image').read().strip(), 'APPTAINER_CONTAINER' in os.environ)"
        assert run(execute(jp_ws_fetch, kernel_id, code)) == "py-ipykernel True\n"
    finally:
        run(jp_fetch("api", "kernels", kernel_id, method="DELETE"))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"display_name": 7, "spec": {"image": "/x"}}, "display_name"),
        ({"display_name": " ", "spec": {"image": "/x"}}, "display_name"),
        ({"display_name": "x", "spec": {"image": "/x"}, "probe": "yes"}, "probe"),
        ({"display_name": "x", "spec": "/x.sif"}, "spec"),
        ({"display_name": "x", "spec": {"image": "/x"}, "name": "../evil"}, "name"),
        ({"display_name": "x", "spec": {"image": "/x"}, "name": "Upper Case"}, "name"),
        ({"display_name": "x", "spec": {"image": "/x", "env": {"PATH": "/bin"}}}, "spec.env.PATH"),
        ({"display_name": "x", "spec": {"image": "/x", "binds": ["rel:/mnt"]}}, "spec.binds[0]"),
        ({"display_name": "x", "spec": {"image": "/x", "colour": "red"}}, "spec.colour"),
        ({"spec": {"image": "/x"}}, "display_name"),
    ],
)
def test_invalid_registrations_are_400_naming_the_field(
    body: dict[str, Any], field: str, api: Any
) -> None:
    status, error = api("POST", "kernels", body)
    assert status == 400, error
    assert error["message"].startswith(field), error["message"]
    assert api("GET", "kernels") == (200, {"kernels": []})


def test_catalog_and_system_kernels_are_read_only(
    api: Any, test_image: str, jp_kernel_dir: Path
) -> None:
    folder = jp_kernel_dir / "site-torch"
    folder.mkdir(parents=True)
    kernel_json = {
        "argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Site torch",
        "language": "python",
        "metadata": {
            "kernel_provisioner": {
                "provisioner_name": "container-provisioner",
                "config": {"image": test_image, "runtime": "charliecloud"},
            },
            "container_kernels": {
                "version": 1,
                "managed_by": "catalog",
                "catalog": "/etc/cat.toml",
            },
        },
    }
    (folder / "kernel.json").write_text(json.dumps(kernel_json))
    status, kernel = api("GET", "kernels/site-torch")
    assert status == 200 and kernel["managed"] is True and kernel["editable"] is False
    status, error = api("PATCH", "kernels/site-torch", {"display_name": "Mine now"})
    assert status == 403 and "catalog" in error["message"]
    status, error = api("DELETE", "kernels/site-torch")
    assert status == 403 and "catalog" in error["message"]
    assert (folder / "kernel.json").is_file()


def test_each_kernel_says_whether_its_image_may_be_probed(
    api: Any, test_image: str, jp_kernel_dir: Path
) -> None:
    """The panel offers Probe from the server's own answer (the site policy lives only here)."""
    for name, image in (("inside", test_image), ("outside", "/opt/site/torch.sif")):
        folder = jp_kernel_dir / name
        folder.mkdir(parents=True)
        config = {"image": image, "runtime": "charliecloud"}
        kernel_json = {
            "argv": ["python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": name,
            "language": "python",
            "metadata": {
                "kernel_provisioner": {
                    "provisioner_name": "container-provisioner",
                    "config": config,
                }
            },
        }
        (folder / "kernel.json").write_text(json.dumps(kernel_json))
    status, listing = api("GET", "kernels")
    assert status == 200
    refusals = {k["name"]: k["probe_refusal"] for k in listing["kernels"]}
    assert refusals["inside"] is None
    assert refusals["outside"].startswith(
        "The image '/opt/site/torch.sif' is outside the directories where this site allows images"
    )
    status, error = api("POST", "images/probe", {"spec": {"image": "/opt/site/torch.sif"}})
    assert status == 403 and error["message"] == refusals["outside"], "the same words"


def test_plain_kernels_are_not_container_kernels(api: Any) -> None:
    """ipykernel's own python3 is not listed, and cannot be changed here."""
    assert api("GET", "kernels") == (200, {"kernels": []})
    status, error = api("DELETE", "kernels/python3")
    assert status == 404 and "not a container kernel" in error["message"]
