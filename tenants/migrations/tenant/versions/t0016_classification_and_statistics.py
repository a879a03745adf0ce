"""classification by dimension (code lists per tenant) and the statistics' facts (issue 15 points 1 and 2)

- ``classification_codes``: the tenant's code lists, one per dimension (``BUSINESS_TYPE``, ``CAUSE``,
  ``BUSINESS_CHANNEL``, ``AREA``), hierarchical (``parent_id``), names in zh-CN and en, ``quality`` on CAUSE
  codes (QUALITY / NON_QUALITY, seed IV), ``standard`` naming the standard a class comes from.
  Seeded here per template (new tenants get them from this revision too): both templates the seed III areas;
  the bank template JR/T 0169-2018's three axes (A channel, B business type, C cause; the classes the public
  summaries name carry ``standard = 'JR/T 0169-2018'``, the codes' numbering and the finer classes are ours);
  the retail template its product lines, seed IV's quality / non-quality causes and the business channels.
- ``complaints``: one code per dimension (``business_type_id``, ``cause_code_id``, ``business_channel_id``,
  ``area_id``).
- Existing complaints are classified from their category, in this order: (1) a code of any dimension whose
  ``code`` equals the category's code (the retail causes Q-DEFECT ... carry the categories' codes) or the
  bank's fixed map (PRODUCT-CARD -> B03 bank cards, PRODUCT-WEALTH -> B07 wealth management, CHANNEL-APP ->
  A10303 mobile banking, SERVICE -> C01 service attitude and quality); (2) AREA from the category's (or its
  parent's) ``dimension``; (3) CAUSE from the category's (or its parent's) ``cause`` as the top level
  QUALITY / NON-QUALITY, where (1) gave none. The category itself stays.
- ``complaint_facts``: one row per complaint, what the statistics count, backfilled here from the complaints,
  their investigations, surveys, deadlines and audit trail. Backfilled handling times count Monday to Friday
  with the tenant's calendar overrides (the jurisdiction's public holidays are in code, not in the database);
  from now on they are counted with the tenant's whole calendar when the case first closes.
- The default rules of ``statistics.read``, ``classification.manage`` and ``complaint.classify``, added where
  missing (the policy version is bumped).

Downgrade drops the facts, the complaints' codes and the lists, and the rules this revision added.

Revision ID: t0016
Revises: t0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "t0016"
down_revision = "t0015"
branch_labels = None
depends_on = None

JRT = "JR/T 0169-2018"

# (dimension, code, parent code, zh, en, quality, standard)
Code = tuple[str, str, str | None, str, str, str | None, str | None]

AREA: list[Code] = [
    ("AREA", "PRODUCT", None, "产品", "Product", None, None),
    ("AREA", "SERVICE", None, "服务", "Service", None, None),
    ("AREA", "CHANNEL", None, "渠道", "Channel", None, None),
    ("AREA", "STAFF_BEHAVIOUR", None, "员工行为", "Staff behaviour", None, None),
    ("AREA", "INTERNAL_MANAGEMENT", None, "内部管理", "Internal management", None, None),
    ("AREA", "FINANCIAL_CRIME", None, "金融犯罪", "Financial crime", None, None),
]

BANK: list[Code] = [
    # A: the channel where the business was done
    ("BUSINESS_CHANNEL", "A1", None, "前台", "Front office", None, JRT),
    ("BUSINESS_CHANNEL", "A101", "A1", "营业网点柜面", "Branch counter", None, JRT),
    ("BUSINESS_CHANNEL", "A102", "A1", "自助设备", "Self-service machines", None, JRT),
    ("BUSINESS_CHANNEL", "A103", "A1", "电子渠道", "Electronic channels", None, JRT),
    ("BUSINESS_CHANNEL", "A10301", "A103", "网上银行", "Online banking", None, JRT),
    ("BUSINESS_CHANNEL", "A10302", "A103", "电话银行", "Telephone banking", None, JRT),
    ("BUSINESS_CHANNEL", "A10303", "A103", "手机银行", "Mobile banking app", None, JRT),
    ("BUSINESS_CHANNEL", "A10304", "A103", "网络公众平台", "Online public platforms", None, JRT),
    ("BUSINESS_CHANNEL", "A10305", "A103", "短信", "SMS", None, JRT),
    ("BUSINESS_CHANNEL", "A10399", "A103", "其他电子渠道", "Other electronic channels", None, JRT),
    ("BUSINESS_CHANNEL", "A104", "A1", "第三方渠道", "Third-party channels", None, JRT),
    ("BUSINESS_CHANNEL", "A199", "A1", "其他前台渠道", "Other front office", None, JRT),
    ("BUSINESS_CHANNEL", "A2", None, "中后台", "Middle and back office", None, JRT),
    # B: business type
    ("BUSINESS_TYPE", "B01", None, "人民币储蓄", "Renminbi savings", None, JRT),
    ("BUSINESS_TYPE", "B02", None, "贷款", "Loans", None, JRT),
    ("BUSINESS_TYPE", "B03", None, "银行卡", "Bank cards", None, JRT),
    ("BUSINESS_TYPE", "B04", None, "支付结算", "Payment and settlement", None, JRT),
    ("BUSINESS_TYPE", "B05", None, "人民币现金管理", "Renminbi cash management", None, JRT),
    ("BUSINESS_TYPE", "B06", None, "个人金融信息", "Personal financial information", None, JRT),
    ("BUSINESS_TYPE", "B07", None, "理财", "Wealth management", None, None),
    ("BUSINESS_TYPE", "B08", None, "代理销售", "Agency sales", None, None),
    ("BUSINESS_TYPE", "B99", None, "其他业务", "Other business", None, JRT),
    # C: cause
    ("CAUSE", "C01", None, "服务态度及服务质量", "Service attitude and quality", None, JRT),
    ("CAUSE", "C02", None, "服务设施、设备、业务系统", "Facilities, equipment and business systems", None, JRT),
    ("CAUSE", "C03", None, "管理制度、业务规则与流程", "Management rules, business rules and processes", None, JRT),
    ("CAUSE", "C04", None, "营销方式和手段", "Marketing practices", None, JRT),
    ("CAUSE", "C05", None, "信息披露", "Information disclosure", None, JRT),
    ("CAUSE", "C06", None, "产品收益", "Product returns", None, JRT),
    ("CAUSE", "C07", None, "消费者自主选择权", "The consumer's freedom of choice", None, JRT),
    ("CAUSE", "C08", None, "合同条款", "Contract terms", None, JRT),
    ("CAUSE", "C09", None, "消费者资金安全", "Safety of the consumer's funds", None, JRT),
    ("CAUSE", "C10", None, "消费者信息安全", "Safety of the consumer's information", None, JRT),
    ("CAUSE", "C99", None, "其他原因", "Other causes", None, JRT),
]

RETAIL: list[Code] = [
    ("BUSINESS_TYPE", "GOODS", None, "商品", "Goods", None, None),
    ("BUSINESS_TYPE", "DELIVERY", None, "配送安装", "Delivery and installation", None, None),
    ("BUSINESS_TYPE", "AFTER-SALES", None, "售后服务", "After-sales service", None, None),
    ("BUSINESS_TYPE", "OTHER", None, "其他", "Other", None, None),
    ("CAUSE", "QUALITY", None, "品质异常", "Quality problem", "QUALITY", None),
    ("CAUSE", "Q-DEFECT", "QUALITY", "产品缺陷", "Product defect", "QUALITY", None),
    ("CAUSE", "Q-SPEC", "QUALITY", "规格不符", "Not to specification", "QUALITY", None),
    ("CAUSE", "Q-PACK", "QUALITY", "包装破损", "Damaged packaging", "QUALITY", None),
    ("CAUSE", "NON-QUALITY", None, "非品质异常（人为因素）", "Non-quality (human factor)", "NON_QUALITY", None),
    ("CAUSE", "NQ-SERVICE", "NON-QUALITY", "服务态度", "Service attitude", "NON_QUALITY", None),
    ("CAUSE", "NQ-DELIVERY", "NON-QUALITY", "交货延误", "Late delivery", "NON_QUALITY", None),
    ("CAUSE", "NQ-PRICE", "NON-QUALITY", "价格收费", "Pricing and charges", "NON_QUALITY", None),
    ("BUSINESS_CHANNEL", "STORE", None, "门店", "In store", None, None),
    ("BUSINESS_CHANNEL", "ONLINE", None, "线上商城", "Online shop", None, None),
    ("BUSINESS_CHANNEL", "PHONE", None, "电话订购", "Phone order", None, None),
    ("BUSINESS_CHANNEL", "OTHER", None, "其他", "Other", None, None),
]

LISTS: dict[str, list[Code]] = {"bank": BANK + AREA, "retail": RETAIL + AREA}
"""The code lists each template ships (frozen here)."""

BANK_MAP = {"PRODUCT-CARD": ("BUSINESS_TYPE", "B03"), "PRODUCT-WEALTH": ("BUSINESS_TYPE", "B07"),
            "CHANNEL-APP": ("BUSINESS_CHANNEL", "A10303"), "SERVICE": ("CAUSE", "C01")}

COLUMNS = {"BUSINESS_TYPE": "business_type_id", "CAUSE": "cause_code_id", "BUSINESS_CHANNEL": "business_channel_id",
           "AREA": "area_id"}

NEW_RULES: dict[str, list[tuple[str, str, str, str]]] = {
    "retail": [("tenant_admin", "statistics.read", "any", "allow"),
               ("tenant_admin", "classification.manage", "any", "allow"),
               ("report_reader", "statistics.read", "any", "allow"),
               ("manager", "statistics.read", "any", "allow"),
               ("general_manager", "statistics.read", "any", "allow"),
               ("store_manager", "statistics.read", "any", "allow"),
               ("receiver", "complaint.classify", "owner", "allow"),
               ("complaint_desk", "complaint.classify", "any", "allow"),
               ("investigator", "complaint.classify", "any", "allow"),
               ("manager", "complaint.classify", "any", "allow"),
               ("store_manager", "complaint.classify", "store", "allow")],
    "bank": [("tenant_admin", "statistics.read", "any", "allow"),
             ("tenant_admin", "classification.manage", "any", "allow"),
             ("report_reader", "statistics.read", "any", "allow"),
             ("manager", "statistics.read", "any", "allow"),
             ("general_manager", "statistics.read", "any", "allow"),
             ("regulator_liaison", "statistics.read", "any", "allow"),
             ("receiver", "complaint.classify", "owner", "allow"),
             ("complaint_desk", "complaint.classify", "any", "allow"),
             ("investigator", "complaint.classify", "any", "allow"),
             ("manager", "complaint.classify", "any", "allow")],
}
"""The rules this revision introduced (frozen here; policies/<template>.csv holds them too)."""

_FACTS_BACKFILL = """
INSERT INTO complaint_facts (complaint_id, received_at, received_month, store_id, department_id, owner_id, category_id, cause,
    channel, business_type_id, cause_code_id, business_channel_id, area_id, status, valid, final_answer, referred,
    litigation, repeat, escalated, breached, satisfaction, final_answer_at, handling_days)
SELECT c.id, c.created_at, date_trunc('month', c.created_at AT TIME ZONE tz.name)::date, c.store_id,
    c.responsible_department_id, c.owner_id, c.category_id, c.cause,
    c.channel, c.business_type_id, c.cause_code_id, c.business_channel_id, c.area_id, c.status, i.valid,
    closed.at IS NOT NULL, c.status = 'REFERRED', c.litigation, c.repeat_of_id IS NOT NULL,
    c.status = 'ESCALATED' OR EXISTS (SELECT 1 FROM audit_events e WHERE e.subject_id = c.id
                                      AND e.to_status = 'ESCALATED'),
    EXISTS (SELECT 1 FROM deadlines d WHERE d.complaint_id = c.id AND d.party = 'COMPANY'
            AND d.breached_at IS NOT NULL),
    (SELECT s.rating FROM satisfaction_surveys s WHERE s.complaint_id = c.id
     ORDER BY s.recorded_at DESC, s.id LIMIT 1),
    closed.at,
    CASE WHEN closed.at IS NULL THEN NULL ELSE (
        SELECT count(*) FROM generate_series((c.created_at AT TIME ZONE tz.name)::date + 1,
                                             (closed.at AT TIME ZONE tz.name)::date, interval '1 day') AS g(day)
        LEFT JOIN calendar_days o ON o.day = g.day::date
        WHERE CASE WHEN o.kind IS NOT NULL THEN o.kind = 'WORKDAY' ELSE extract(isodow FROM g.day) < 6 END)
    END
FROM complaints c
LEFT JOIN investigations i ON i.complaint_id = c.id
CROSS JOIN (SELECT coalesce((SELECT timezone FROM tenant_settings WHERE id = 1), 'Asia/Shanghai') AS name) tz
LEFT JOIN LATERAL (
    SELECT coalesce(min(e.occurred_at), c.closed_at) AS at FROM audit_events e
    WHERE e.subject_id = c.id AND e.to_status = 'CLOSED') closed ON true
"""


def _seed_codes(bind: sa.engine.Connection, codes: list[Code]) -> None:
    for dimension, code, parent, zh, en, quality, standard in codes:
        bind.execute(sa.text(
            "INSERT INTO classification_codes (dimension, code, name_zh, name_en, parent_id, quality, standard) "
            "VALUES (CAST(:d AS varchar), :c, :zh, :en, (SELECT id FROM classification_codes "
            "WHERE dimension = CAST(:d AS varchar) AND code = CAST(:p AS varchar)), :q, :s) "
            "ON CONFLICT (dimension, code) DO NOTHING"),
            {"d": dimension, "c": code, "zh": zh, "en": en, "p": parent, "q": quality, "s": standard})


def _classify_existing(bind: sa.engine.Connection, template: str | None) -> None:
    # (1) a code whose code is the category's
    for dimension, column in COLUMNS.items():
        bind.execute(sa.text(
            f"UPDATE complaints c SET {column} = k.id FROM categories g, classification_codes k "  # noqa: S608
            "WHERE g.id = c.category_id AND k.dimension = :d AND k.code = g.code"), {"d": dimension})
    if template == "bank":
        for category, (dimension, code) in BANK_MAP.items():
            column = COLUMNS[dimension]
            bind.execute(sa.text(
                f"UPDATE complaints c SET {column} = k.id FROM categories g, classification_codes k "  # noqa: S608
                "WHERE g.id = c.category_id AND g.code = :g AND k.dimension = :d AND k.code = :c "
                f"AND c.{column} IS NULL"), {"g": category, "d": dimension, "c": code})
    # (2) the area from the category's (or its parent's) dimension
    bind.execute(sa.text(
        "UPDATE complaints c SET area_id = k.id FROM categories g LEFT JOIN categories p ON p.id = g.parent_id, "
        "classification_codes k WHERE g.id = c.category_id AND c.area_id IS NULL AND k.dimension = 'AREA' "
        "AND k.code = coalesce(g.dimension, p.dimension)"))
    # (3) the cause's top level from the category's quality / non-quality
    bind.execute(sa.text(
        "UPDATE complaints c SET cause_code_id = k.id FROM categories g LEFT JOIN categories p ON p.id = g.parent_id,"
        " classification_codes k WHERE g.id = c.category_id AND c.cause_code_id IS NULL AND k.dimension = 'CAUSE' "
        "AND k.parent_id IS NULL AND k.quality = coalesce(g.cause, p.cause)"))


def upgrade() -> None:
    op.create_table(
        "classification_codes",
        sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
        sa.Column("dimension", sa.String(32), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name_zh", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("parent_id", UUID(as_uuid=True), nullable=True),
        sa.Column("quality", sa.String(16), nullable=True),
        sa.Column("standard", sa.String(32), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.ForeignKeyConstraint(["parent_id"], ["classification_codes.id"], ondelete="RESTRICT",
                                name="fk_classification_codes_parent_id_classification_codes"),
        sa.UniqueConstraint("dimension", "code", name="uq_classification_codes_dimension_code"),
        sa.CheckConstraint("dimension IN ('BUSINESS_TYPE', 'CAUSE', 'BUSINESS_CHANNEL', 'AREA')",
                           name="ck_classification_codes_dimension"),
        sa.CheckConstraint("quality IS NULL OR quality IN ('QUALITY', 'NON_QUALITY')",
                           name="ck_classification_codes_quality"),
    )
    for column in COLUMNS.values():
        op.add_column("complaints", sa.Column(column, UUID(as_uuid=True), nullable=True))
        op.create_foreign_key(f"fk_complaints_{column}_classification_codes", "complaints", "classification_codes",
                              [column], ["id"], ondelete="RESTRICT")
    op.create_table(
        "complaint_facts",
        sa.Column("complaint_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_month", sa.Date(), nullable=False),
        sa.Column("store_id", UUID(as_uuid=True), nullable=True),
        sa.Column("department_id", UUID(as_uuid=True), nullable=True),
        sa.Column("owner_id", UUID(as_uuid=True), nullable=True),
        sa.Column("category_id", UUID(as_uuid=True), nullable=True),
        sa.Column("cause", sa.String(16), nullable=True),
        sa.Column("channel", sa.String(24), nullable=False),
        *[sa.Column(column, UUID(as_uuid=True), nullable=True) for column in COLUMNS.values()],
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=True),
        sa.Column("final_answer", sa.Boolean(), nullable=False),
        sa.Column("referred", sa.Boolean(), nullable=False),
        sa.Column("litigation", sa.Boolean(), nullable=False),
        sa.Column("repeat", sa.Boolean(), nullable=False),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.Column("breached", sa.Boolean(), nullable=False),
        sa.Column("satisfaction", sa.String(24), nullable=True),
        sa.Column("final_answer_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("handling_days", sa.Numeric(8, 1), nullable=True),
        sa.ForeignKeyConstraint(["complaint_id"], ["complaints.id"], ondelete="CASCADE",
                                name="fk_complaint_facts_complaint_id_complaints"),
        sa.PrimaryKeyConstraint("complaint_id", name="pk_complaint_facts"),
    )
    op.create_index("ix_complaint_facts_received_at", "complaint_facts", ["received_at"])

    bind = op.get_bind()
    template = bind.execute(
        sa.text("SELECT template FROM public.tenants WHERE schema_name = current_schema()")).scalar()
    _seed_codes(bind, LISTS.get(template or "", AREA))
    _classify_existing(bind, template)
    bind.execute(sa.text(_FACTS_BACKFILL))

    roles = set(bind.execute(sa.text("SELECT name FROM roles")).scalars())
    added = 0
    for role, action, relation, effect in NEW_RULES.get(template or "", []):
        if role not in roles:
            continue
        added += bind.execute(sa.text(
            "INSERT INTO policy_rules (ptype, v0, v1, v2, v3, v4) SELECT 'p', r, '*', a, rel, e "
            "FROM (SELECT CAST(:r AS varchar) AS r, CAST(:a AS varchar) AS a, CAST(:rel AS varchar) AS rel, "
            "CAST(:e AS varchar) AS e) x WHERE NOT EXISTS (SELECT 1 FROM policy_rules p WHERE p.ptype = 'p' "
            "AND p.v0 = x.r AND p.v2 = x.a AND p.v3 = x.rel AND p.v4 = x.e)"),
            {"r": role, "a": action, "rel": relation, "e": effect}).rowcount
    if added:
        op.execute("UPDATE policy_state SET version = version + 1, updated_at = now()")


def downgrade() -> None:
    bind = op.get_bind()
    removed = bind.execute(sa.text(
        "DELETE FROM policy_rules WHERE v2 IN ('statistics.read', 'classification.manage', 'complaint.classify')"
    )).rowcount
    if removed:
        op.execute("UPDATE policy_state SET version = version + 1, updated_at = now()")
    op.drop_index("ix_complaint_facts_received_at", table_name="complaint_facts")
    op.drop_table("complaint_facts")
    for column in COLUMNS.values():
        op.drop_constraint(f"fk_complaints_{column}_classification_codes", "complaints", type_="foreignkey")
        op.drop_column("complaints", column)
    op.drop_table("classification_codes")
