"""Global IDs in inputs: decoded to the core's UUIDs, with the expected type checked."""

from __future__ import annotations

import uuid

from strawberry import relay

from services.core.errors import DomainError, ErrorCode
from services.core.i18n import msg


def decode_id(global_id: relay.GlobalID, type_name: str, field: str) -> uuid.UUID:
    """A wrong type, a malformed ID or another tenant's ID are all just "not found"."""
    if global_id.type_name == type_name:
        try:
            return uuid.UUID(global_id.node_id)
        except ValueError:
            pass
    raise DomainError(ErrorCode.NOT_FOUND, msg("{name} not found", name=type_name[0].lower() + type_name[1:]), [field])


def decode_optional(global_id: relay.GlobalID | None, type_name: str, field: str) -> uuid.UUID | None:
    return decode_id(global_id, type_name, field) if global_id is not None else None
