"""The dashboard's ASGI application: its routes, pages and actions.

:func:`create_app` (exported as ``wfe.ui.create_app``) builds a Starlette app over a host whose
stores are open; ``wfe ui`` (:mod:`wfe._cli_ui`) serves it with uvicorn, and an application can
mount it in its own ASGI app. Pages are rendered on the server from the Jinja2 templates in
``templates/`` with autoescaping on; the actions and the live counts are small ``fetch`` calls
from ``static/app.js`` to the ``/api/`` routes. What a page shows is read by :mod:`wfe.ui._views`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from wfe._cli_output import clock
from wfe_core import WorkflowDefinition, WorkflowHost, WorkflowStatus
from wfe_core.errors import ProviderError, WfeError, WorkflowNotFoundError

from . import _views as views
from ._graph import definition_graph
from ._guard import Guard

_ACTIONS = {"suspend": "runnable", "resume": "suspended", "terminate": "runnable or suspended"}


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("wfe.ui", "templates"),
        autoescape=True,  # every value from a workflow is text, whatever it holds
        undefined=jinja2.StrictUndefined,
    )
    env.filters["clock"] = clock
    env.filters["urlencode_query"] = lambda q: urlencode(q)
    return env


class Dashboard:
    """The pages and actions over one host (see :func:`create_app`)."""

    def __init__(
        self, host: WorkflowHost, *, read_only: bool, csrf: str,
        definitions: Sequence[WorkflowDefinition],
    ) -> None:
        self.host = host
        self.read_only = read_only
        self.csrf = csrf
        self.definitions = list(definitions)
        self.env = _environment()

    def render(self, request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        page = self.env.get_template(name).render(
            request=request, read_only=self.read_only, csrf=self.csrf,
            root=request.scope.get("root_path", ""), statuses=[s.value for s in WorkflowStatus],
            **context,
        )
        return HTMLResponse(page, status_code=status_code)

    def problem(self, request: Request, status_code: int, message: str) -> Response:
        if request.url.path.startswith(f"{request.scope.get('root_path', '')}/api/"):
            return JSONResponse({"error": message}, status_code=status_code)
        return self.render(request, "error.html", status_code, message=message, code=status_code)

    # -- pages ---------------------------------------------------------------------------------

    async def workflows(self, request: Request) -> Response:
        filters = views.parse_filters(request.query_params)
        page = await self.host.search(
            filters.terms, **filters.search_args(), skip=filters.skip, take=views.PAGE_SIZE
        )
        counts = await views.status_counts(self.host, filters)
        return self.render(
            request, "workflows.html", filters=filters, page=page, counts=counts,
            page_size=views.PAGE_SIZE, definition_ids=sorted({d.id for d in self.definitions}),
        )

    async def workflow(self, request: Request) -> Response:
        page = await views.workflow_page(self.host, request.path_params["workflow_id"])
        return self.render(request, "workflow.html", page=page, w=page.instance)

    async def definitions_page(self, request: Request) -> Response:
        groups = []
        for definition_id, versions in views.definitions_by_id(self.definitions).items():
            counts = await views.definition_counts(self.host, definition_id)
            graphs = [(d, definition_graph(d)) for d in versions]
            groups.append((definition_id, graphs, counts))
        return self.render(request, "definitions.html", groups=groups)

    async def hosts(self, request: Request) -> Response:
        # Host heartbeats come from the stores that record them; a host without them says so.
        list_hosts = getattr(self.host, "list_hosts", None)
        now = datetime.now(UTC)
        rows = None
        if list_hosts is not None:
            records = await list_hosts()
            rows = [(r, r.state(now)) for r in sorted(records, key=lambda r: r.last_seen, reverse=True)]
        return self.render(request, "hosts.html", rows=rows, now=now)

    # -- api -------------------------------------------------------------------------------------

    async def counts(self, request: Request) -> Response:
        filters = views.parse_filters(request.query_params)
        return JSONResponse({"counts": await views.status_counts(self.host, filters)})

    async def control(self, request: Request) -> Response:
        action = request.path_params["action"]
        if action not in _ACTIONS:
            return JSONResponse(
                {"error": f"no action {action!r}; give suspend, resume or terminate"}, status_code=404
            )
        workflow_id = request.path_params["workflow_id"]
        changed = await getattr(self.host, f"{action}_workflow")(workflow_id)
        status = (await self.host.persistence.get_status(workflow_id)).value
        message = (f"{action}: done, the workflow is {status}" if changed else
                   f"nothing to change: it is {status}, and {action} applies to a "
                   f"{_ACTIONS[action]} workflow")
        return JSONResponse({"id": workflow_id, "action": action, "changed": changed,
                             "status": status, "message": message})

    async def publish(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "the body is not JSON; send {\"name\": ..., \"key\": ..., "
                                 "\"data\": ...}"}, status_code=400)
        name, key = (body.get("name"), body.get("key")) if isinstance(body, dict) else (None, None)
        if not isinstance(name, str) or not name or not isinstance(key, str):
            return JSONResponse({"error": "give the event's name and key as text"}, status_code=400)
        data_text = body.get("data")
        data = None
        if isinstance(data_text, str) and data_text.strip():
            try:
                data = json.loads(data_text)
            except ValueError as exc:
                return JSONResponse({"error": f"the event data is not JSON ({exc}); "
                                     "write it as JSON, e.g. {\"amount\": 3} or \"text\""},
                                    status_code=400)
        event_id = await self.host.publish_event(name, key, data)
        return JSONResponse({"event_id": event_id, "name": name, "key": key,
                             "message": f"published {name!r} key {key!r}: event {event_id}"})


def create_app(
    host: WorkflowHost,
    *,
    read_only: bool = False,
    token: str | None = None,
    definitions: Sequence[WorkflowDefinition] | None = None,
) -> Any:
    """The dashboard as an ASGI application over ``host``.

    The host's stores must be open while the app serves: a host inside ``async with`` (running
    workflows) or inside ``host.open_stores()`` (running nothing). Mount it in an application
    of your own (``Mount("/wfe", app=create_app(host))`` in Starlette, ``app.mount`` in
    FastAPI) or serve it with any ASGI server.

    Args:
        host: the host whose stores the pages read and the actions change.
        read_only: hide the actions and refuse every request that would change something.
        token: when given, every request must carry it (``?token=`` once, which sets a cookie,
            or ``Authorization: Bearer``). Give one whenever the app is reachable beyond this
            machine and not read-only.
        definitions: the definitions the Definitions page draws (default: none; the page says
            how to give them). They are registered on the host so their data decodes as its
            type.

    Returns:
        An ASGI application.
    """
    csrf = secrets.token_urlsafe(24)
    given = list(definitions or ())
    for definition in given:
        host.register(definition)
    dashboard = Dashboard(host, read_only=read_only, csrf=csrf, definitions=given)

    async def not_found(request: Request, exc: Exception) -> Response:
        if isinstance(exc, WorkflowNotFoundError):
            return dashboard.problem(request, 404, f"{exc}; find it in the list of workflows")
        return dashboard.problem(request, 404, "no such page")

    async def bad_input(request: Request, exc: Exception) -> Response:
        return dashboard.problem(request, 400, str(exc))

    async def store_failed(request: Request, exc: Exception) -> Response:
        message = str(exc)
        if isinstance(exc, ProviderError):
            return dashboard.problem(request, 503, f"{message}; the store did not answer, try again "
                                     "once it is back")
        return dashboard.problem(request, 400, message)

    routes = [
        Route("/", dashboard.workflows),
        Route("/workflows/{workflow_id:str}", dashboard.workflow),
        Route("/definitions", dashboard.definitions_page),
        Route("/hosts", dashboard.hosts),
        Route("/api/counts", dashboard.counts),
        Route("/api/workflows/{workflow_id:str}/{action:str}", dashboard.control, methods=["POST"]),
        Route("/api/events", dashboard.publish, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(resources.files("wfe.ui") / "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            404: not_found,
            WorkflowNotFoundError: not_found,
            views.BadFilter: bad_input,
            WfeError: store_failed,
        },
    )
    app.state.dashboard = dashboard
    return Guard(app, token=token, csrf=csrf, read_only=read_only)


__all__ = ["create_app"]
