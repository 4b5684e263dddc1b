"""Slurm resources: sbatch's long names, one strict pattern per field, injection refused."""

from __future__ import annotations

import pytest

from jupyter_container_kernels.batch.resources import FIELDS, Resources
from jupyter_container_kernels.errors import SpecError

VALID = {
    "job_name": "analysis-1",
    "partition": "gpu,debug",
    "account": "proj_123",
    "qos": "normal",
    "reservation": "maint",
    "time": "1-12:30:00",
    "nodes": "2-4",
    "ntasks": 8,
    "cpus_per_task": "4",
    "mem": "16G",
    "gpus": "a100:2",
    "gres": "gpu:a100:1,shard:2",
}

#: Things that could add an #SBATCH directive or a shell line if they got through.
HOSTILE = [
    "debug\n#SBATCH --wrap=id",
    "debug\r\nrm -rf ~",
    "gpu #comment",
    "gpu; touch /tmp/pwned",
    "$(touch /tmp/pwned)",
    "`id`",
    "a'b",
    'a"b',
    "a b",
    "a|b",
    "a&b",
    "a>b",
    "a\\b",
    "",
]


def test_every_standard_field_accepts_sbatch_syntax_and_keeps_the_fixed_order():
    resources = Resources.from_dict(VALID)
    assert [option for option, _ in resources.directives()] == [
        "--job-name",
        "--partition",
        "--account",
        "--qos",
        "--reservation",
        "--time",
        "--nodes",
        "--ntasks",
        "--cpus-per-task",
        "--mem",
        "--gpus",
        "--gres",
    ]
    assert dict(resources.directives())["--ntasks"] == "8"


def test_dashed_names_from_the_cli_are_the_same_fields():
    assert Resources.from_dict({"cpus-per-task": "2", "job-name": "x"}) == Resources(
        cpus_per_task="2", job_name="x"
    )


@pytest.mark.parametrize(
    "value",
    ["30", "90:00", "1:30:00", "2-0", "2-12", "2-12:30", "2-12:30:00", "UNLIMITED", "infinite"],
)
def test_time_accepts_every_sbatch_format(value):
    assert Resources.from_dict({"time": value}).time == value


@pytest.mark.parametrize("field", sorted(FIELDS))
@pytest.mark.parametrize("value", [v for v in HOSTILE if v])
def test_hostile_values_are_refused_naming_the_field(field, value):
    with pytest.raises(SpecError) as info:
        Resources.from_dict({field: value})
    assert info.value.field == f"resources.{field}"
    assert repr(value) in str(info.value)


def test_the_refusal_says_why_a_newline_is_dangerous():
    with pytest.raises(SpecError, match="newline could add #SBATCH directives"):
        Resources.from_dict({"partition": "debug\n#SBATCH --wrap=id"})


@pytest.mark.parametrize(
    "field,value",
    [
        ("nodes", 0),
        ("ntasks", "-1"),
        ("mem", "16GB"),
        ("time", "1:2:3:4"),
        ("gpus", True),
        ("partition", 3),
    ],
)
def test_malformed_values_are_refused_with_an_example(field, value):
    with pytest.raises(SpecError, match="e.g."):
        Resources.from_dict({field: value})


def test_unknown_resources_are_refused_listing_the_known_ones():
    with pytest.raises(SpecError, match="partition, account") as info:
        Resources.from_dict({"constraint": "a100"})
    assert info.value.field == "resources.constraint"


def test_site_allowed_directives_are_matched_against_the_site_pattern():
    allowed = {"constraint": r"[A-Za-z0-9_&|]+", "exclusive": ""}
    resources = Resources.from_dict(
        {"constraint": "a100|h100", "exclusive": True}, allowed_extra=allowed
    )
    assert resources.directives() == [("--constraint", "a100|h100"), ("--exclusive", None)]
    with pytest.raises(SpecError, match="not a value this site allows for --constraint"):
        Resources.from_dict({"constraint": "a100\n#SBATCH --x"}, allowed_extra=allowed)
    with pytest.raises(SpecError, match="is a flag"):
        Resources.from_dict({"exclusive": "user"}, allowed_extra=allowed)


def test_a_permissive_site_pattern_still_cannot_open_a_shell_line():
    with pytest.raises(SpecError, match="metacharacter"):
        Resources.from_dict({"comment": "ok; rm -rf ~"}, allowed_extra={"comment": ".*"})


def test_empty_values_mean_slurms_default():
    assert Resources.from_dict({"partition": "", "time": None}) == Resources()


def test_gpu_requests_are_recognised():
    assert Resources(gres="gpu:1").asks_for_gpus
    assert Resources(gpus="2").asks_for_gpus
    assert not Resources(gres="shard:1").asks_for_gpus
