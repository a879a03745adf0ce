"""erasing a complainant reaches the opinion book and the major-complaint drafts (issue 16)

``opinion_book_entries`` gains ``customer_erased_at`` and ``major_complaints`` gains ``complainant_erased_at``: set
when erasure (``accountability.erasure``) cleared the entry's customer details or scrubbed the draft.

Complainants erased before this revision: the entries reconciled to one of their complaints are cleared here
(name, phone and the phone's blind index set to NULL: plain SQL, no key needed). Their drafts are sealed JSON and
a migration holds no tenant key: the retention sweep scrubs them (``accountability.erasure.catch_up``). Entries
matched to them by phone only cannot be found any more (their blind index went with them).

Downgrade drops the columns (the cleared values do not come back).

Revision ID: t0022
Revises: t0020
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "t0022"
down_revision = "t0021"
branch_labels = None
depends_on = None

CLEAR_ERASED = """
UPDATE opinion_book_entries e SET customer_name = NULL, customer_phone = NULL, phone_key = NULL,
    customer_erased_at = p.erased_at
FROM complaints c JOIN complainants p ON p.id = c.complainant_id
WHERE c.id = e.complaint_id AND p.erased_at IS NOT NULL
"""


def upgrade() -> None:
    op.add_column("opinion_book_entries", sa.Column("customer_erased_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("major_complaints", sa.Column("complainant_erased_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(CLEAR_ERASED)


def downgrade() -> None:
    op.drop_column("major_complaints", "complainant_erased_at")
    op.drop_column("opinion_book_entries", "customer_erased_at")
