"""Thin REST handlers: parse the JSON body, build the frozen objects, call a service, write JSON.

Every verb is ``@web.authenticated`` and ``@authorized`` on the resource ``container-kernels``
(``read`` for GET, ``write`` otherwise; jupyter_server's prepare() checks XSRF for writes made
with cookies). Errors are mapped to HTTP statuses in one place, :meth:`BaseHandler.send_error`:
a :class:`ContainerKernelError` answers its ``http_status`` with ``{"message": str(error)}``.
The routes and shapes are documented in ``openapi.yaml`` next to this file.
"""

from __future__ import annotations

import json
from http.client import responses
from typing import TYPE_CHECKING, Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from ..batch.parameter_input import parse_fields, read_parameters
from ..batch.prepare import read_notebook
from ..batch.service import SubmitRequest
from ..errors import ContainerKernelError, SpecError
from ..nodes.jobfiles import sbatch_lines
from ..nodes.settings import NodeSettings
from ..registry.kernelspecs import UNCHANGED as kernelspecs_unchanged
from ..registry.probe import report as probe_report
from .pulls import PullRequest

if TYPE_CHECKING:
    from .app import ContainerKernelsApp

#: The resource name sites grant in their Authorizer (``read`` / ``write``).
AUTH_RESOURCE = "container-kernels"


class BaseHandler(ExtensionHandlerMixin, APIHandler):
    """JSON in, JSON out, and the one mapping from errors to HTTP statuses."""

    auth_resource = AUTH_RESOURCE

    @property
    def app(self) -> ContainerKernelsApp:
        return self.extensionapp  # type: ignore[return-value]

    def json_body(self, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> dict[str, Any]:
        """The request body as a JSON object with only ``allowed`` keys and all ``required`` ones.

        Malformed JSON, another JSON type or an unknown key is a :class:`SpecError` (400).
        """
        try:
            data = json.loads(self.request.body or b"")
        except (ValueError, UnicodeDecodeError) as exc:
            raise SpecError("body", f"is not valid JSON ({exc}); send a JSON object.") from None
        if not isinstance(data, dict):
            raise SpecError("body", f"expected a JSON object, got {type(data).__name__}.")
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise SpecError(unknown[0], f"unknown field; the fields are: {', '.join(allowed)}.")
        for key in required:
            if key not in data:
                raise SpecError(key, "is required.")
        return data

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    # -- the one place errors become responses ----------------------------------------------

    def send_error(self, status_code: int = 500, **kwargs: Any) -> None:
        """Answer a :class:`ContainerKernelError` with its own ``http_status``."""
        exc_info = kwargs.get("exc_info")
        if exc_info and isinstance(exc_info[1], ContainerKernelError):
            status_code = exc_info[1].http_status
        super().send_error(status_code, **kwargs)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """``{"message": …, "reason": …}``; the message is the error's own text."""
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        if isinstance(exc, ContainerKernelError):
            message = str(exc)
        elif isinstance(exc, web.HTTPError):
            message = _http_error_message(exc) or responses.get(status_code, "Error")
        elif exc is not None:
            message = (
                f"Internal error in jupyter_container_kernels ({type(exc).__name__}: {exc}); "
                "please report it with the steps that led here."
            )
        else:
            message = responses.get(status_code, "Error")
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": message, "reason": responses.get(status_code)}))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        """Expected errors (bad input, policy, Slurm down) are one warning line, not a traceback."""
        if isinstance(value, ContainerKernelError) and value.http_status != 500:
            self.log.warning("%d %s: %s", value.http_status, self._request_summary(), value)
        else:
            super().log_exception(typ, value, tb)


def _http_error_message(exc: web.HTTPError) -> str | None:
    get_message = getattr(exc, "get_message", None)  # tornado >= 6.5 escapes log_message
    if get_message is not None:
        return get_message()
    return exc.log_message % exc.args if exc.log_message and exc.args else exc.log_message


# -- kernels ---------------------------------------------------------------------------------


class KernelsHandler(BaseHandler):
    """``GET kernels`` lists container kernels; ``POST kernels`` registers an image."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        kernels = self.app.kernels
        self.write_json({"kernels": [kernels.api(k) for k in kernels.list()]})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body(
            ("name", "display_name", "spec", "probe", "slurm"), ("display_name", "spec")
        )
        spec = self.app.site.build_spec(_mapping(body, "spec"), where="spec")
        kernel = await self.app.kernels.install(
            spec,
            name=_string(body, "name"),
            display_name=_string(body, "display_name"),
            probe=_boolean(body, "probe", True),
            slurm=_mapping(body, "slurm") if body.get("slurm") is not None else None,
        )
        self.write_json(self.app.kernels.api(kernel), 201)


class KernelHandler(BaseHandler):
    """``GET``/``PATCH``/``DELETE kernels/{name}``."""

    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.write_json(self.app.kernels.api(self.app.kernels.get(name)))

    @web.authenticated
    @authorized
    async def patch(self, name: str) -> None:
        body = self.json_body(("display_name", "spec", "slurm"))
        changes = _mapping(body, "spec") if "spec" in body else None
        slurm: Any = kernelspecs_unchanged
        if "slurm" in body:  # an object makes it a node kernel, null one that runs locally
            slurm = None if body["slurm"] is None else _mapping(body, "slurm")
        kernel = self.app.kernels.update(name, _string(body, "display_name"), changes, slurm)
        self.write_json(self.app.kernels.api(kernel))

    @web.authenticated
    @authorized
    async def delete(self, name: str) -> None:
        self.app.kernels.remove(name)
        self.set_status(204)
        self.finish()


class ProbeHandler(BaseHandler):
    """``POST images/probe`` — what an image contains (cached)."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body(("spec",), ("spec",))
        spec = self.app.site.build_spec(_mapping(body, "spec"), where="spec")
        self.write_json(probe_report(await self.app.kernels.probe(spec), spec))


class PullsHandler(BaseHandler):
    """``GET images/pulls`` lists this server's pulls (newest first); ``POST`` starts one (202)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json({"pulls": [op.to_dict() for op in self.app.pulls.list()]})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        pulls = self.app.pulls
        body = self.json_body(PullRequest.KEYS, ("source",))
        op = pulls.start(pulls.request(body))
        self.set_header("Location", f"{self.request.path.rstrip('/')}/{op.id}")
        self.write_json(op.to_dict(), 202)


class PullHandler(BaseHandler):
    """``GET images/pulls/{id}``; ``DELETE`` cancels a running pull."""

    @web.authenticated
    @authorized
    async def get(self, pull_id: str) -> None:
        self.write_json(self.app.pulls.get(pull_id).to_dict())

    @web.authenticated
    @authorized
    async def delete(self, pull_id: str) -> None:
        self.write_json(self.app.pulls.cancel(pull_id).to_dict())


def _string(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise SpecError(key, f"expected a non-empty string, got {value!r}.")
    return value


def _boolean(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise SpecError(key, f"expected true or false, got {value!r}.")
    return value


def _mapping(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if not isinstance(value, dict):
        raise SpecError(key, f"expected an object of settings, got {value!r}.")
    return value


# -- environment -----------------------------------------------------------------------------


class EnvironmentHandler(BaseHandler):
    """``GET environment`` — runtimes, GPU, module system, Slurm, site defaults (cached)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(await self.app.environment.get())


# -- batch jobs ------------------------------------------------------------------------------


class _BatchHandler(BaseHandler):
    def submit_request(self) -> SubmitRequest:
        """The body as a validated :class:`SubmitRequest`; the batch service confines its
        paths to the server's root when it prepares the job."""
        body = self.json_body(SubmitRequest.KEYS, required=("notebook",))
        return self.app.batch.request(body)


class PreviewHandler(_BatchHandler):
    """``POST batch/preview`` — the sbatch script a submit would use."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        request = self.submit_request()
        self.write_json({"script": self.app.batch.preview(request)})


class ParametersHandler(BaseHandler):
    """``POST batch/parameters`` — the notebook's ``parameters`` cell as the server reads it
    (the batch dialog's pre-fill)."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body(("notebook",), required=("notebook",))
        # Confined to the server's root like every batch path (the service's RootDirectory).
        path = self.app.batch.paths.resolve_notebook(body["notebook"])
        self.write_json(read_parameters(read_notebook(str(path), body["notebook"])).to_dict())


class ValuesHandler(BaseHandler):
    """``POST batch/values`` — the texts typed into parameter and sweep fields, as the
    ``parameters`` and ``sweep`` of a submit request."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body(("parameters", "sweep"))
        self.write_json(parse_fields(body.get("parameters"), body.get("sweep")))


class JobsHandler(_BatchHandler):
    """``GET jobs`` lists tracked jobs (the watcher's last view); ``POST jobs`` submits."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        batch = self.app.batch
        self.write_json({"jobs": [batch.api(record) for record in batch.list()]})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        request = self.submit_request()
        record = await self.app.batch.submit(request)
        self.write_json(self.app.batch.api(record), 201)


class JobHandler(BaseHandler):
    """``GET jobs/{id}`` (with the log tail); ``DELETE jobs/{id}`` cancels."""

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        batch = self.app.batch
        self.write_json(await batch.detail(job_id))

    @web.authenticated
    @authorized
    async def delete(self, job_id: str) -> None:
        batch = self.app.batch
        self.write_json(batch.api(await batch.cancel(job_id)))


class NodeKernelsHandler(BaseHandler):
    """``GET node-kernels``: this server's kernels on compute nodes (queued, starting, running,
    and those that ended under their kernel), with Slurm's state, reason and time left."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        nodes = self.app.node_kernels
        self.write_json(
            {
                "node_kernels": [job.to_dict() for job in nodes.jobs.values()],
                "scheduler_error": nodes.last_error,
            }
        )


class NodeKernelPreviewHandler(BaseHandler):
    """``POST node-kernels/preview`` ``{slurm}``: the ``#SBATCH`` lines a node kernel with these
    settings (over the site's ``node_defaults``) would be submitted with; 400 naming a bad
    field. The Register image form shows them."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body(("slurm",), ("slurm",))
        settings = NodeSettings.from_dict(
            _mapping(body, "slurm"), defaults=self.app.site.node_defaults
        )
        self.write_json({"sbatch": sbatch_lines(settings), "slurm": settings.to_dict()})


class NodeKernelHandler(BaseHandler):
    """``GET node-kernels/{kernel_id}``; ``DELETE`` cancels its job (a waiting start fails,
    a running kernel is reported dead)."""

    @web.authenticated
    @authorized
    async def get(self, kernel_id: str) -> None:
        self.write_json(self.app.node_kernels.get(kernel_id).to_dict())

    @web.authenticated
    @authorized
    async def delete(self, kernel_id: str) -> None:
        job = await self.app.node_kernels.cancel(kernel_id)
        self.write_json(job.to_dict())


_NAME = r"(?P<name>[^/]+)"
_JOB_ID = r"(?P<job_id>[^/]+)"
_PULL_ID = r"(?P<pull_id>[^/]+)"
#: Any id reaches the handler, so an unknown one is answered with a JSON 404 (the tracker's
#: message), not Tornado's HTML page.
_KERNEL_ID = r"(?P<kernel_id>[^/]+)"

#: Routes relative to ``{base_url}container-kernels/``.
ROUTES: list[tuple[str, type[BaseHandler]]] = [
    ("kernels", KernelsHandler),
    (f"kernels/{_NAME}", KernelHandler),
    ("images/probe", ProbeHandler),
    ("images/pulls", PullsHandler),
    (f"images/pulls/{_PULL_ID}", PullHandler),
    ("environment", EnvironmentHandler),
    ("batch/preview", PreviewHandler),
    ("batch/parameters", ParametersHandler),
    ("batch/values", ValuesHandler),
    ("jobs", JobsHandler),
    (f"jobs/{_JOB_ID}", JobHandler),
    ("node-kernels", NodeKernelsHandler),
    ("node-kernels/preview", NodeKernelPreviewHandler),
    (f"node-kernels/{_KERNEL_ID}", NodeKernelHandler),
]
