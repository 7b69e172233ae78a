"""The web routes of `asg-parse review` (FastAPI): the page, its JSON API, the static files.

Every state-changing request is a POST with a JSON body that names the report it changes (`report_id`, which must
equal the id in the path); POSTs of another content type or from another origin are refused. Report text only
leaves the server as JSON (the page puts it into the DOM as text) and through Jinja's autoescaping; the page's
Content-Security-Policy allows no inline script. The request log names the method, the path (report ids, no text)
and the status.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field

from ..cli.display import ANATOMY_COLOR, EXISTENCE_COLOR
from .draft import EXISTENCE, Refused
from .store import ReviewStore

HERE = Path(__file__).parent
LOG = logging.getLogger("asg_parse.review")
CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; " \
      "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"


class Body(BaseModel):
    """What every POST carries: the id of the report it changes."""

    model_config = ConfigDict(extra="forbid")
    report_id: str


class ExistenceBody(Body):
    existence: str
    cue: Optional[str] = Field(None, max_length=200)


class RegionBody(Body):
    region: Optional[str]


class AddBody(Body):
    start: int
    end: int
    finding: str
    regions: list[Optional[str]] = Field(default_factory=list, max_length=20)
    existence: str
    cue: Optional[str] = Field(None, max_length=200)


class MarkBody(Body):
    regions: list[str] = Field(max_length=40)


class FormBody(Body):
    phrase: str = Field(max_length=200)
    finding: str


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def create_app(store: ReviewStore, hosts: Optional[list[str]] = None) -> FastAPI:
    """The review application over one store; `hosts`: the only Host names it answers (a page on another site
    that rebinds its name to this machine is refused), None for any."""
    app = FastAPI(title="asg-parse review", docs_url=None, redoc_url=None, openapi_url=None)
    if hosts is not None:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)
    pages = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(default=True))
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.middleware("http")
    async def guard_and_log(request: Request, call_next: Callable[[Request], Any]) -> Response:
        if request.method == "POST":
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            origin = request.headers.get("origin")
            host = request.headers.get("host", "")
            if origin is not None and origin.split("://", 1)[-1] != host:
                response: Response = _error(403, "cross-origin request refused")
            elif kind != "application/json":
                response = _error(415, "a POST must carry a JSON body (Content-Type: application/json)")
            else:
                response = await call_next(request)
        else:
            response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        LOG.info("%s %s %d", request.method, request.url.path, response.status_code)
        return response

    @app.exception_handler(Refused)
    async def refused(_: Request, exc: Refused) -> JSONResponse:
        return _error(exc.status, str(exc))

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, exc: RequestValidationError) -> JSONResponse:
        err = exc.errors()[0] if exc.errors() else {}
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        return _error(422, f"malformed request: field '{loc}': {err.get('msg', 'invalid')}")

    def body_for(rid: str, body: Body) -> None:
        if body.report_id != rid:
            raise Refused(f"the body names report {body.report_id!r} but the path names {rid!r}", 409)
        store.get(rid)

    @app.get("/", response_class=HTMLResponse)
    def page(report: Optional[str] = None) -> HTMLResponse:
        start = report if report is not None else store.first()
        if start is not None:
            store.get(start)
        html = pages.get_template("index.html").render(start=start or "", out=store.out.name,
                                                       additions=store.additions.enabled)
        return HTMLResponse(html)

    @app.get("/api/ontology")
    def ontology() -> dict[str, Any]:
        onto = store.onto
        return {"findings": sorted(onto.findings), "regions": list(onto.region_order), "existence": list(EXISTENCE),
                "allowed": {f: sorted(a) for f in onto.findings if (a := onto.allowed(f)) is not None},
                "additions": store.additions.enabled, "added": store.additions.added,
                "colors": {**EXISTENCE_COLOR, "anatomy": ANATOMY_COLOR}}

    @app.get("/api/queue")
    def queue() -> dict[str, Any]:
        return store.queue_view()

    @app.get("/api/agreement")
    def agreement() -> dict[str, Any]:
        return store.agreement()

    @app.get("/api/reports/{rid:path}")
    def report(rid: str) -> dict[str, Any]:
        return store.view(rid)

    @app.post("/api/reports/{rid:path}/triplets/{tid}/existence")
    def existence(rid: str, tid: int, body: ExistenceBody) -> dict[str, Any]:
        body_for(rid, body)
        return store.edit(rid, lambda d, c: d.set_existence(c, tid, body.existence, body.cue))

    @app.post("/api/reports/{rid:path}/triplets/{tid}/region")
    def region(rid: str, tid: int, body: RegionBody) -> dict[str, Any]:
        body_for(rid, body)
        return store.edit(rid, lambda d, c: d.set_region(c, tid, body.region))

    @app.post("/api/reports/{rid:path}/triplets/{tid}/delete")
    def delete(rid: str, tid: int, body: Body) -> dict[str, Any]:
        body_for(rid, body)
        return store.edit(rid, lambda d, c: d.delete(tid))

    @app.post("/api/reports/{rid:path}/triplets")
    def add(rid: str, body: AddBody) -> dict[str, Any]:
        body_for(rid, body)
        return store.edit(rid, lambda d, c: d.add(c, body.start, body.end, body.finding, body.regions,
                                                  body.existence, body.cue))

    @app.post("/api/reports/{rid:path}/sentences/{sid}/regions")
    def mark(rid: str, sid: int, body: MarkBody) -> dict[str, Any]:
        body_for(rid, body)
        return store.edit(rid, lambda d, c: d.mark(c, sid, body.regions))

    @app.post("/api/reports/{rid:path}/reset")
    def reset(rid: str, body: Body) -> dict[str, Any]:
        body_for(rid, body)
        return store.reset(rid)

    @app.post("/api/reports/{rid:path}/accept")
    def accept(rid: str, body: Body) -> dict[str, Any]:
        body_for(rid, body)
        return store.accept(rid)

    @app.post("/api/reports/{rid:path}/skip")
    def skip(rid: str, body: Body) -> dict[str, Any]:
        body_for(rid, body)
        return store.skip(rid)

    @app.post("/api/reports/{rid:path}/forms/{action}")
    def form(rid: str, action: str, body: FormBody) -> dict[str, Any]:
        """`preview`: the re-parse with the phrase as a form of the finding; `save`: write it to --ontology-out."""
        act = {"preview": store.preview_form, "save": store.add_form}.get(action)
        if act is None:
            raise Refused(f"no form action {action!r} (preview or save)", 404)
        body_for(rid, body)
        return act(rid, body.phrase, body.finding)

    return app
