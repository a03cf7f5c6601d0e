"""Staff and vendor web pages (HTML). Mounted by ``tcup_server.app.create_app``."""

from fastapi import APIRouter

router = APIRouter()
