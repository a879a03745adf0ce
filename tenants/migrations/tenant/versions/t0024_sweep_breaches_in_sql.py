"""the sweep records a tenant's breaches in one call: ``sweep_breaches()`` and ``breach_effects`` (issue 19 point 5)

``sweep_breaches(now, limit, wait)``, a plpgsql function in each tenant schema (its ``search_path`` fixed to the
schema, so its plans are the schema's own and are kept for the session), does in one call what the sweep's breach
phase did in Python: takes the audit chain's lock (``wait`` false: only if free, else it returns 0 and the tenant
stays due), claims the due COMPANY deadlines and their complaints ``FOR UPDATE SKIP LOCKED`` (oldest due first,
``limit`` of them), sets ``breached_at`` to ``now``, appends a ``deadline_breached`` audit event per breach to the
chain (the hash as ``services.core.audit.service.content_hash`` computes it: the same canonical JSON, hashed by
``sha256()``), marks the complaints' statistics facts breached, and writes one ``breach_effects`` row per breach;
it returns how many it breached. One statement can so cover many tenants (``SELECT "a".sweep_breaches(...),
"b".sweep_breaches(...)``): ``services.core.deadlines.sweep.breach_tenants``.

``breach_effects``: a breach whose effects are still to come (the owner and supervisors notified, the customer
notice and its owner task, the REVIEW escalation: sealed and in the reader's language, so in Python), written in
the breach's transaction and deleted in the transaction that enqueues the effects (``sweep_deadlines``): a worker
dying between the two leaves the row, and its wake-up (source ``breach_effects`` in ``public.sweep_wakeups``, kept
by a trigger) brings the sweep back.

Downgrade drops both (a breach_effects row left then loses its notifications: drain the sweep first).

Revision ID: t0024
Revises: t0023
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "t0024"
down_revision = "t0023"
branch_labels = None
depends_on = None

# Python's ``datetime.astimezone(UTC).isoformat()``: microseconds only when there are any
_ISO = ("(to_char(({t}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN date_trunc('second', {t}) = {t} "
        "THEN '' ELSE to_char(({t}) AT TIME ZONE 'UTC', '.US') END || '+00:00')")

_SWEEP_BREACHES = f"""
CREATE OR REPLACE FUNCTION sweep_breaches(p_now timestamptz, p_limit integer, p_wait boolean)
RETURNS integer LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    r record;
    v_seq bigint;
    v_prev text;
    v_hash text;
    v_changes text;
    v_at text := {_ISO.format(t="p_now")};
    v_complaints uuid[] := '{{}}';
    n integer := 0;
BEGIN
    -- the overdue clause of services.core.deadlines.service.overdue_clause, not yet breached; written with
    -- "due_at < p_now" for both branches (a deadline paused after its due time was paused before now), so that
    -- ix_deadlines_open_due_at finds them instead of a scan of every open deadline
    PERFORM 1 FROM deadlines d
     WHERE d.met_at IS NULL AND d.cancelled_at IS NULL AND d.party = 'COMPANY' AND d.breached_at IS NULL
       AND d.due_at < p_now AND (d.paused_at IS NULL OR d.due_at < d.paused_at)
     LIMIT 1;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    -- the audit chain's lock first (a request takes it before its deadlines), then only rows nobody holds
    IF p_wait THEN
        PERFORM pg_advisory_xact_lock(hashtext(current_schema() || '/audit'));
    ELSIF NOT pg_try_advisory_xact_lock(hashtext(current_schema() || '/audit')) THEN
        RETURN 0;
    END IF;
    SELECT a.seq, a.hash INTO v_seq, v_prev FROM audit_events a ORDER BY a.seq DESC LIMIT 1;
    IF NOT FOUND THEN
        v_seq := 0;
        v_prev := repeat('0', 64);
    END IF;
    FOR r IN
        SELECT d.id, d.complaint_id, d.kind, d.stage, d.due_at, d.paused_at, c.status
          FROM deadlines d JOIN complaints c ON c.id = d.complaint_id
         WHERE d.met_at IS NULL AND d.cancelled_at IS NULL AND d.party = 'COMPANY' AND d.breached_at IS NULL
           AND d.due_at < p_now AND (d.paused_at IS NULL OR d.due_at < d.paused_at)
         ORDER BY d.due_at
         LIMIT p_limit
           FOR UPDATE OF d, c SKIP LOCKED
    LOOP
        UPDATE deadlines SET breached_at = p_now WHERE id = r.id;
        v_seq := v_seq + 1;
        -- audit.service.content_hash: json.dumps(sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        v_changes := '{{"deadlineId":' || to_json(r.id::text)::text
            || ',"dueAt":' || to_json({_ISO.format(t="r.due_at")})::text
            || ',"kind":' || to_json(r.kind::text)::text
            || ',"paused":' || (r.paused_at IS NOT NULL)::text
            || ',"stage":' || coalesce(to_json(r.stage::text)::text, 'null') || '}}';
        v_hash := encode(sha256(convert_to(
            '{{"action":"deadline_breached","actor_id":null,"actor_label":"system","changes":' || v_changes
            || ',"from_status":' || coalesce(to_json(r.status::text)::text, 'null')
            || ',"note":null,"occurred_at":' || to_json(v_at)::text
            || ',"prev_hash":' || to_json(v_prev)::text
            || ',"seq":' || v_seq::text
            || ',"subject_id":' || to_json(r.complaint_id::text)::text
            || ',"subject_type":"Complaint","to_status":' || coalesce(to_json(r.status::text)::text, 'null')
            || '}}', 'UTF8')), 'hex');
        INSERT INTO audit_events (seq, occurred_at, actor_id, actor_label, action, subject_type, subject_id,
                                  from_status, to_status, changes, prev_hash, hash, note)
        VALUES (v_seq, p_now, NULL, 'system', 'deadline_breached', 'Complaint', r.complaint_id, r.status, r.status,
                v_changes::jsonb, v_prev, v_hash, NULL);
        v_prev := v_hash;
        -- the breach's key (services.core.deadlines.sweep.breach_key): the deadline and the due time it passed
        INSERT INTO breach_effects (deadline_id, complaint_id, breach_key, due_at, breached_at)
        VALUES (r.id, r.complaint_id, 'deadline:' || r.id::text || ':breach:'
                || trunc(extract(epoch FROM r.due_at))::bigint::text, r.due_at, p_now);
        v_complaints := v_complaints || r.complaint_id;
        n := n + 1;
    END LOOP;
    IF n > 0 THEN
        UPDATE complaint_facts SET breached = true WHERE complaint_id = ANY(v_complaints) AND breached IS false;
    END IF;
    RETURN n;
END $$
"""  # noqa: S608 (constants only)

_WAKEUP = """
CREATE OR REPLACE FUNCTION breach_effects_wakeup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM public.sweep_wakeups WHERE schema_name = TG_TABLE_SCHEMA::text COLLATE "default"
            AND source = TG_TABLE_NAME::text COLLATE "default" AND row_id = OLD.id;
    ELSE
        INSERT INTO public.sweep_wakeups (schema_name, source, row_id, at)
        VALUES (TG_TABLE_SCHEMA, TG_TABLE_NAME, NEW.id, NEW.breached_at)
        ON CONFLICT (schema_name, source, row_id) DO UPDATE SET at = EXCLUDED.at;
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "breach_effects",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("deadline_id", UUID(as_uuid=True), sa.ForeignKey("deadlines.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("complaint_id", UUID(as_uuid=True), sa.ForeignKey("complaints.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("breach_key", sa.String(200), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("breached_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(_WAKEUP)
    op.execute("CREATE TRIGGER sweep_wakeup AFTER INSERT OR UPDATE OR DELETE ON breach_effects "
               "FOR EACH ROW EXECUTE FUNCTION breach_effects_wakeup()")
    op.get_bind().exec_driver_sql(_SWEEP_BREACHES)  # as written: its JSON's colons are no bind parameters


def downgrade() -> None:
    op.execute("DROP FUNCTION sweep_breaches(timestamptz, integer, boolean)")
    op.execute("DELETE FROM public.sweep_wakeups WHERE schema_name = current_schema() AND source = 'breach_effects'")
    op.drop_table("breach_effects")
    op.execute("DROP FUNCTION breach_effects_wakeup()")
