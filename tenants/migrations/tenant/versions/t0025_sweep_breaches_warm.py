"""a tenant's breach statements prepared ahead of a burst: ``sweep_breaches_warm()`` (issue 19 point 5)

``sweep_breaches()`` again (a frozen copy of t0024's), its first query (is anything due?) ordered by ``due_at``: after
a few calls on a connection PostgreSQL keeps a generic plan for it, and without the order that plan was a scan of
the table's rows stopping at the first due one (all of them when none is due: a tenant whose wake-up is a reminder,
not a breach); ordered, it walks ``ix_deadlines_open_due_at`` from the oldest.

``sweep_breaches_warm()``, a plpgsql function in each tenant schema (its ``search_path`` fixed to the schema, as
``sweep_breaches``'s), calls the schema's ``sweep_breaches()`` as if every open deadline were due (``now`` in the
year 9999, one deadline) and then undoes everything it did by raising an exception its own block catches: nothing
is recorded (no breach, audit event, fact, ``breach_effects`` row or wake-up; the row locks and the audit chain's
lock go with the subtransaction), but the connection has compiled ``sweep_breaches()``, planned each of its
statements and those of the triggers it fires (the wake-ups, the foreign keys) and loaded the tables' catalog
entries, which the first real call on a connection otherwise does (several times the cost of a warm call). The
worker's breaches' loop calls it for every tenant on the connection that will record that tenant's breaches
(``services.core.deadlines.sweep.warm_breaches``) while nothing is due. It returns false when it could not go
through (the audit chain locked by a request, no open deadline, an error): the tenant is then only partly
prepared.

Revision ID: t0025
Revises: t0024
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "t0025"
down_revision = "t0024"
branch_labels = None
depends_on = None

_ISO = ("(to_char(({t}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN date_trunc('second', {t}) = {t} "
        "THEN '' ELSE to_char(({t}) AT TIME ZONE 'UTC', '.US') END || '+00:00')")

_SWEEP_BREACHES_T0024 = f"""
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

# t0025: the first query ordered by due_at (see above)
_SWEEP_BREACHES = _SWEEP_BREACHES_T0024.replace("""
       AND d.due_at < p_now AND (d.paused_at IS NULL OR d.due_at < d.paused_at)
     LIMIT 1;""", """
       AND d.due_at < p_now AND (d.paused_at IS NULL OR d.due_at < d.paused_at)
     ORDER BY d.due_at  -- t0025: so that the generic plan walks ix_deadlines_open_due_at too
     LIMIT 1;""", 1)
assert _SWEEP_BREACHES != _SWEEP_BREACHES_T0024

_WARM = """
CREATE OR REPLACE FUNCTION sweep_breaches_warm() RETURNS boolean LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    n integer;
BEGIN
    n := sweep_breaches('9999-12-31 00:00:00+00', 1, false);
    RAISE EXCEPTION USING ERRCODE = 'CDW01', MESSAGE = n::text;
EXCEPTION WHEN SQLSTATE 'CDW01' THEN
    RETURN SQLERRM = '1';
WHEN OTHERS THEN
    RETURN false;
END $$
"""


def upgrade() -> None:
    op.get_bind().exec_driver_sql(_SWEEP_BREACHES)  # as written: its JSON's colons are no bind parameters
    op.get_bind().exec_driver_sql(_WARM)


def downgrade() -> None:
    op.execute("DROP FUNCTION sweep_breaches_warm()")
    op.get_bind().exec_driver_sql(_SWEEP_BREACHES_T0024)
