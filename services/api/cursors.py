"""Opaque cursors for lists ordered by (time, id): base64 of ``<prefix>:<iso time>|<uuid>``."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

from services.api.errors import RequestError


def time_id_cursor(prefix: str, at: datetime, row_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{prefix}:{at.isoformat()}|{row_id}".encode()).decode()


def parse_time_id_cursor(prefix: str, cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (time, id) a cursor of this list holds; a top-level BAD_USER_INPUT for anything else."""
    try:
        kind, _, rest = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        at, _, row_id = rest.partition("|")
        if kind != prefix:
            raise ValueError(kind)
        return datetime.fromisoformat(at), uuid.UUID(row_id)
    except (ValueError, UnicodeDecodeError):
        raise RequestError("after is not a cursor of this list", "BAD_USER_INPUT") from None
