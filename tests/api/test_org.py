"""Organisation admin through GraphQL: users, roles, categories; and what the templates seed."""

from __future__ import annotations

import uuid

from conftest import TENANT_A, TENANT_B, GraphQLClient
from helpers import scalar

CATEGORIES = "{ categories { code name cause dimension parentCode active } }"
CREATE_USER = """mutation ($input: CreateUserInput!) { createUser(input: $input) {
  user { id email roles orgUnit { code } } userErrors { field message code } } }"""
ASSIGN = """mutation ($input: AssignRoleInput!) { assignRole(input: $input) {
  user { email roles } userErrors { field code } } }"""
UPSERT = """mutation ($input: UpsertCategoryInput!) { upsertCategory(input: $input) {
  category { code name cause parentCode } userErrors { field message code } } }"""


async def test_templates_seed_categories_and_roles(gql: GraphQLClient) -> None:
    retail = {c["code"]: c for c in (await gql(CATEGORIES, tenant=TENANT_A))["categories"]}
    assert retail["Q-DEFECT"]["cause"] == "QUALITY" and retail["Q-DEFECT"]["parentCode"] == "QUALITY"
    assert retail["NQ-SERVICE"]["cause"] == "NON_QUALITY"
    bank = {c["code"]: c for c in (await gql(CATEGORIES, tenant=TENANT_B))["categories"]}
    assert {c["dimension"] for c in bank.values()} == {
        "PRODUCT", "SERVICE", "CHANNEL", "STAFF_BEHAVIOUR", "INTERNAL_MANAGEMENT", "FINANCIAL_CRIME"}
    roles_a = {r["name"] for r in (await gql("{ roles { name } }", tenant=TENANT_A))["roles"]}
    roles_b = {r["name"] for r in (await gql("{ roles { name } }", tenant=TENANT_B))["roles"]}
    assert {"receiver", "investigator", "complaint_desk", "handler", "approver", "reviewer"} <= roles_a & roles_b
    assert "store_manager" in roles_a and "regulator_liaison" in roles_b


async def test_create_user_and_assign_roles(gql: GraphQLClient) -> None:
    units = {u["code"]: u["id"] for u in (await gql("{ orgUnits { id code } }"))["orgUnits"] if u["code"]}
    email = f"new-{uuid.uuid4().hex[:6]}@test.example"
    created = await gql(CREATE_USER, {"input": {"email": email.upper(), "displayName": "New Person",
                                                "roles": ["receiver"], "orgUnitId": units["CS"]}},
                        user="admin@test.example")
    user = created["createUser"]["user"]
    assert (user["email"], user["roles"], user["orgUnit"]) == (email, ["receiver"], {"code": "CS"})
    assigned = await gql(ASSIGN, {"input": {"userId": user["id"], "roles": ["handler", "investigator"]}},
                         user="admin@test.example")
    assert assigned["assignRole"]["user"]["roles"] == ["handler", "investigator"]

    before = await scalar("SELECT count(*) FROM tenant_alpha.users")
    duplicate = await gql(CREATE_USER, {"input": {"email": email, "displayName": "Again"}}, user="admin@test.example")
    assert duplicate["createUser"]["userErrors"][0]["code"] == "DUPLICATE"
    bad_role = await gql(CREATE_USER, {"input": {"email": "x-" + email, "displayName": "X", "roles": ["wizard"]}},
                         user="admin@test.example")
    assert bad_role["createUser"]["userErrors"] == [
        {"field": ["roles"], "message": "unknown role(s): wizard", "code": "NOT_FOUND"}]
    assert await scalar("SELECT count(*) FROM tenant_alpha.users") == before
    unchanged = await gql(ASSIGN, {"input": {"userId": user["id"], "roles": ["receiver", "wizard"]}},
                          user="admin@test.example")
    assert unchanged["assignRole"]["userErrors"] == [{"field": ["roles"], "code": "NOT_FOUND"}]
    assert await scalar("SELECT roles FROM tenant_alpha.users WHERE email = :e", e=email) == ["handler", "investigator"]


async def test_upsert_category_tree(gql: GraphQLClient) -> None:
    code = f"C-{uuid.uuid4().hex[:6]}"
    made = await gql(UPSERT, {"input": {"code": code, "name": "Smell", "parentCode": "QUALITY", "cause": "QUALITY"}})
    assert made["upsertCategory"]["category"] == {"code": code, "name": "Smell", "cause": "QUALITY",
                                                  "parentCode": "QUALITY"}
    renamed = await gql(UPSERT, {"input": {"code": code, "name": "Odour", "parentCode": "QUALITY",
                                           "cause": "QUALITY"}})
    assert renamed["upsertCategory"]["category"]["name"] == "Odour"
    assert await scalar("SELECT count(*) FROM tenant_alpha.categories WHERE code = :c", c=code) == 1
    cycle = await gql(UPSERT, {"input": {"code": "QUALITY", "name": "Quality", "parentCode": code}})
    assert cycle["upsertCategory"]["userErrors"] == [
        {"field": ["parentCode"], "message": "the parent would make a cycle", "code": "INVALID"}]
    missing = await gql(UPSERT, {"input": {"code": "X1", "name": "x", "parentCode": "NOPE"}})
    assert missing["upsertCategory"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert await scalar("SELECT parent_id FROM tenant_alpha.categories WHERE code = 'QUALITY'") is None
    # another tenant's tree is untouched
    assert await scalar("SELECT count(*) FROM tenant_beta.categories WHERE code = :c", c=code) == 0
