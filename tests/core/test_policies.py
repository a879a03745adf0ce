"""The default policies are valid, and policies/README.md documents every action."""

from __future__ import annotations

import pytest
from helpers import ROOT

from services.core import authz
from tenants.templates import TEMPLATES


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_default_rules_are_valid_for_their_template(template: str) -> None:
    rules = authz.default_rules(template)
    roles = [name for name, _ in TEMPLATES[template].roles]
    assert authz.validate_rules(rules, roles) == []
    assert {r.action for r in rules} == {a.value for a in authz.Action}  # every action has someone


def test_readme_lists_every_action_and_relation() -> None:
    readme = (ROOT / "policies" / "README.md").read_text(encoding="utf-8")
    for action in authz.Action:
        assert f"`{action.value}`" in readme, action
    for relation in authz.Relation:
        assert f"`{relation.value}`" in readme, relation


@pytest.mark.parametrize(
    ("expression", "relations", "holds"),
    [
        ("any", set(), True),
        ("owner", {"owner"}, True),
        ("owner", set(), False),
        ("owner&approved", {"owner"}, False),
        ("owner&approved", {"owner", "approved"}, True),
        ("!handler", {"owner"}, True),
        ("!handler", {"handler"}, False),
    ],
)
def test_relation_expressions(expression: str, relations: set[str], holds: bool) -> None:
    resource = authz.Resource(relations=frozenset(relations))
    assert authz.relation_holds(resource, expression) is holds
    assert authz.check_relation(expression) is None


@pytest.mark.parametrize("bad", ["owner|store", "owner&&approved", "wizard", "", "OWNER", "owner & approved"])
def test_malformed_relation_expressions_are_refused(bad: str) -> None:
    assert authz.check_relation(bad) is not None


@pytest.mark.parametrize(
    ("mask", "value", "expected"),
    [
        (authz.mask_name, "张三", "张*"),
        (authz.mask_name, "欧阳修", "欧**"),
        (authz.mask_name, "John Smith", "J*** S****"),
        (authz.mask_phone, "13812345678", "138****5678"),
        (authz.mask_phone, "+86 138 1234 5678", "138****5678"),
        (authz.mask_phone, "010-8888", "*****88"),
        (authz.mask_email, "zhang@example.com", "z***@example.com"),
        (authz.mask_id_number, "110101199003071234", "110***********1234"),
        (authz.mask_address, "上海市浦东新区世纪大道100号", "上海市浦东新***"),
    ],
)
def test_masking(mask: object, value: str, expected: str) -> None:
    assert mask(value) == expected  # type: ignore[operator]
