"""A complaint's classification (issue 15 point 1): several dimensions, each a tenant's code list.

A complaint carries at most one code per dimension (``complaints.business_type_id``, ``cause_code_id``,
``business_channel_id``, ``area_id``). Every tenant has its lists; the bank template ships the three axes of
JR/T 0169-2018 (business channel, business type, cause) and both templates the seed III areas; tenants extend
them (``upsertClassificationCode``).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, String, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from services.core.db import TenantBase


class ClassificationDimension(enum.StrEnum):
    BUSINESS_TYPE = "BUSINESS_TYPE"
    """the product or business type (JR/T 0169 axis B; retail: the product line)"""
    CAUSE = "CAUSE"
    """the cause (JR/T 0169 axis C; retail: quality / non-quality and the finer causes of seed IV)"""
    BUSINESS_CHANNEL = "BUSINESS_CHANNEL"
    """where the business was done (JR/T 0169 axis A): not how the complaint arrived (``Complaint.channel``)"""
    AREA = "AREA"
    """seed III item 7: product, service, channel, staff behaviour, internal management, financial crime"""


COLUMN_OF: dict[ClassificationDimension, str] = {
    ClassificationDimension.BUSINESS_TYPE: "business_type_id",
    ClassificationDimension.CAUSE: "cause_code_id",
    ClassificationDimension.BUSINESS_CHANNEL: "business_channel_id",
    ClassificationDimension.AREA: "area_id",
}
"""The complaint's column holding its code of each dimension (the same names on ``complaint_facts``)."""


class ClassificationCode(TenantBase):
    __tablename__ = "classification_codes"
    __table_args__ = (
        UniqueConstraint("dimension", "code", name="uq_classification_codes_dimension_code"),
        CheckConstraint("dimension IN ('BUSINESS_TYPE', 'CAUSE', 'BUSINESS_CHANNEL', 'AREA')", name="dimension"),
        CheckConstraint("quality IS NULL OR quality IN ('QUALITY', 'NON_QUALITY')", name="quality"),
    )

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()"))
    dimension: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(String(64))
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("classification_codes.id", ondelete="RESTRICT"), nullable=True)
    quality: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """CAUSE codes: QUALITY or NON_QUALITY (seed IV); a complaint given the code takes it as its ``cause``"""
    standard: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """the standard the class comes from (``JR/T 0169-2018``), or None for the template's or the tenant's own"""
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
