"""The container spec: every invalid value is refused with a message naming it and the fix."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_container_kernels.errors import PolicyError, SpecError
from jupyter_container_kernels.site import SiteConfig
from jupyter_container_kernels.spec import GPU_CHOICES, RUNTIMES, Bind, ContainerSpec

IMAGE = "/shared/images/pytorch-2.7.sif"


def refused(data: Any, **kwargs: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        ContainerSpec.from_dict(data, **kwargs)
    return info.value


def test_the_issue_example_is_valid_and_round_trips() -> None:
    data = {
        "image": IMAGE,
        "runtime": "apptainer",
        "gpu": "auto",
        "binds": ["/scratch", "/data:/data:ro"],
        "modules": ["apptainer", "cuda/12.4"],
        "env": {"OMP_NUM_THREADS": "8"},
        "cleanenv": True,
    }
    spec = ContainerSpec.from_dict(data)
    assert spec.binds == (Bind("/scratch", "/scratch"), Bind("/data", "/data", True))
    assert spec.modules == ("apptainer", "cuda/12.4")
    assert spec.env_dict == {"OMP_NUM_THREADS": "8"}
    assert spec.to_dict() == data
    assert ContainerSpec.from_dict(spec.to_dict()) == spec


def test_defaults_are_short_in_json_but_runtime_and_cleanenv_stay_explicit() -> None:
    spec = ContainerSpec.from_dict({"image": IMAGE})
    assert (spec.runtime, spec.gpu, spec.cleanenv, spec.python) == (
        "apptainer",
        "auto",
        False,
        "python3",
    )
    assert spec.to_dict() == {
        "image": IMAGE,
        "runtime": "apptainer",
        "gpu": "auto",
        "cleanenv": False,
    }


def test_a_kernels_own_cleanenv_survives_a_site_default() -> None:
    """What the kernel chose is written out, so the site's default_cleanenv cannot flip it."""
    site = SiteConfig(default_cleanenv=True)
    chosen = site.build_spec({"image": IMAGE, "cleanenv": False})
    assert site.build_spec(chosen.to_dict()).cleanenv is False
    assert site.build_spec({"image": IMAGE}).cleanenv is True


@pytest.mark.parametrize("data", [None, [], "image.sif", 3])
def test_spec_must_be_a_mapping(data: Any) -> None:
    assert "expected a mapping" in str(refused(data))


def test_unknown_setting_is_named_and_the_settings_listed() -> None:
    err = refused({"image": IMAGE, "imgae": "x"})
    assert err.field == "imgae"
    for key in ContainerSpec.KEYS:
        assert key in str(err)


def test_image_is_required() -> None:
    assert refused({"runtime": "apptainer"}).field == "image"


def test_where_prefixes_field_names() -> None:
    err = refused({"image": IMAGE, "gpu": "amd"}, where="kernels.torch")
    assert err.field == "kernels.torch.gpu"
    assert str(err).startswith("kernels.torch.gpu: ")


@pytest.mark.parametrize(
    ("data", "field", "must_say"),
    [
        ({"runtime": "docker"}, "runtime", ["'docker'", *RUNTIMES]),
        ({"gpu": "amd"}, "gpu", ["'amd'", *GPU_CHOICES]),
        ({"gpu": True}, "gpu", ["True"]),
        ({"cleanenv": "yes"}, "cleanenv", ["'yes'", "true or false"]),
        ({"image": ""}, "image", ["''"]),
        ({"image": 42}, "image", ["42"]),
        ({"image": "images/a.sif"}, "image", ["'images/a.sif'", "absolute", "docker://"]),
        ({"image": "a/b", "runtime": "charliecloud"}, "image", ["'a/b'", "absolute"]),
        ({"image": "/a\nb.sif"}, "image", ["control character"]),
        ({"image": "docker://ubuntu latest"}, "image", ["whitespace"]),
        (
            {"image": "/x y:z", "runtime": "podman"},
            "image",
            ["podman image reference", "docker.io/"],
        ),
        (
            {"image": "pytorch:2.7", "runtime": "shifter"},
            "image",
            ["shifter image reference", "docker:"],
        ),
        ({"binds": "/scratch"}, "binds", ["expected a list", "'/scratch'"]),
        ({"binds": [3]}, "binds[0]", ["src[:dst[:ro|rw]]", "3"]),
        ({"binds": ["/a:/b:ro:x"]}, "binds[0]", ["too many ':'"]),
        ({"binds": ["/ok", "scratch"]}, "binds[1] (source)", ["'scratch'", "absolute"]),
        ({"binds": ["/a:b"]}, "binds[0] (destination)", ["'b'", "absolute"]),
        ({"binds": ["/a:/b:rx"]}, "binds[0]", ["'rx'", "'ro' or 'rw'"]),
        ({"binds": ["/a,b"]}, "binds[0] (source)", ["comma"]),
        ({"binds": [{"source": "/a"}]}, "binds[0]", ["unknown keys", "src, dst, mode"]),
        ({"modules": "cuda"}, "modules", ["expected a list"]),
        ({"modules": ["cuda; rm -rf /"]}, "modules[0]", ["'cuda; rm -rf /'", "cuda/12.4"]),
        ({"modules": ["ok", "-x"]}, "modules[1]", ["'-x'"]),
        ({"modules": [""]}, "modules[0]", ["''"]),
        ({"env": ["A=1"]}, "env", ["NAME: value"]),
        ({"env": {"1A": "x"}}, "env", ["'1A'", "not a valid variable name"]),
        ({"env": {"PATH": "/x"}}, "env.PATH", ["image's own"]),
        ({"env": {"HOME": "/x"}}, "env.HOME", ["HOME cannot be set"]),
        ({"env": {"A": ["x"]}}, "env.A", ["string value"]),
        ({"env": {"A": True}}, "env.A", ["string value"]),
        ({"env": {"A": "x\x00y"}}, "env.A", ["NUL"]),
        ({"python": "python3 -u"}, "python", ["'python3 -u'", "absolute path"]),
        ({"python": "bin/python"}, "python", ["'bin/python'"]),
        ({"workdir": "work"}, "workdir", ["'work'", "absolute"]),
        ({"runtime_args": "--nv"}, "runtime_args", ["expected a list"]),
        ({"runtime_args": ["--nvidia"]}, "runtime_args[0]", ["'--nvidia'", "--nv", "--cleanenv"]),
        ({"runtime_args": ["--pwd"]}, "runtime_args[0]", ["--pwd needs a value"]),
        ({"runtime_args": ["--nv=1"]}, "runtime_args[0]", ["--nv takes no value"]),
        ({"runtime_args": ["exec"]}, "runtime_args[0]", ["'exec'"]),
        ({"runtime_args": [1]}, "runtime_args[0]", ["expected one option"]),
        ({"runtime_args": ["--pwd", "/a\nb"]}, "runtime_args[1]", ["expected one option"]),
    ],
)
def test_invalid_value_is_refused_with_a_clear_message(
    data: dict[str, Any], field: str, must_say: list[str]
) -> None:
    err = refused({"image": IMAGE, **data})
    assert err.field == field
    for words in must_say:
        assert words in str(err), f"{words!r} missing from: {err}"


def test_runtime_args_are_checked_against_the_chosen_runtime() -> None:
    """The spec checks the syntax (a known option of this runtime, with its value); which
    options may be used is the site's policy (tests/kernels/test_site_policy.py)."""
    # --nv is an Apptainer option, not a Charliecloud one.
    err = refused({"image": "/img", "runtime": "charliecloud", "runtime_args": ["--nv"]})
    assert err.field == "runtime_args[0]" and "charliecloud" in str(err)
    data = {
        "image": "/img",
        "runtime": "charliecloud",
        "runtime_args": ["--set-env=A=1", "-b", "/x:/mnt/0", "--private-tmp"],
    }
    spec = ContainerSpec.from_dict(data)
    assert spec.runtime_args == ("--set-env=A=1", "-b", "/x:/mnt/0", "--private-tmp")
    # Through the site (every edge and every start) only its allowed options pass.
    with pytest.raises(PolicyError, match=r"runtime_args\[0\]: '--set-env=A=1' is not allowed"):
        SiteConfig().build_spec(data)
    allowed = SiteConfig(
        allowed_runtime_args={"charliecloud": ["--set-env", "-b", "--private-tmp"]}
    )
    assert allowed.build_spec(data).runtime_args == spec.runtime_args


def test_uri_images_are_apptainer_only() -> None:
    assert (
        ContainerSpec.from_dict({"image": "docker://pytorch/pytorch:2.7.0"}).is_path_image is False
    )
    assert refused({"image": "docker://x", "runtime": "charliecloud"}).field == "image"


@pytest.mark.parametrize(
    ("text", "bind"),
    [
        ("/scratch", Bind("/scratch", "/scratch", False)),
        ("/data:/mnt/data", Bind("/data", "/mnt/data", False)),
        ("/data:/data:ro", Bind("/data", "/data", True)),
        ("/data/:/data/:rw", Bind("/data", "/data", False)),
        ({"src": "/a", "dst": "/b", "mode": "ro"}, Bind("/a", "/b", True)),
    ],
)
def test_bind_forms(text: Any, bind: Bind) -> None:
    assert Bind.parse(text) == bind
    assert Bind.parse(str(bind)) == bind


def test_site_defaults_apply_and_the_kernel_wins() -> None:
    site = SiteConfig(
        default_binds=["/scratch", "/data:/data:ro"],
        default_modules=["apptainer"],
        default_runtime="charliecloud",
        default_cleanenv=True,
    )
    spec = site.build_spec({"image": "/img", "binds": ["/home/x:/data"], "modules": ["cuda/12.4"]})
    assert (spec.runtime, spec.cleanenv) == ("charliecloud", True)
    effective = site.effective(spec)
    assert [str(b) for b in effective.binds] == ["/scratch", "/home/x:/data"]
    assert effective.modules == ("apptainer", "cuda/12.4")
    # The kernel's own choice beats the site default.
    assert (
        site.build_spec({"image": "/img", "runtime": "apptainer", "cleanenv": False}).cleanenv
        is False
    )


def test_site_refuses_invalid_defaults() -> None:
    with pytest.raises(SpecError, match="relative"):
        SiteConfig(default_binds=["relative"])
    with pytest.raises(SpecError, match="docker"):
        SiteConfig(runtime_paths={"docker": "/usr/bin/docker"})
    with pytest.raises(SpecError, match="not absolute"):
        SiteConfig(runtime_paths={"apptainer": "bin/apptainer"})
