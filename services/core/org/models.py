from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, ForeignKey, String, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.core.db import TenantBase


class OrgUnitKind(enum.StrEnum):
    DEPARTMENT = "DEPARTMENT"
    BRANCH = "BRANCH"
    STORE = "STORE"
    PRODUCTION_TEAM = "PRODUCTION_TEAM"


class OrgUnit(TenantBase):
    __tablename__ = "org_units"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("org_units.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class User(TenantBase):
    __tablename__ = "users"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    org_unit_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("org_units.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    password_hash: Mapped[str | None] = mapped_column(Text, nullable=True)
    # NotificationPreference: IN_APP, EMAIL or DIGEST (services/core/notifications/handoffs.py)
    notification_preference: Mapped[str] = mapped_column(String(16), server_default=text("'IN_APP'"))
    # the language they read (zh-CN or en; None: their request's Accept-Language, else the tenant's default)
    locale: Mapped[str | None] = mapped_column(String(16), nullable=True)


class CategoryCause(enum.StrEnum):
    """Seed IV: quality problems, and non-quality ones (a human factor)."""

    QUALITY = "QUALITY"
    NON_QUALITY = "NON_QUALITY"


class CategoryDimension(enum.StrEnum):
    """Seed III item 7: the dimensions a bank's complaint statistics are broken down by."""

    PRODUCT = "PRODUCT"
    SERVICE = "SERVICE"
    CHANNEL = "CHANNEL"
    STAFF_BEHAVIOUR = "STAFF_BEHAVIOUR"
    INTERNAL_MANAGEMENT = "INTERNAL_MANAGEMENT"
    FINANCIAL_CRIME = "FINANCIAL_CRIME"


class Category(TenantBase):
    __tablename__ = "categories"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("categories.id", ondelete="RESTRICT"), nullable=True
    )
    cause: Mapped[str | None] = mapped_column(String(16), nullable=True)
    dimension: Mapped[str | None] = mapped_column(String(32), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TenantSettings(TenantBase):
    """One row: the tenant's time zone and locale (numbering months and working days follow the zone)."""

    __tablename__ = "tenant_settings"

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    timezone: Mapped[str] = mapped_column(String(64), server_default=text("'Asia/Shanghai'"))
    locale: Mapped[str] = mapped_column(String(16), server_default=text("'zh-CN'"))
    # erase a complainant this many days after their last complaint ended (None: keep until erased by hand)
    retention_days: Mapped[int | None] = mapped_column(nullable=True)
    # a customer unsatisfied at the final follow-up is escalated to the first external body at once
    # (default: on for the bank template, off for retail; see README "Outbox, notifications and escalation")
    auto_escalate_on_final_dissatisfaction: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # what follows a final answer the customer may take outside (a review upheld, a review breached, or, where
    # there is no review, a final dissatisfaction): GUIDE tells the customer where to re-complain, FORWARD
    # sends the dossier to the next external body (seed III item 12; bank: both, retail: GUIDE)
    after_final_answer: Mapped[list[str]] = mapped_column(JSONB, server_default=text("'[\"GUIDE\"]'::jsonb"))
    # how often the worker makes the periodic management report (seed III item 8): NONE, MONTHLY or QUARTERLY
    management_report_cadence: Mapped[str] = mapped_column(String(16), server_default=text("'QUARTERLY'"))
    # the public procedure page's content, each text in zh-CN and en (None: the template's defaults;
    # services/core/complaints/procedure.py)
    procedure: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)


class Role(TenantBase):
    """The tenant's roles (seeded by its template); users hold some of them."""

    __tablename__ = "roles"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    description: Mapped[str] = mapped_column(String(500))
