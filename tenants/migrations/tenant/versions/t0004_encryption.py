"""sensitive fields encrypted at rest: tenant keys, subject keys, blind indexes, retention

Creates the tenant's keys (platform table ``tenant_keys``) when it has none, then turns every
sensitive text column into a bytea ciphertext, encrypting what is already there: complainant
identity (one JSON value) under a per-complainant subject key, the rest under the tenant's data key. The exact-lookup
columns become HMAC blind indexes. Needs the master key (``COMPLAINTDESK_MASTER_KEY``).

Revision ID: t0004
Revises: t0003
Create Date: 2026-11-29
"""

import json
from typing import Any

import sqlalchemy as sa
from alembic import context, op
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.core import validation as v
from services.core.crypto.fields import SUBJECT_KEY_COLUMN, aad, blind_index, seal, seal_with
from services.core.crypto.keys import create_tenant_keys_sync, load_keyring_sync

revision = "t0004"
down_revision = "t0003"
branch_labels = None
depends_on = None

# table -> (primary key, columns sealed with the tenant key, NOT NULL ones, binary ones); frozen here
TENANT_KEYED: dict[str, tuple[str, list[str], set[str], set[str]]] = {
    "complaints": ("id", ["description", "resolution"], {"description"}, set()),
    "investigations": ("complaint_id", ["findings"], set(), set()),
    "evidence": ("id", ["filename", "content", "note"], {"filename", "content"}, {"content"}),
    "transfer_slips": ("id", ["instructions"], set(), set()),
    "handling_forms": ("id", ["cause_analysis", "solution", "customer_reply", "decision_note"],
                       {"solution", "customer_reply"}, set()),
    "customer_opinions": ("id", ["comment"], set(), set()),
    "satisfaction_surveys": ("id", ["comment"], set(), set()),
    "customer_messages": ("id", ["body"], {"body"}, set()),
    "audit_events": ("seq", ["note"], set(), set()),
}
SUBJECT_FIELDS = ["name", "phone", "email", "id_number", "address"]


def _swap(table: str, columns: list[str]) -> None:
    for col in columns:
        op.alter_column(table, col, new_column_name=f"{col}__plain")
        op.add_column(table, sa.Column(col, sa.LargeBinary(), nullable=True))


def _finish(table: str, columns: list[str], not_null: set[str]) -> None:
    for col in columns:
        op.drop_column(table, f"{col}__plain")
        if col in not_null:
            op.alter_column(table, col, nullable=False)


def upgrade() -> None:
    conn = op.get_bind()
    schema: str = context.config.attributes["schema"]
    slug = schema.removeprefix("tenant_").replace("_", "-")
    create_tenant_keys_sync(conn, slug)
    ring = load_keyring_sync(conn, slug)

    for table, (pk, columns, not_null, binary) in TENANT_KEYED.items():
        _swap(table, columns)
        plain = ", ".join(f'"{c}__plain"' for c in columns)
        for row in conn.execute(sa.text(f'SELECT "{pk}", {plain} FROM "{table}"')).all():  # noqa: S608 - names from the constants above
            values: dict[str, Any] = {"pk": row[0]}
            for col, value in zip(columns, row[1:], strict=True):
                if value is None:
                    values[col] = None
                else:
                    data = bytes(value) if col in binary else str(value).encode()
                    values[col] = seal(ring, data, aad(slug, table, col, row[0]))
            sets = ", ".join(f'"{c}" = :{c}' for c in columns)
            conn.execute(sa.text(f'UPDATE "{table}" SET {sets} WHERE "{pk}" = :pk'), values)  # noqa: S608
        _finish(table, columns, not_null)

    op.add_column("complainants", sa.Column(SUBJECT_KEY_COLUMN, sa.LargeBinary(), nullable=True))
    op.add_column("complainants", sa.Column("identity", sa.LargeBinary(), nullable=True))
    op.add_column("complainants", sa.Column("email_key", sa.Text(), nullable=True))
    op.add_column("complainants", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_complainants_email_key", "complainants", ["email_key"])
    plain = ", ".join(f'"{c}"' for c in SUBJECT_FIELDS)
    for row in conn.execute(sa.text(f"SELECT id, {plain} FROM complainants")).all():  # noqa: S608
        raw = AESGCM.generate_key(bit_length=256)
        fields = dict(zip(SUBJECT_FIELDS, row[1:], strict=True))
        identity = json.dumps(fields, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
        conn.execute(sa.text(
            "UPDATE complainants SET subject_key = :key, identity = :identity, phone_key = :phone, "
            "id_number_key = :id_number, email_key = :email WHERE id = :pk"
        ), {
            "pk": row[0],
            "key": seal(ring, raw, aad(slug, "complainants", SUBJECT_KEY_COLUMN, row[0])),
            "identity": seal_with(AESGCM(raw), identity, aad(slug, "complainants", "identity", row[0])),
            "phone": blind_index(ring, "phone", v.phone_key(fields["phone"])),
            "id_number": blind_index(ring, "id_number", v.id_number_key(fields["id_number"])),
            "email": blind_index(ring, "email", v.email_key(fields["email"])),
        })
    for column in SUBJECT_FIELDS:
        op.drop_column("complainants", column)
    op.alter_column("complainants", "identity", nullable=False)

    op.add_column("tenant_settings", sa.Column("retention_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("encrypted columns are not turned back into plaintext")
