"""The shipped OpenAPI document is valid, matches the routes, and a fuzz run finds no 500.

The fuzz run is schemathesis against the live server over loopback: for every operation,
bodies that follow the schema and bodies that break it (deterministic seed, a bounded number of
examples). Every answer must be documented for that operation, be JSON matching the documented
schema, and never be 500; 502/503/504 are allowed only where documented (a runtime or Slurm
unavailable), never for bad input.
"""

from __future__ import annotations

import asyncio
import os
import re
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

from jupyter_container_kernels.server import OPENAPI_PATH

pytestmark = pytest.mark.timeout(600)

#: Examples per operation and generation mode (positive, negative).
EXAMPLES = int(os.environ.get("JCK_FUZZ_EXAMPLES", "30"))


@pytest.fixture
def allowed_image_roots() -> list[str]:
    """Any image may be registered, so generated bodies reach installs and probes."""
    return []


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return yaml.safe_load(OPENAPI_PATH.read_text())


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_the_document_ships_inside_the_package() -> None:
    import importlib.resources

    text = importlib.resources.files("jupyter_container_kernels.server").joinpath("openapi.yaml")
    assert text.read_text().startswith("openapi:")


def test_the_document_describes_exactly_the_routes(
    document: dict[str, Any], routes: list, jp_base_url: str
) -> None:
    prefix = f"{jp_base_url}container-kernels"
    served = {}
    for pattern, handler in routes:
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern.rstrip("$")).removeprefix(prefix)
        path = path.replace("{job_id}", "{id}").replace("{pull_id}", "{id}")
        verbs = {v for v in ("get", "post", "patch", "delete") if v in handler.__dict__}
        served[path] = verbs
    documented = {
        path: {v for v in ops if v in ("get", "post", "patch", "put", "delete")}
        for path, ops in document["paths"].items()
    }
    assert documented == served


def test_fuzzing_the_live_api_finds_no_server_error(
    extension: Any,
    jp_serverapp: Any,
    http_server: Any,
    jp_http_port: int,
    jp_base_url: str,
    run: Any,
) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.generation import GenerationMode
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    schema = schemathesis.openapi.from_path(OPENAPI_PATH)
    base_url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}container-kernels"
    headers = {"Authorization": f"token {jp_serverapp.identity_provider.token}"}
    checks = [status_code_conformance, content_type_conformance, response_schema_conformance]
    seen: dict[str, set[int]] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 22

    def fuzz_one(operation: Any, strategy: Any) -> None:
        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case: Any) -> None:
            response = case.call(base_url=base_url, headers=headers, timeout=60)
            seen.setdefault(operation.label, set()).add(response.status_code)
            assert response.status_code != 500, (
                f"{case.method} {case.formatted_path} body={case.body!r} answered 500: "
                f"{response.text}"
            )
            if response.status_code >= 500:
                assert "message" in response.json(), response.text
            case.validate_response(response, checks=checks, headers=headers)

        check()

    def fuzz() -> None:
        for operation in operations:
            for example in operation.get_strategies_from_examples():
                fuzz_one(operation, example)  # the documented example first
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz_one(operation, operation.as_strategy(generation_mode=mode))

    run(asyncio.to_thread(fuzz))
    assert len(seen) == len(operations)
    statuses = set().union(*seen.values())
    assert {200, 201, 204, 400, 403, 404, 409} <= statuses, seen
