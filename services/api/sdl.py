"""The SDL that `complaintdesk export-schema` writes to frontend-schema/schema.graphql."""

from __future__ import annotations

from services.api.schema import build_schema


def export_sdl() -> str:
    return build_schema(development=True).as_str().rstrip("\n") + "\n"
