"""The public page: published products and their verdicts; the stylesheet."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, Response

from tcup_server.services import publishing
from tcup_server.web.common import HERE, Caller, WebRoute, caller, not_found, render

router = APIRouter(route_class=WebRoute)
STATIC = HERE / "static"


@router.get("/", name="web_public")
def public_page(who: Caller = Depends(caller)) -> Response:
    entries = publishing.published(who.db)
    return render(who, "public.html", title="Published products", nav="public", entries=entries)


@router.get("/static/{name}", name="web_static")
def static_file(name: str) -> Response:
    path = (STATIC / name).resolve()
    if path.parent != STATIC or not path.is_file():
        raise not_found("file")
    return FileResponse(path, headers={"Cache-Control": "public, max-age=3600"})
