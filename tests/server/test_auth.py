"""No route is open: authentication, authorization and XSRF on every verb of every route.

In the style of the JupyterLab extension template's check: the routes are enumerated from the
live web app (not from a list in the test), so a new route is covered without editing this file.
"""

from __future__ import annotations

import re
import warnings
from typing import Any, ClassVar

import pytest
from jupyter_server.auth import Authorizer
from tornado.httpclient import HTTPClientError

from jupyter_container_kernels.server.handlers import AUTH_RESOURCE

VERBS = ("get", "post", "patch", "put", "delete")
EXPECTED_ROUTES = {
    "kernels",
    "kernels/x",
    "images/probe",
    "images/pulls",
    "images/pulls/x",
    "environment",
    "batch/preview",
    "batch/parameters",
    "batch/values",
    "jobs",
    "jobs/x",
    "node-kernels",
    "node-kernels/preview",
    "node-kernels/x",
}


def _url(pattern: str) -> str:
    """A concrete URL path for a route regex (named groups filled with ``x``)."""
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "x", pattern.rstrip("$"))
    return path.replace("\\", "")


def _requests(routes: list[tuple[str, type]]) -> list[tuple[str, str]]:
    out = []
    for pattern, handler in routes:
        for verb in VERBS:
            if getattr(handler, verb) is not getattr(handler.__mro__[-2], verb, None):
                out.append((verb.upper(), _url(pattern)))
    return out


async def _status(http_server_client: Any, method: str, url: str, **kwargs: Any) -> int:
    body = b"{}" if method in ("POST", "PATCH", "PUT") else None
    try:
        response = await http_server_client.fetch(
            url,
            method=method,
            body=body,
            allow_nonstandard_methods=True,
            follow_redirects=False,
            raise_error=False,
            **kwargs,
        )
    except HTTPClientError as err:
        return err.code
    return response.code


def test_every_route_is_registered(routes: list[tuple[str, type]], jp_base_url: str) -> None:
    prefix = f"{jp_base_url}container-kernels/"
    paths = {_url(p).removeprefix(prefix) for p, _ in routes}
    assert paths == EXPECTED_ROUTES


def test_every_verb_is_decorated_for_jupyter_server(jp_serverapp: Any, routes: list) -> None:
    """jupyter_server's own check finds no method without @web.authenticated."""
    for pattern, handler in routes:
        undecorated = jp_serverapp.web_app._check_handler_auth(re.compile(pattern), handler)
        assert undecorated == [], undecorated


@pytest.mark.parametrize("allow_unauthenticated", [False, True])
def test_every_route_refuses_unauthenticated_requests(
    jp_server_config: Any,
    jp_serverapp: Any,
    routes: list,
    http_server_client: Any,
    allow_unauthenticated: bool,
    run: Any,
) -> None:
    """Without a token: 403 for every verb — also when the server would allow unauthenticated
    access to undecorated handlers, which proves each verb carries ``@web.authenticated``."""
    jp_serverapp.web_app.settings["allow_unauthenticated_access"] = allow_unauthenticated
    requests = _requests(routes)
    assert len(requests) == 22  # GET+POST kernels, GET+PATCH+DELETE kernels/x, 17 more
    for method, url in requests:
        status = run(_status(http_server_client, method, url))
        assert status in (401, 403), f"{method} {url} answered {status} without authentication"


class DenyAll(Authorizer):
    """An authorizer that allows nothing on this extension's resource and records the checks."""

    checks: ClassVar[list[tuple[str, str, str]]] = []

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        DenyAll.checks.append((handler.request.method, action, resource))
        return resource != AUTH_RESOURCE


@pytest.fixture
def deny_all_config(jp_server_config: Any) -> Any:
    jp_server_config["ServerApp"]["authorizer_class"] = DenyAll
    DenyAll.checks = []
    return jp_server_config


def test_every_route_is_authorized_on_its_resource(
    deny_all_config: Any,
    jp_serverapp: Any,
    routes: list,
    http_server_client: Any,
    jp_auth_header: dict[str, str],
    run: Any,
) -> None:
    """With a valid token but no permission on ``container-kernels``: 403, and the check asked
    for ``read`` on GET and ``write`` on every other verb."""
    for method, url in _requests(routes):
        status = run(_status(http_server_client, method, url, headers=jp_auth_header))
        assert status == 403, f"{method} {url} answered {status} although the authorizer refused"
    assert DenyAll.checks, "the authorizer was never asked"
    for method, action, resource in DenyAll.checks:
        assert resource == AUTH_RESOURCE
        assert action == ("read" if method == "GET" else "write"), (method, action)


def test_cookie_writes_need_the_xsrf_token(
    jp_serverapp: Any, http_server_client: Any, jp_base_url: str, run: Any
) -> None:
    """A browser session (login cookie) must send X-XSRFToken on writes; a token header alone
    needs none (jupyter_server's rule: token-authenticated requests are not cross-site)."""
    token = jp_serverapp.identity_provider.token
    url = f"{jp_base_url}container-kernels/batch/preview"
    login = run(
        http_server_client.fetch(
            f"{jp_base_url}container-kernels/environment?token={token}", raise_error=False
        )
    )
    assert login.code == 200
    cookies = [c.split(";")[0] for c in login.headers.get_list("Set-Cookie")]
    login_cookie = next(c for c in cookies if c.startswith("username-"))

    def post(headers: dict[str, str]) -> int:
        response = run(
            http_server_client.fetch(
                url,
                method="POST",
                body=b'{"notebook": "missing.ipynb"}',
                headers=headers,
                raise_error=False,
            )
        )
        return response.code

    # the cookie alone: refused before the handler runs
    assert post({"Cookie": login_cookie}) == 403
    # cookie + matching _xsrf cookie and header: reaches the handler (404: no such notebook)
    assert post({"Cookie": f"{login_cookie}; _xsrf=abc123", "X-XSRFToken": "abc123"}) == 404
    # token header, no cookies: reaches the handler
    assert post({"Authorization": f"token {token}"}) == 404


def test_no_auth_warning_when_the_extension_loads(
    jp_server_config: Any, jp_configurable_serverapp: Any
) -> None:
    """jupyter_server warns about extension routes without auth decorators; ours has none."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        jp_configurable_serverapp(config=jp_server_config)
    messages = [str(w.message) for w in caught if "container-kernels" in str(w.message)]
    assert messages == []
