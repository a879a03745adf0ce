"""bench/list_vs_bare.py: the query PostGraphile gets is the real app's list query, spelled for its schema.

The real query must be valid against the exported schema (so the bench measures what a client can send), and the
PostGraphile query must select exactly the same fields once its one extra argument (the order, which the real
list has as its default) is taken out. The views PostGraphile sees must carry every column the selection reads.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import re
import sys
from types import ModuleType

import graphql
import orjson
import pytest
from helpers import ROOT


@functools.cache
def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_list_vs_bare", ROOT / "bench" / "list_vs_bare.py")
    assert spec is not None and spec.loader is not None
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # its dataclasses look themselves up
    spec.loader.exec_module(module)
    return module


def _without_order(document: graphql.DocumentNode) -> str:
    class DropOrderBy(graphql.Visitor):
        def enter_argument(self, node: graphql.ArgumentNode, *_: object) -> object:
            return graphql.REMOVE if node.name.value == "orderBy" else None

    return graphql.print_ast(graphql.visit(document, DropOrderBy()))


def test_the_real_query_is_valid_against_the_exported_schema() -> None:
    bench = _bench()
    schema = graphql.build_schema((ROOT / "frontend-schema" / "schema.graphql").read_text(encoding="utf-8"))
    assert graphql.validate(schema, graphql.parse(bench.QUERY)) == []


def test_postgraphile_gets_the_same_selection_with_the_order_spelled_out() -> None:
    bench = _bench()
    real, pg = graphql.parse(bench.QUERY), graphql.parse(bench.PG_QUERY)
    assert "orderBy" in graphql.print_ast(pg)
    assert _without_order(pg) == graphql.print_ast(real)
    assert _without_order(real) == graphql.print_ast(real)  # the real query has no order argument to drop


def test_the_views_carry_every_column_the_selection_reads() -> None:
    sql = (ROOT / "bench" / "postgraphile" / "schema.sql").read_text(encoding="utf-8")
    views = {m[1]: {c.strip() for c in m[2].split(",")}
             for m in re.finditer(r"CREATE VIEW postgraphile_bench\.(\w+) AS\s+SELECT (.*?)\s+FROM", sql, re.S)}
    assert views == {
        "users": {"id", "display_name"},
        "org_units": {"id", "name"},
        "categories": {"id", "name"},
        "complaints": {"id", "number", "status", "title", "created_at", "owner_id", "responsible_department_id",
                       "category_id"},
    }


def test_each_server_is_sent_its_own_request() -> None:
    bench = _bench()
    assert bench.SERVERS == ("real", "compiled", "postgraphile", "bare")
    for mode, query in (("real", bench.QUERY), ("bare", bench.QUERY), ("postgraphile", bench.PG_QUERY)):
        assert orjson.loads(bench.request_body(mode, 7)) == {"query": query, "variables": {"n": 7}}
    compiled = orjson.loads(bench.request_body("compiled", 7))
    assert compiled["variables"] == {"first": 7} and "query" not in compiled
    digest = compiled["extensions"]["persistedQuery"]["sha256Hash"]
    manifest = orjson.loads((ROOT / "frontend-schema" / "persisted-documents.json").read_bytes())
    assert manifest[digest].startswith("query Inbox(")
    assert hashlib.sha256(manifest[digest].encode()).hexdigest() == digest


def test_servers_outside_the_four_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        _bench().main(["--servers", "real,compiled,hasura"])
    assert exit_.value.code == 2
    assert "--servers: a comma-separated subset of real,compiled,postgraphile,bare" in capsys.readouterr().err
