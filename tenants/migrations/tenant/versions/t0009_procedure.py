"""the procedure as the seeds write it: the unfounded opinion, the review (复核), referral, return and archive

- ``handling_forms.kind`` (``SOLUTION`` or ``OPINION``: an unfounded complaint's written investigation opinion,
  approved by someone else before the owner relays it); ``solution`` becomes optional (an opinion has none).
- ``reviews``: a customer's request for a review of the decision, its independent reviewer and answer (reason
  and answer sealed, like other free text).
- ``satisfaction_surveys.returned_to_department_id`` / ``returned_at`` (seed I step 7: closing returns the
  survey to the responsible department; a CLOSED case is archived, read-only but for what the rules allow).
- ``tenant_settings.after_final_answer``: what follows a final answer the customer may take outside (GUIDE:
  tell them where to re-complain; FORWARD: forward the dossier); bank tenants both, retail GUIDE.
- The bank template's review deadlines follow the review request, not a reopen: in the default profile, where it
  still holds the rules t0008 left (a profile the tenant changed is left alone), ``REVIEW_REQUEST`` is met by
  ``REVIEW_REQUESTED`` and ``REVIEW`` starts on it and is met by ``REVIEW_ANSWERED``; open ``REVIEW_REQUEST``
  windows that profile planned are met by the request from now on. Open ``REVIEW`` deadlines keep their rule.
- The default policy rules of the new actions (bank: ``complaint.request_review``, ``complaint.assign_reviewer``,
  ``complaint.answer_review``) and the retail store manager's owner rules, added where missing.

Revision ID: t0009
Revises: t0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "t0009"
down_revision = "t0008"
branch_labels = None
depends_on = None


def _t0008() -> Any:
    spec = importlib.util.spec_from_file_location("t0008", Path(__file__).with_name("t0008_external_appraisal.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def old_bank_rules() -> list[dict[str, Any]]:
    """The bank template's default rules as t0008 left them."""
    return list(_t0008().new_rules("bank"))


def new_bank_rules() -> list[dict[str, Any]]:
    rules = copy.deepcopy(old_bank_rules())
    for r in rules:
        if r["kind"] == "REVIEW_REQUEST":
            r["metOn"] = ["REVIEW_REQUESTED"]
        elif r["kind"] == "REVIEW":
            r["startsOn"] = "REVIEW_REQUESTED"
            r["metOn"] = ["REVIEW_ANSWERED"]
    return rules


_OWNER_ACTIONS = ("resolve_on_the_spot", "attach_evidence", "record_opinion", "record_follow_up", "reopen",
                  "withdraw", "mark_litigation", "extend_deadline", "route")
_REVIEW = [("receiver", "complaint.request_review", "owner", "allow"),
           ("complaint_desk", "complaint.request_review", "any", "allow"),
           ("complaint_desk", "complaint.assign_reviewer", "any", "allow"),
           ("manager", "complaint.assign_reviewer", "any", "allow"),
           ("manager", "complaint.answer_review", "any", "allow"),
           ("approver", "complaint.answer_review", "any", "allow"),
           ("general_manager", "complaint.answer_review", "any", "allow"),
           ("reviewer", "complaint.answer_review", "any", "allow")]
NEW_RULES: dict[str, list[tuple[str, str, str, str]]] = {
    "retail": [("store_manager", "complaint.record", "any", "allow"),
               ("store_manager", "complaint.send_message", "owner&approved", "allow"),
               ("store_manager", "external_body.read", "any", "allow"),
               ("store_manager", "complaint.request_review", "owner", "allow"),
               *[("store_manager", f"complaint.{a}", "owner", "allow") for a in _OWNER_ACTIONS],
               *_REVIEW],
    "bank": _REVIEW,
}
"""The rules this revision introduced (frozen here; policies/<template>.csv holds them too)."""

_SWAP_PROFILE = sa.text(
    "UPDATE sla_profiles SET rules = CAST(:new AS jsonb), updated_at = now() "
    "WHERE category_id IS NULL AND rules = CAST(:old AS jsonb)")


def upgrade() -> None:
    op.add_column("handling_forms", sa.Column("kind", sa.String(16), nullable=False,
                                              server_default=sa.text("'SOLUTION'")))
    op.alter_column("handling_forms", "solution", nullable=True)
    op.create_check_constraint("ck_handling_forms_solution", "handling_forms",
                               "kind = 'OPINION' OR solution IS NOT NULL")
    op.add_column("satisfaction_surveys", sa.Column(
        "returned_to_department_id", UUID(as_uuid=True),
        sa.ForeignKey("org_units.id", ondelete="RESTRICT", name="fk_satisfaction_surveys_returned_to_org_units"),
        nullable=True))
    op.add_column("satisfaction_surveys", sa.Column("returned_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "reviews",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("complaint_id", UUID(as_uuid=True),
                  sa.ForeignKey("complaints.id", ondelete="CASCADE", name="fk_reviews_complaint_id_complaints"),
                  nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.LargeBinary(), nullable=False),  # sealed
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("requested_by", UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="RESTRICT"), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewer_id", UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="RESTRICT"), nullable=True),
        sa.Column("assigned_by", UUID(as_uuid=True), sa.ForeignKey("users.id", ondelete="RESTRICT"), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("answer", sa.LargeBinary(), nullable=True),  # sealed
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('REQUESTED', 'ASSIGNED', 'ANSWERED')", name="ck_reviews_state"),
    )
    op.create_index("ix_reviews_complaint_id", "reviews", ["complaint_id"])
    op.add_column("tenant_settings", sa.Column("after_final_answer", JSONB(), nullable=False,
                                               server_default=sa.text("'[\"GUIDE\"]'::jsonb")))

    bind = op.get_bind()
    template = bind.execute(
        sa.text("SELECT template FROM public.tenants WHERE schema_name = current_schema()")
    ).scalar()
    if template == "bank":
        op.execute("UPDATE tenant_settings SET after_final_answer = '[\"GUIDE\", \"FORWARD\"]'::jsonb")
        swapped = bind.execute(_SWAP_PROFILE, {"old": json.dumps(old_bank_rules()),
                                               "new": json.dumps(new_bank_rules())}).rowcount
        if swapped:
            op.execute("UPDATE deadlines SET met_on = ARRAY['REVIEW_REQUESTED'] WHERE kind = 'REVIEW_REQUEST' "
                       "AND met_at IS NULL AND cancelled_at IS NULL AND met_on = ARRAY['REOPENED']")
    roles = set(bind.execute(sa.text("SELECT name FROM roles")).scalars())
    added = 0
    for role, action, relation, effect in NEW_RULES.get(template or "", []):
        if role not in roles:
            continue
        added += bind.execute(sa.text(
            "INSERT INTO policy_rules (ptype, v0, v1, v2, v3, v4) SELECT 'p', :r, '*', :a, :rel, :e "
            "WHERE NOT EXISTS (SELECT 1 FROM policy_rules WHERE ptype = 'p' AND v0 = :r AND v2 = :a AND v3 = :rel "
            "AND v4 = :e)"), {"r": role, "a": action, "rel": relation, "e": effect}).rowcount
    if added:
        op.execute("UPDATE policy_state SET version = version + 1, updated_at = now()")


def downgrade() -> None:
    bind = op.get_bind()
    template = bind.execute(
        sa.text("SELECT template FROM public.tenants WHERE schema_name = current_schema()")
    ).scalar()
    if template == "bank":
        bind.execute(_SWAP_PROFILE, {"old": json.dumps(new_bank_rules()), "new": json.dumps(old_bank_rules())})
        op.execute("UPDATE deadlines SET met_on = ARRAY['REOPENED'] WHERE kind = 'REVIEW_REQUEST' "
                   "AND met_at IS NULL AND cancelled_at IS NULL AND met_on = ARRAY['REVIEW_REQUESTED']")
    op.drop_column("tenant_settings", "after_final_answer")
    op.drop_index("ix_reviews_complaint_id", table_name="reviews")
    op.drop_table("reviews")
    op.drop_column("satisfaction_surveys", "returned_at")
    op.drop_column("satisfaction_surveys", "returned_to_department_id")
    op.drop_constraint("ck_handling_forms_solution", "handling_forms")
    for table in ("customer_messages", "customer_opinions"):
        op.execute(f"DELETE FROM {table} WHERE handling_form_id IN "  # noqa: S608 (constants)
                   "(SELECT id FROM handling_forms WHERE kind = 'OPINION')")
    op.execute("DELETE FROM handling_forms WHERE kind = 'OPINION'")
    op.alter_column("handling_forms", "solution", nullable=False)
    op.drop_column("handling_forms", "kind")
