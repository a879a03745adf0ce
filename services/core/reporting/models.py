"""Reports, data transfers (exports and imports) and their files: rows are the source of truth, the worker
only carries them forward (tenant migration t0017)."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.core.crypto.fields import encrypted
from services.core.db import TenantBase


class ReportKind(enum.StrEnum):
    SEMI_ANNUAL_SUMMARY = "SEMI_ANNUAL_SUMMARY"
    """seed IV 三.4: in the first 10 days of June and December, the half-year before (results, attribution,
    improvements); scheduled by the worker"""
    MANAGEMENT = "MANAGEMENT"
    """seed III item 8: the periodic report to senior management (the tenant's cadence)"""
    ANNUAL_MECHANISM = "ANNUAL_MECHANISM"
    """seed III item 10: how the complaint-handling mechanism ran in a year"""
    REGULATOR_RETURN = "REGULATOR_RETURN"
    """the regulator's return: counts by the JR/T 0169-2018 codes (channel x business type x cause)"""


class JobState(enum.StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class TransferKind(enum.StrEnum):
    EXPORT_COMPLAINTS = "EXPORT_COMPLAINTS"
    EXPORT_ORG_UNITS = "EXPORT_ORG_UNITS"
    EXPORT_USERS = "EXPORT_USERS"
    IMPORT_ORG_UNITS = "IMPORT_ORG_UNITS"
    IMPORT_USERS = "IMPORT_USERS"

    @property
    def is_import(self) -> bool:
        return self.name.startswith("IMPORT_")


class FileFormat(enum.StrEnum):
    CSV = "CSV"
    XLSX = "XLSX"
    PDF = "PDF"


class Cadence(enum.StrEnum):
    NONE = "NONE"
    MONTHLY = "MONTHLY"
    QUARTERLY = "QUARTERLY"


class Report(TenantBase):
    __tablename__ = "reports"
    __table_args__ = (
        Index("uq_reports_scheduled", "kind", "period_from", "period_to", unique=True,
              postgresql_where=text("scheduled")),
        Index("ix_reports_created_at", "created_at"),
        Index("ix_reports_open", "created_at", postgresql_where=text("state IN ('PENDING', 'RUNNING')")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(32))
    period_from: Mapped[date] = mapped_column(Date)
    period_to: Mapped[date] = mapped_column(Date)  # exclusive
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    scheduled: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    state: Mapped[str] = mapped_column(String(16), server_default=text("'PENDING'"))
    progress: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    figures: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    content_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True),
                                                         ForeignKey("users.id", ondelete="RESTRICT"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class DataTransfer(TenantBase):
    __tablename__ = "data_transfers"
    __table_args__ = (
        Index("ix_data_transfers_open", "created_at", postgresql_where=text("state IN ('PENDING', 'RUNNING')")),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(32))
    format: Mapped[str] = mapped_column(String(8))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    state: Mapped[str] = mapped_column(String(16), server_default=text("'PENDING'"))
    progress: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rows_total: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    rows_done: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    row_errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ReportFile(TenantBase):
    """A file of a report or a transfer; its bytes sealed with the tenant's data key (an export carries personal
    data), ``sha256`` of the plain bytes."""

    __tablename__ = "report_files"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    report_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("reports.id", ondelete="RESTRICT"), nullable=True, index=True)
    transfer_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("data_transfers.id", ondelete="CASCADE"), nullable=True, index=True)
    purpose: Mapped[str] = mapped_column(String(8))
    format: Mapped[str] = mapped_column(String(8))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    _content: Mapped[bytes | None] = mapped_column("content", LargeBinary, nullable=False)
    content = encrypted("_content", codec="bytes")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
