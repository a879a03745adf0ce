"""external appraisal: complaints.appraisal_started_at, the appraisals table, EXTERNAL_APPRAISAL in the templates

A case can wait on a third party's appraisal or assessment (鉴定/评估), a time the 2020 rules for banking and
insurance consumer complaints do not count in the handling period. ``complaints.appraisal_started_at`` is set
while it lasts; ``appraisals`` keeps each one (reason, appraiser and outcome sealed, like other free text).

Existing tenants get the templates' new pause condition: the default SLA profile of a bank or retail tenant,
where it still holds the template's rules exactly as t0005 seeded them (``OLD_RULES``, frozen here: a profile
the tenant changed is left alone), gains ``EXTERNAL_APPRAISAL`` in the ``pauseIn`` of ``PAUSED_BY_APPRAISAL``'s
rules; so do the open deadlines of those kinds that the default profile planned (their ``pause_in`` still the
old rule's, and no category profile over their complaint's category). No case is on appraisal yet, so no
deadline pauses or moves here.

Downgrade drops the table and the column and takes the condition out of profiles (the template's, as above)
and deadlines again. A deadline paused only by an appraisal then stays paused until its case's next step,
which resumes it (nothing pauses it any more) counting the whole pause.

Revision ID: t0008
Revises: t0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import copy
import json
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = "t0008"
down_revision = "t0007"
branch_labels = None
depends_on = None

CONDITION = "EXTERNAL_APPRAISAL"


def _rule(kind: str, basis: str, days: int, starts_on: str, met_on: list[str], *, pause_in: tuple[str, ...] = (),
          days_foreign: int | None = None, stage: str | None = None, party: str = "COMPANY", remind_before: int = 1,
          only: tuple[str, ...] = (), extensions: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    """A rule as ``Rule.as_json`` wrote it at t0005 (same keys: JSONB equality compares them all)."""
    return {"kind": kind, "basis": basis, "days": days, "daysForeign": days_foreign, "startsOn": starts_on,
            "metOn": met_on, "pauseIn": list(pause_in), "stage": stage, "party": party,
            "remindBefore": remind_before, "onlyDepartmentKinds": list(only), "extensions": list(extensions)}


def _ext(add_days: int, *, complex_: bool = False, approval: bool = False) -> dict[str, Any]:
    return {"addDays": add_days, "requiresComplex": complex_, "requiresApproval": approval}


OLD_RULES: dict[str, list[dict[str, Any]]] = {
    "retail": [
        _rule("CUSTOMER_REPLY", "WORKING", 5, "RECORDED", ["CUSTOMER_TOLD", "UNFOUNDED"]),
        _rule("DEPARTMENT_ANSWER", "WORKING", 3, "DEPARTMENT_ASKED", ["SOLUTION_PROPOSED"]),
        _rule("FOLLOW_UP", "WORKING", 5, "IMPLEMENTED", ["FOLLOWED_UP"]),
        _rule("RESOLUTION", "CALENDAR", 15, "RECORDED", ["FOLLOWED_UP", "UNFOUNDED"], days_foreign=18,
              pause_in=("AWAITING_CUSTOMER",), remind_before=2),
        _rule("RESOLUTION", "CALENDAR", 15, "REOPENED", ["FOLLOWED_UP", "UNFOUNDED"],
              pause_in=("AWAITING_CUSTOMER",), remind_before=2),
        _rule("STAGE", "CALENDAR", 5, "RECORDED", ["INVESTIGATION_STARTED"], stage="branch"),
        _rule("STAGE", "CALENDAR", 7, "INVESTIGATION_STARTED", ["APPROVED", "UNFOUNDED"], stage="marketing"),
        _rule("STAGE", "CALENDAR", 2, "DEPARTMENT_ASKED", ["SOLUTION_PROPOSED"], stage="processing_unit",
              only=("PRODUCTION_TEAM",)),
    ],
    "bank": [
        _rule("DECISION", "CALENDAR", 15, "RECORDED", ["CUSTOMER_TOLD", "UNFOUNDED"], remind_before=3,
              extensions=(_ext(15, complex_=True), _ext(30, approval=True))),
        _rule("REVIEW_REQUEST", "CALENDAR", 30, "CUSTOMER_TOLD", ["REOPENED"], party="CUSTOMER", remind_before=0),
        _rule("REVIEW", "CALENDAR", 30, "REOPENED", ["CUSTOMER_TOLD", "UNFOUNDED"], remind_before=3),
        _rule("DEPARTMENT_ANSWER", "WORKING", 3, "DEPARTMENT_ASKED", ["SOLUTION_PROPOSED"]),
    ],
}
"""The templates' default rules before this revision (``services.core.deadlines.rules`` at t0007)."""

PAUSED_BY_APPRAISAL: dict[str, set[tuple[str, str | None]]] = {
    "retail": {("RESOLUTION", None), ("STAGE", "marketing")},
    "bank": {("DECISION", None), ("REVIEW", None)},
}
"""(kind, stage) of the rules that gain the condition (the templates' docstrings in ``rules`` say why)."""


def new_rules(template: str) -> list[dict[str, Any]]:
    rules = copy.deepcopy(OLD_RULES[template])
    for r in rules:
        if (r["kind"], r["stage"]) in PAUSED_BY_APPRAISAL[template]:
            r["pauseIn"].append(CONDITION)
    return rules


_SWAP_PROFILE = sa.text(
    "UPDATE sla_profiles SET rules = CAST(:new AS jsonb), updated_at = now() "
    "WHERE category_id IS NULL AND rules = CAST(:old AS jsonb)")

# open deadlines of one (kind, stage) whose pause_in is still the old rule's, on complaints that no category
# profile covers (a category's profile, or an ancestor's, planned those: the tenant's own rules)
_ADD_CONDITION = sa.text(
    "WITH RECURSIVE chain (complaint_id, category_id) AS ("
    "  SELECT c.id, c.category_id FROM complaints c"
    "  WHERE c.category_id IS NOT NULL AND :check_categories"
    "    AND EXISTS (SELECT 1 FROM deadlines o WHERE o.complaint_id = c.id"
    "                AND o.met_at IS NULL AND o.cancelled_at IS NULL)"
    "  UNION"
    "  SELECT chain.complaint_id, k.parent_id FROM chain JOIN categories k ON k.id = chain.category_id"
    "  WHERE k.parent_id IS NOT NULL"
    ") "
    "UPDATE deadlines d SET pause_in = array_append(d.pause_in, :condition) "
    "WHERE d.met_at IS NULL AND d.cancelled_at IS NULL AND d.kind = :kind "
    "  AND d.stage IS NOT DISTINCT FROM CAST(:stage AS varchar) AND d.pause_in = :old_pause_in "
    "  AND NOT EXISTS (SELECT 1 FROM chain JOIN sla_profiles p ON p.category_id = chain.category_id"
    "                  WHERE chain.complaint_id = d.complaint_id)"
).bindparams(sa.bindparam("old_pause_in", type_=ARRAY(sa.Text())), sa.bindparam("check_categories", type_=sa.Boolean()))


def upgrade() -> None:
    op.add_column("complaints", sa.Column("appraisal_started_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "appraisals",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("complaint_id", UUID(as_uuid=True), nullable=False),
        sa.Column("reason", sa.LargeBinary(), nullable=False),  # sealed (AES-GCM)
        sa.Column("appraiser", sa.LargeBinary(), nullable=True),  # sealed
        sa.Column("outcome", sa.LargeBinary(), nullable=True),  # sealed
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_by", UUID(as_uuid=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", UUID(as_uuid=True), nullable=True),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaints.id"], ondelete="CASCADE",
                                name="fk_appraisals_complaint_id_complaints"),
        sa.CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ck_appraisals_ended_after_start"),
    )
    op.create_index("ix_appraisals_complaint_id", "appraisals", ["complaint_id"])
    op.create_index("uq_appraisals_open", "appraisals", ["complaint_id"], unique=True,
                    postgresql_where=sa.text("ended_at IS NULL"))

    bind = op.get_bind()
    template = bind.execute(
        sa.text("SELECT template FROM public.tenants WHERE schema_name = current_schema()")
    ).scalar()
    if template not in OLD_RULES:
        return
    swapped = bind.execute(_SWAP_PROFILE, {"old": json.dumps(OLD_RULES[template]),
                                           "new": json.dumps(new_rules(template))}).rowcount
    if not swapped:
        return  # the tenant's own default profile (or already the new one): its deadlines stay as they are
    check_categories = bool(bind.execute(
        sa.text("SELECT EXISTS (SELECT 1 FROM sla_profiles WHERE category_id IS NOT NULL)")).scalar())
    done: set[tuple[str, str | None]] = set()
    for rule in OLD_RULES[template]:
        key = (rule["kind"], rule["stage"])
        if key not in PAUSED_BY_APPRAISAL[template] or key in done:
            continue  # (retail's two RESOLUTION rules plan the same kind of row)
        done.add(key)
        bind.execute(_ADD_CONDITION, {"condition": CONDITION, "kind": rule["kind"], "stage": rule["stage"],
                                      "old_pause_in": rule["pauseIn"], "check_categories": check_categories})


def downgrade() -> None:
    bind = op.get_bind()
    template = bind.execute(
        sa.text("SELECT template FROM public.tenants WHERE schema_name = current_schema()")
    ).scalar()
    if template in OLD_RULES:
        bind.execute(_SWAP_PROFILE, {"old": json.dumps(new_rules(template)),
                                     "new": json.dumps(OLD_RULES[template])})
    op.execute(f"UPDATE deadlines SET pause_in = array_remove(pause_in, '{CONDITION}') "  # noqa: S608 (a constant)
               f"WHERE '{CONDITION}' = ANY(pause_in)")
    op.drop_index("uq_appraisals_open", table_name="appraisals")
    op.drop_index("ix_appraisals_complaint_id", table_name="appraisals")
    op.drop_table("appraisals")
    op.drop_column("complaints", "appraisal_started_at")
