"""accountability: responsibility attribution, penalties, periodic independent review (issue 16)

- ``responsibilities``: every attribution proposed on a case (level, cause, unit / person / outside party, reason
  sealed), PROPOSED until the general manager APPROVES or REJECTS it (who, when, note sealed).
- ``penalties``: a unit or a person (the name as it stood, sealed), kind, amount, reason (sealed), serious or
  not, PROPOSED (serious: waits for the GM) / EFFECTIVE / REJECTED, published when the GM approved it.
- ``review_plans``, ``review_plan_cases`` (the sample, drawn once), ``review_findings`` (one per case and plan,
  note sealed), ``improvement_actions`` (owner, due date, description sealed).
- ``accountability_settings`` (one row: the repeat window, the major-complaint criteria), ``repeat_proposals``
  (a repeat proposed on recording, confirmed or dismissed; counted against a store; its penalty),
  ``opinion_book_entries`` (text, customer name and phone sealed; phone blind index; the complaint behind it),
  ``complaint_attention`` (group complaint, media attention), ``major_complaints`` (reasons, the regulator draft
  sealed, sent once).
- The default policy rules of the new actions, added where missing (frozen below; policies/<template>.csv holds
  them too).

Downgrade drops the tables (the records are lost) and the rules this revision added.

Revision ID: t0018
Revises: t0017
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, UUID

revision = "t0018"
down_revision = "t0017"
branch_labels = None
depends_on = None

_COMMON = [
    ("complaint_desk", "complaint.propose_responsibility", "any", "allow"),
    ("general_manager", "complaint.decide_responsibility", "any", "allow"),
    ("complaint_desk", "penalty.read", "any", "allow"),
    ("general_manager", "penalty.read", "any", "allow"),
    ("complaint_desk", "penalty.propose", "any", "allow"),
    ("general_manager", "penalty.decide", "any", "allow"),
    ("general_manager", "review_plan.manage", "any", "allow"),
    ("reviewer", "review_plan.manage", "any", "allow"),
    ("general_manager", "review_plan.read", "any", "allow"),
    ("reviewer", "review_plan.read", "any", "allow"),
    ("report_reader", "review_plan.read", "any", "allow"),
    ("reviewer", "review_plan.record_finding", "any", "allow"),
    ("complaint_desk", "complaint.confirm_repeat", "any", "allow"),
    ("manager", "complaint.confirm_repeat", "any", "allow"),
    ("complaint_desk", "complaint.flag_major", "any", "allow"),
    ("manager", "complaint.flag_major", "any", "allow"),
    ("receiver", "opinion_book.record", "any", "allow"),
    ("complaint_desk", "opinion_book.record", "any", "allow"),
    ("complaint_desk", "opinion_book.read", "any", "allow"),
    ("manager", "opinion_book.read", "any", "allow"),
    ("general_manager", "opinion_book.read", "any", "allow"),
    ("reviewer", "opinion_book.read", "any", "allow"),
    ("tenant_admin", "accountability.configure", "any", "allow"),
]
NEW_RULES = {
    "retail": [*_COMMON,
               ("general_manager", "complaint.approve_major_report", "any", "allow"),
               ("store_manager", "opinion_book.record", "any", "allow"),
               ("store_manager", "opinion_book.read", "any", "allow")],
    "bank": [*_COMMON,
             ("regulator_liaison", "review_plan.read", "any", "allow"),
             ("regulator_liaison", "complaint.flag_major", "any", "allow"),
             ("regulator_liaison", "complaint.approve_major_report", "any", "allow")],
}
"""The rules this revision introduced (frozen here; policies/<template>.csv holds them too)."""


def _id() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()"))


def _fk(table: str, column: str, target: str, ondelete: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(column, UUID(as_uuid=True),
                     sa.ForeignKey(f"{target}.id", ondelete=ondelete, name=f"fk_{table}_{column}_{target}"),
                     nullable=nullable)


def upgrade() -> None:
    t = "responsibilities"
    op.create_table(
        t, _id(),
        _fk(t, "complaint_id", "complaints", "CASCADE"),
        sa.Column("level", sa.String(24), nullable=False),
        sa.Column("cause", sa.String(16), nullable=False),
        _fk(t, "org_unit_id", "org_units", "RESTRICT", nullable=True),
        _fk(t, "person_id", "users", "RESTRICT", nullable=True),
        sa.Column("outside_party", sa.LargeBinary(), nullable=True),  # sealed
        sa.Column("reason", sa.LargeBinary(), nullable=False),  # sealed
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("proposed_by", UUID(as_uuid=True), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", UUID(as_uuid=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.LargeBinary(), nullable=True),  # sealed
        sa.CheckConstraint("state IN ('PROPOSED', 'APPROVED', 'REJECTED')", name="state"),
    )
    op.create_index("ix_responsibilities_complaint_id", t, ["complaint_id"])
    op.create_index("ix_responsibilities_org_unit_id", t, ["org_unit_id"])

    t = "penalties"
    op.create_table(
        t, _id(),
        _fk(t, "complaint_id", "complaints", "SET NULL", nullable=True),
        sa.Column("target", sa.String(8), nullable=False),
        _fk(t, "org_unit_id", "org_units", "RESTRICT", nullable=True),
        _fk(t, "person_id", "users", "RESTRICT", nullable=True),
        sa.Column("person_name", sa.LargeBinary(), nullable=True),  # sealed
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", sa.Numeric(14, 2), nullable=True),
        sa.Column("reason", sa.LargeBinary(), nullable=False),  # sealed
        sa.Column("serious", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(24), nullable=False, server_default=sa.text("'DESK'")),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("proposed_by", UUID(as_uuid=True), nullable=True),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", UUID(as_uuid=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.LargeBinary(), nullable=True),  # sealed
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('PROPOSED', 'EFFECTIVE', 'REJECTED')", name="state"),
        sa.CheckConstraint("(target = 'UNIT') = (org_unit_id IS NOT NULL AND person_id IS NULL)", name="target"),
    )
    for column in ("complaint_id", "org_unit_id", "person_id"):
        op.create_index(f"ix_penalties_{column}", t, [column])

    t = "review_plans"
    op.create_table(
        t, _id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("sample_rule", sa.String(16), nullable=False),
        sa.Column("sample_percent", sa.Integer(), nullable=True),
        _fk(t, "department_id", "org_units", "RESTRICT"),
        sa.Column("created_by", UUID(as_uuid=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("sample_rule IN ('ALL_BREACHED', 'RANDOM_PERCENT', 'ALL_ESCALATED')", name="sample_rule"),
    )
    op.create_index("ix_review_plans_department_id", t, ["department_id"])

    t = "review_plan_cases"
    op.create_table(
        t,
        sa.Column("plan_id", UUID(as_uuid=True),
                  sa.ForeignKey("review_plans.id", ondelete="CASCADE", name=f"fk_{t}_plan_id_review_plans"),
                  primary_key=True),
        sa.Column("complaint_id", UUID(as_uuid=True),
                  sa.ForeignKey("complaints.id", ondelete="CASCADE", name=f"fk_{t}_complaint_id_complaints"),
                  primary_key=True),
    )

    t = "review_findings"
    op.create_table(
        t, _id(),
        _fk(t, "plan_id", "review_plans", "CASCADE"),
        _fk(t, "complaint_id", "complaints", "CASCADE"),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("note", sa.LargeBinary(), nullable=False),  # sealed
        sa.Column("reviewer_id", UUID(as_uuid=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("plan_id", "complaint_id", name="uq_review_findings_plan_id"),
        sa.CheckConstraint("outcome IN ('CONFORMING', 'NONCONFORMING')", name="outcome"),
    )
    op.create_index("ix_review_findings_complaint_id", t, ["complaint_id"])

    t = "improvement_actions"
    op.create_table(
        t, _id(),
        _fk(t, "plan_id", "review_plans", "CASCADE"),
        _fk(t, "finding_id", "review_findings", "CASCADE", nullable=True),
        sa.Column("description", sa.LargeBinary(), nullable=False),  # sealed
        _fk(t, "owner_id", "users", "RESTRICT"),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("created_by", UUID(as_uuid=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_improvement_actions_plan_id", t, ["plan_id"])

    t = "accountability_settings"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("repeat_window_days", sa.Integer(), nullable=False, server_default=sa.text("30")),
        sa.Column("major_amount_at_least", sa.Numeric(14, 2), nullable=True),
        sa.Column("major_on_group_complaint", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        sa.Column("major_on_media_attention", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        sa.Column("major_repeat_count_at_least", sa.Integer(), nullable=True),
        sa.Column("major_category_ids", ARRAY(UUID(as_uuid=True)), nullable=False, server_default=sa.text("'{}'")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
    )

    t = "repeat_proposals"
    op.create_table(
        t, _id(),
        _fk(t, "complaint_id", "complaints", "CASCADE"),
        _fk(t, "earlier_id", "complaints", "CASCADE"),
        sa.Column("matched_on", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", UUID(as_uuid=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("left_unanswered", sa.Boolean(), nullable=True),
        _fk(t, "store_id", "org_units", "RESTRICT", nullable=True),
        _fk(t, "penalty_id", "penalties", "SET NULL", nullable=True),
        sa.UniqueConstraint("complaint_id", name="uq_repeat_proposals_complaint_id"),
        sa.CheckConstraint("state IN ('PROPOSED', 'CONFIRMED', 'DISMISSED')", name="state"),
    )
    op.create_index("ix_repeat_proposals_earlier_id", t, ["earlier_id"])
    op.create_index("ix_repeat_proposals_store_id", t, ["store_id"])

    t = "opinion_book_entries"
    op.create_table(
        t, _id(),
        _fk(t, "store_id", "org_units", "RESTRICT"),
        sa.Column("entry_date", sa.Date(), nullable=False),
        sa.Column("text", sa.LargeBinary(), nullable=False),  # sealed
        sa.Column("customer_name", sa.LargeBinary(), nullable=True),  # sealed
        sa.Column("customer_phone", sa.LargeBinary(), nullable=True),  # sealed
        sa.Column("phone_key", sa.Text(), nullable=True),  # blind index
        _fk(t, "complaint_id", "complaints", "SET NULL", nullable=True),
        sa.Column("recorded_by", UUID(as_uuid=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reconciled_by", UUID(as_uuid=True), nullable=True),
        sa.Column("reconciled_at", sa.DateTime(timezone=True), nullable=True),
    )
    for column in ("store_id", "phone_key", "complaint_id"):
        op.create_index(f"ix_{t}_{column}", t, [column])

    t = "complaint_attention"
    op.create_table(
        t,
        sa.Column("complaint_id", UUID(as_uuid=True),
                  sa.ForeignKey("complaints.id", ondelete="CASCADE", name=f"fk_{t}_complaint_id_complaints"),
                  primary_key=True),
        sa.Column("group_complaint", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("media_attention", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column("updated_by", UUID(as_uuid=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )

    t = "major_complaints"
    op.create_table(
        t,
        sa.Column("complaint_id", UUID(as_uuid=True),
                  sa.ForeignKey("complaints.id", ondelete="CASCADE", name=f"fk_{t}_complaint_id_complaints"),
                  primary_key=True),
        sa.Column("reasons", ARRAY(sa.Text()), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        _fk(t, "external_body_id", "external_bodies", "RESTRICT", nullable=True),
        sa.Column("draft", sa.LargeBinary(), nullable=False),  # sealed
        sa.Column("draft_sha256", sa.String(64), nullable=False),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_by", UUID(as_uuid=True), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outbox_id", UUID(as_uuid=True), nullable=True),
        sa.CheckConstraint("state IN ('DRAFT', 'SENT')", name="state"),
    )

    bind = op.get_bind()
    template = bind.execute(
        sa.text("SELECT template FROM public.tenants WHERE schema_name = current_schema()")
    ).scalar()
    roles = set(bind.execute(sa.text("SELECT name FROM roles")).scalars())
    added = 0
    for role, action, relation, effect in NEW_RULES.get(template or "", []):
        if role not in roles:
            continue
        added += bind.execute(sa.text(
            "INSERT INTO policy_rules (ptype, v0, v1, v2, v3, v4) SELECT 'p', CAST(:r AS text), '*', "
            "CAST(:a AS text), CAST(:rel AS text), CAST(:e AS text) WHERE NOT EXISTS (SELECT 1 FROM policy_rules "
            "WHERE ptype = 'p' AND v0 = CAST(:r AS text) AND v2 = CAST(:a AS text) AND v3 = CAST(:rel AS text) "
            "AND v4 = CAST(:e AS text))"), {"r": role, "a": action, "rel": relation, "e": effect}).rowcount
    if added:
        op.execute("UPDATE policy_state SET version = version + 1, updated_at = now()")


def downgrade() -> None:
    bind = op.get_bind()
    actions = sorted({a for rules in NEW_RULES.values() for _, a, _, _ in rules})
    removed = bind.execute(sa.text("DELETE FROM policy_rules WHERE ptype = 'p' AND v2 = ANY(:a)"),
                           {"a": actions}).rowcount
    if removed:
        op.execute("UPDATE policy_state SET version = version + 1, updated_at = now()")
    for table in ("major_complaints", "complaint_attention", "opinion_book_entries", "repeat_proposals",
                  "accountability_settings", "improvement_actions", "review_findings", "review_plan_cases", "review_plans", "penalties",
                  "responsibilities"):
        op.drop_table(table)
