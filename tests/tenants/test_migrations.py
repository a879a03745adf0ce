"""The tenant Alembic tree builds exactly what the models declare (no drift between the two)."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from helpers import raw
from sqlalchemy import Column, Integer, MetaData, text

import services.core.accountability.models
import services.core.audit.models
import services.core.auth.models
import services.core.classification.models
import services.core.complaints.models
import services.core.deadlines.models
import services.core.diagnostics.models
import services.core.escalation.models
import services.core.idempotency.models
import services.core.messages.models
import services.core.org.models
import services.core.outbox.models
import services.core.reporting.models
import services.core.statistics.models  # noqa: F401  (declares the tables)
from services.core.db import TenantBase


def _unqualified(extra: Column[Any] | None = None) -> MetaData:
    md = MetaData()
    for table in TenantBase.metadata.tables.values():
        table.to_metadata(md, schema=None)
    if extra is not None:
        md.tables["complaints"].append_column(extra)
    return md


async def _diff(md: MetaData) -> list[Any]:
    async with raw() as conn:
        await conn.execute(text('SET LOCAL search_path TO "tenant_alpha"'))

        def compare(sync: Any) -> list[Any]:
            ctx = MigrationContext.configure(sync, opts={"compare_type": True})
            return list(compare_metadata(ctx, md))

        diffs: list[Any] = await conn.run_sync(compare)
        await conn.rollback()
    return diffs


@pytest.mark.usefixtures("tenants")
async def test_migrated_schema_matches_the_models() -> None:
    diffs = await _diff(_unqualified())
    assert diffs == [], "\n".join(map(str, diffs))


@pytest.mark.usefixtures("tenants")
async def test_the_comparison_sees_a_difference() -> None:
    diffs = await _diff(_unqualified(Column("not_migrated", Integer)))
    assert [(d[0], d[2]) for d in diffs] == [("add_column", "complaints")]
