"""The API server's composition root: the app (``services.api.app.create_app``) with the worker's queue
registered as the core queue port's sender (``services.worker.queue``), so the API asks for background work
without importing the worker. ``complaintdesk serve`` runs this factory."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from services.api.app import create_app as create_api
from services.worker.queue import install


def create_app(*args: Any, **kwargs: Any) -> Starlette:
    install()
    return create_api(*args, **kwargs)
