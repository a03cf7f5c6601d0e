"""Staff and vendor web pages (HTML). Mounted by ``tcup_server.app.create_app``.

Server-rendered Jinja2 pages, no script: the public list of published
products (``/``), login, the submissions list and pages (``/results``),
review and publishing, vendors and products, signing keys.  See docs/web.md.
"""

from fastapi import APIRouter

from tcup_server.web import keys, login, public, submissions, vendors
from tcup_server.web.common import WebRoute

router = APIRouter(route_class=WebRoute)
for _module in (public, login, submissions, vendors, keys):
    router.include_router(_module.router, include_in_schema=False)
