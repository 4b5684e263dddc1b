"""``images/pulls``: a pull as a long-running operation (start, poll, cancel), over REST."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
from traitlets.config import Config

from jupyter_container_kernels.images.store import ProgressEvent
from jupyter_container_kernels.server.pulls import PullOperation, PullOperations
from tests.images.conftest import oci_registry, tiny_layout
from tests.images.dockersave import Entry, save
from tests.images.registry import Registry

Api = Callable[..., tuple[int, Any]]
__all__ = ["oci_registry", "tiny_layout"]  # the test registry's fixtures (tests/images)


class SlowPulls(PullOperations):
    """Holds every pull after its read phase until it is cancelled (or 20 s pass)."""

    def record(self, op: PullOperation, event: ProgressEvent) -> None:
        super().record(op, event)
        if event.phase == "read" and event.finished:
            op.cancel.wait(20)


@pytest.fixture
def pull_operations_class() -> str:
    return "jupyter_container_kernels.server.pulls.PullOperations"


@pytest.fixture
def store_dir(image_root: Path) -> Path:
    return image_root / "store"  # under the allowed roots, so a pulled image can be registered


@pytest.fixture
def jp_server_config(
    jp_server_config: Config, store_dir: Path, pull_operations_class: str
) -> Config:
    jp_server_config.SiteConfig.image_store = str(store_dir)
    jp_server_config.ContainerKernelsApp.pull_operations_class = pull_operations_class
    return jp_server_config


@pytest.fixture
def tarball(jp_root_dir: Path) -> tuple[Path, str]:
    """A two-layer tarball in the server's root, and its image ID."""
    path = jp_root_dir / "pulled.tar"
    layers: list[Any] = [
        [Entry("etc", kind="dir"), Entry("etc/one", b"1\n")],
        [Entry("etc/two", b"2\n")],
    ]
    (digest,) = save(path, [(["localhost/jck/pulled:1"], layers)])
    return path, digest


def _wait(api: Api, op_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, op = api("GET", f"images/pulls/{op_id}")
        assert status == 200, op
        if op["state"] != "running" or time.monotonic() > deadline:
            return op
        time.sleep(0.05)


def test_a_pull_runs_as_an_operation(api: Api, tarball: tuple[Path, str], store_dir: Path) -> None:
    path, digest = tarball
    status, op = api("POST", "images/pulls", {"source": "docker-archive:pulled.tar", "name": "p1"})
    assert status == 202, op
    assert op["state"] == "running" and op["source"] == "docker-archive:pulled.tar"
    done = _wait(api, op["id"])
    assert done == {
        "id": op["id"],
        "source": "docker-archive:pulled.tar",
        "runtime": "charliecloud",
        "state": "succeeded",
        "phase": "unpack",
        "done": done["total"],
        "total": done["total"],
        "error": None,
        "image_path": str(store_dir / "p1"),
        "digest": digest,
        "kernel": None,
    }
    assert (store_dir / "p1" / "etc" / "two").read_text() == "2\n"

    status, again = api("POST", "images/pulls", {"source": str(path)})  # an absolute path
    assert status == 202, again
    assert _wait(api, again["id"])["image_path"] == str(store_dir / "pulled-1")
    status, listed = api("GET", "images/pulls")
    assert status == 200
    assert [o["id"] for o in listed["pulls"]] == [again["id"], op["id"]]  # newest first


def test_install_registers_the_kernel_after_the_pull(
    api: Api, tarball: tuple[Path, str], store_dir: Path
) -> None:
    body = {
        "source": "pulled.tar",
        "install": {"name": "pulled-k", "display_name": "Pulled", "probe": False,
                    "spec": {"env": {"A": "1"}}},
    }  # fmt: skip
    status, op = api("POST", "images/pulls", body)
    assert status == 202, op
    done = _wait(api, op["id"])
    assert done["state"] == "succeeded", done
    assert done["kernel"] == "pulled-k"
    status, kernels = api("GET", "kernels")
    (kernel,) = [k for k in kernels["kernels"] if k["name"] == "pulled-k"]
    assert kernel["spec"]["image"] == str(store_dir / "pulled-1")
    assert kernel["spec"]["runtime"] == "charliecloud"
    assert kernel["spec"]["env"] == {"A": "1"}


@pytest.fixture
def standin_site(jp_server_config: Config, apptainer_standin: str) -> Config:
    """The site runs the Apptainer stand-in (tests/support/bin/apptainer) as ``apptainer``."""
    jp_server_config.SiteConfig.runtime_paths = {"apptainer": apptainer_standin}
    return jp_server_config


def test_runtime_apptainer_pulls_a_sif_and_registers_an_apptainer_kernel(
    standin_site: Config, api: Api, tarball: tuple[Path, str], store_dir: Path
) -> None:
    """``runtime`` picks what the image becomes (a SIF, through the site's apptainer, the
    stand-in here) and the runtime of the kernel ``install`` registers; the operation shows it."""
    body = {"source": "pulled.tar", "runtime": "apptainer",
            "install": {"name": "sif-k", "display_name": "SIF", "probe": False}}  # fmt: skip
    status, op = api("POST", "images/pulls", body)
    assert status == 202, op
    assert op["runtime"] == "apptainer"
    done = _wait(api, op["id"], timeout=120)
    assert done["state"] == "succeeded", done
    assert (done["phase"], done["kernel"]) == ("convert", "sif-k")
    assert done["image_path"] == str(store_dir / "pulled-1.sif")
    assert (store_dir / "pulled-1.sif").is_file()
    status, kernels = api("GET", "kernels")
    (kernel,) = [k for k in kernels["kernels"] if k["name"] == "sif-k"]
    assert (kernel["spec"]["runtime"], kernel["spec"]["image"]) == ("apptainer", done["image_path"])
    status, listed = api("GET", "images/pulls")
    assert [o["runtime"] for o in listed["pulls"]] == ["apptainer"]


def test_install_with_probe_reports_the_probe_phase(
    api: Api, tarball: tuple[Path, str], extension: Any
) -> None:
    """With ``install`` probing (the default), the operation's last phase is ``probe``; the
    tarball has no Python, so the kernel is refused and the message is the probe's."""
    body = {"source": "pulled.tar", "install": {"display_name": "No Python"}}
    status, op = api("POST", "images/pulls", body)
    assert status == 202, op
    done = _wait(api, op["id"], timeout=120)
    assert (done["state"], done["phase"], done["kernel"]) == ("failed", "probe", None), done
    assert done["image_path"] and done["error"].endswith(
        f"(the image was pulled to {done['image_path']}; register it with POST kernels)"
    )


class RecordingPulls(PullOperations):
    """Keeps every progress event of every pull (the operation shows only the latest)."""

    events: ClassVar[list[ProgressEvent]] = []

    def record(self, op: PullOperation, event: ProgressEvent) -> None:
        super().record(op, event)
        self.events.append(event)


@pytest.fixture
def registry_ca(jp_server_config: Config, oci_registry: Registry) -> Registry:
    """The test registry, its CA trusted through the site's config (before the server starts)."""
    jp_server_config.SiteConfig.registry_cert_dir = str(oci_registry.cert_dir)
    return oci_registry


@pytest.mark.parametrize("pull_operations_class", [f"{__name__}.RecordingPulls"])
def test_a_registry_image_is_pulled_and_registered_over_rest(
    registry_ca: Registry, api: Api, store_dir: Path
) -> None:
    """docker:// through REST: the site's registry_cert_dir is used, download then unpack
    progress is reported, and the kernel is registered on the stored image."""
    oci_registry = registry_ca
    RecordingPulls.events.clear()
    source = f"docker://{oci_registry.host}/jck/tiny:1"
    body = {"source": source, "install": {"name": "reg-k", "display_name": "Reg", "probe": False}}
    status, op = api("POST", "images/pulls", body)
    assert status == 202, op
    done = _wait(api, op["id"])
    assert done["state"] == "succeeded", done
    assert (done["image_path"], done["kernel"]) == (str(store_dir / "tiny-1"), "reg-k")
    assert [e.phase for e in RecordingPulls.events if e.finished] == ["download", "unpack"]
    assert (store_dir / "tiny-1" / "etc" / "tiny").read_text() == "tiny\n"

    status, op = api("POST", "images/pulls", {"source": source.replace(":1", ":2")})
    done = _wait(api, op["id"])
    assert done["state"] == "failed" and "no such image in" in done["error"]


def test_a_truncated_tarball_fails_with_the_store_message(
    api: Api, jp_root_dir: Path, store_dir: Path
) -> None:
    path = jp_root_dir / "big.tar"
    save(path, [(["big:1"], [[Entry("blob", os.urandom(2 << 20))]])], manifest_first=True)
    cut = jp_root_dir / "cut.tar"
    cut.write_bytes(path.read_bytes()[: 1 << 20])
    status, op = api("POST", "images/pulls", {"source": "cut.tar"})
    assert status == 202, op
    done = _wait(api, op["id"])
    assert done["state"] == "failed"
    assert done["error"] == (
        f"{cut} cannot be read (unexpected end of data); the tarball is truncated or corrupt"
    )
    assert done["image_path"] is None and done["kernel"] is None
    assert not store_dir.exists() or sorted(os.listdir(store_dir)) == [".locks"]


@pytest.mark.parametrize("pull_operations_class", [f"{__name__}.SlowPulls"])
def test_cancel_a_running_pull_leaves_nothing(
    api: Api, tarball: tuple[Path, str], store_dir: Path, extension: Any
) -> None:
    assert isinstance(extension.pulls, SlowPulls)  # swapped through config
    status, op = api("POST", "images/pulls", {"source": "pulled.tar"})
    assert status == 202, op
    deadline = time.monotonic() + 10
    while api("GET", f"images/pulls/{op['id']}")[1]["phase"] != "read":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert any(p.name.startswith(".tmp-") for p in store_dir.iterdir())  # mid-pull
    status, cancelling = api("DELETE", f"images/pulls/{op['id']}")
    assert status == 200 and cancelling["id"] == op["id"]
    done = _wait(api, op["id"])
    assert done["state"] == "cancelled"
    assert done["error"] == "the pull was cancelled; nothing was stored"
    assert sorted(os.listdir(store_dir)) == [".locks"]
    status, again = api("DELETE", f"images/pulls/{op['id']}")  # finished: unchanged
    assert status == 200 and again["state"] == "cancelled"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "source: is required"),
        ({"source": "x.tar", "tag": 1}, "tag: unknown field"),
        ({"source": 3}, "source: expected a string"),
        ({"source": "library://x/y"}, "source: 'library://x/y': library sources are not yet"),
        ({"source": "docker://x/Y Z"}, "source: 'docker://x/Y Z' is not an image reference"),
        ({"source": "nothing.tar"}, "source: '/"),  # the path looked for, in the root
        ({"source": "nothing.tar"}, "root_dir/nothing.tar': no such file"),
        ({"source": "pulled.tar", "name": "../x"}, "name: '../x'"),
        ({"source": "pulled.tar", "refresh": "yes"}, "refresh: expected true or false"),
        ({"source": "pulled.tar", "runtime": "docker"},
         "runtime: 'docker': images are pulled for charliecloud, podman, apptainer, singularity "
         "only"),
        ({"source": "pulled.tar", "runtime": None}, "runtime: None"),
        ({"source": "pulled.tar", "install": {"display_name": "x", "spec": {"runtime": "podman"}}},
         "install.spec.runtime: is set by the pull"),
        ({"source": "pulled.tar", "install": []}, "install: expected an object"),
        ({"source": "pulled.tar", "install": {}}, "install.display_name: is required"),
        ({"source": "pulled.tar", "install": {"display_name": "x", "x": 1}}, "install.x: unknown"),
        ({"source": "pulled.tar", "install": {"display_name": "x", "spec": {"image": "/i"}}},
         "install.spec.image: is set by the pull"),
        ({"source": "pulled.tar", "install": {"display_name": "x", "spec": {"gpu": "many"}}},
         "install.spec"),
    ],
)  # fmt: skip
def test_bad_bodies_are_400_naming_the_field(
    api: Api, tarball: tuple[Path, str], body: dict[str, Any], field: str
) -> None:
    status, error = api("POST", "images/pulls", body)
    assert status == 400, error
    assert field in error["message"]
    assert api("GET", "images/pulls")[1] == {"pulls": []}


def test_an_unknown_pull_is_404(api: Api) -> None:
    for method in ("GET", "DELETE"):
        status, error = api(method, "images/pulls/nope")
        assert status == 404
        assert error["message"].startswith("No pull 'nope' on this server")
