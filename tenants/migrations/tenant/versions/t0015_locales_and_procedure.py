"""zh-CN and en: each user's language, and the public procedure page's content, tenant-editable

- ``users.locale``: the language a user reads (``zh-CN`` or ``en``; NULL: their request's Accept-Language, else
  the tenant's default ``tenant_settings.locale``, which t0002 made, ``zh-CN`` by default).
- ``tenant_settings.procedure``: what ``complaintProcedure`` tells the public (channels and contacts, expected
  times, steps, where to re-complain), each text in zh-CN and en; NULL: the template's defaults from the seeds
  (``services/core/complaints/procedure.py``), so existing tenants show what they showed, now in both languages.
- The default policy rule of the new action ``procedure.manage`` (``updateComplaintProcedure``,
  ``updateTenantLocale``): ``tenant_admin`` in both templates, added where missing (the policy version moves).

Downgrade drops both columns (the edited procedure and the users' choices are lost) and the rule.

Revision ID: t0015
Revises: t0014
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "t0015"
down_revision = "t0014"
branch_labels = None
depends_on = None

NEW_RULES = [("tenant_admin", "procedure.manage", "any", "allow")]
"""The rules this revision introduced (frozen here; policies/<template>.csv holds them too)."""


def upgrade() -> None:
    op.add_column("users", sa.Column("locale", sa.String(16), nullable=True))
    op.create_check_constraint("locale", "users", "locale IS NULL OR locale IN ('zh-CN', 'en')")  # ck_users_locale
    op.add_column("tenant_settings", sa.Column("procedure", JSONB(), nullable=True))
    bind = op.get_bind()
    roles = set(bind.execute(sa.text("SELECT name FROM roles")).scalars())
    added = 0
    for role, action, relation, effect in NEW_RULES:
        if role not in roles:
            continue
        added += bind.execute(sa.text(
            "INSERT INTO policy_rules (ptype, v0, v1, v2, v3, v4) SELECT 'p', :r, '*', :a, :rel, :e "
            "WHERE NOT EXISTS (SELECT 1 FROM policy_rules WHERE ptype = 'p' AND v0 = :r AND v2 = :a AND v3 = :rel "
            "AND v4 = :e)"), {"r": role, "a": action, "rel": relation, "e": effect}).rowcount
    if added:
        op.execute("UPDATE policy_state SET version = version + 1, updated_at = now()")


def downgrade() -> None:
    removed = op.get_bind().execute(sa.text(
        "DELETE FROM policy_rules WHERE ptype = 'p' AND v2 = 'procedure.manage'")).rowcount
    if removed:
        op.execute("UPDATE policy_state SET version = version + 1, updated_at = now()")
    op.drop_column("tenant_settings", "procedure")
    op.drop_constraint("locale", "users", type_="check")
    op.drop_column("users", "locale")
