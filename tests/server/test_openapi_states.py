"""The job states in openapi.yaml are the server's own: the frontend's types are generated from
the document, so its list of terminal states (no Cancel button, no log polling) is the server's
``TERMINAL`` without a hand-written copy."""

from __future__ import annotations

import ast
import inspect
from typing import Any

import pytest
import yaml

from jupyter_container_kernels.batch import slurm, states
from jupyter_container_kernels.server import OPENAPI_PATH


@pytest.fixture(scope="module")
def schemas() -> dict[str, Any]:
    return yaml.safe_load(OPENAPI_PATH.read_text())["components"]["schemas"]


def _enum(schemas: dict[str, Any], name: str) -> list[str]:
    values = schemas[name]["enum"]
    assert len(values) == len(set(values)), f"{name} lists a state twice"
    return values


def _state_literals(module: Any) -> set[str]:
    """Every UPPER_CASE string constant in ``module``'s source (the states it can write)."""
    tree = ast.parse(inspect.getsource(module))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.isupper()
        and node.value.replace("_", "").isalpha()
    }


def test_the_terminal_states_are_the_servers(schemas: dict[str, Any]) -> None:
    assert set(_enum(schemas, "TerminalJobState")) == states.TERMINAL


def test_every_terminal_state_is_a_job_state(schemas: dict[str, Any]) -> None:
    assert set(_enum(schemas, "JobState")) >= states.TERMINAL


def test_unknown_is_a_terminal_state(schemas: dict[str, Any]) -> None:
    """The server marks a job Slurm forgot as UNKNOWN and never polls it again."""
    assert "UNKNOWN" in states.TERMINAL
    assert "UNKNOWN" in _enum(schemas, "TerminalJobState")


def test_every_state_the_server_writes_itself_is_documented(schemas: dict[str, Any]) -> None:
    """``batch/states.py`` sums arrays up (PENDING, RUNNING, the worst end state) and concludes
    lost jobs (UNKNOWN, or what the output notebook says)."""
    written = _state_literals(states)
    assert {"PENDING", "RUNNING", "UNKNOWN", "COMPLETED"} <= written
    assert written <= set(_enum(schemas, "JobState"))


def test_a_state_slurm_does_not_give_is_unknown() -> None:
    assert slurm._state("") == "UNKNOWN"
    assert slurm._state("CANCELLED by 1000") == "CANCELLED"


def _slurm_states() -> set[str]:
    """Slurm's job states (``man squeue``, JOB STATE CODES), which ``slurm._state`` passes on."""
    return {
        "BOOT_FAIL", "CANCELLED", "COMPLETED", "CONFIGURING", "COMPLETING", "DEADLINE", "FAILED",
        "NODE_FAIL", "OUT_OF_MEMORY", "PENDING", "PREEMPTED", "RUNNING", "RESV_DEL_HOLD",
        "REQUEUE_FED", "REQUEUE_HOLD", "REQUEUED", "RESIZING", "REVOKED", "SIGNALING",
        "SPECIAL_EXIT", "STAGE_OUT", "STOPPED", "SUSPENDED", "TIMEOUT",
    }  # fmt: skip


def test_every_slurm_state_is_a_job_state(schemas: dict[str, Any]) -> None:
    assert _slurm_states() | {"UNKNOWN"} == set(_enum(schemas, "JobState"))


def test_jobs_and_tasks_carry_a_job_state(schemas: dict[str, Any]) -> None:
    ref = {"$ref": "#/components/schemas/JobState"}
    assert schemas["Job"]["properties"]["state"] == ref
    assert schemas["JobTask"]["properties"]["state"] == ref
