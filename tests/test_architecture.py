"""Import direction: core imports neither api nor worker; api never imports the worker."""

from __future__ import annotations

import ast

from helpers import ROOT


def _imports(path: object) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))  # type: ignore[attr-defined]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_imports_neither_api_nor_worker() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            n for n in _imports(path) if n.startswith(("services.api", "services.worker", "services.cli"))
        )
        for path in (ROOT / "services" / "core").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_tenant_tables_use_the_placeholder_schema() -> None:
    """Every tenant table is declared in the 'tenant' placeholder, so unbound SQL fails closed."""
    import services.core.diagnostics.models
    import services.core.org.models  # noqa: F401
    from services.core.db import TENANT_SCHEMA_PLACEHOLDER, TenantBase

    assert TenantBase.metadata.tables
    assert {t.schema for t in TenantBase.metadata.tables.values()} == {TENANT_SCHEMA_PLACEHOLDER}


def test_api_never_imports_the_worker() -> None:
    """The API asks for background work through the core queue port (services.core.queue); only the composition
    roots (services/cli) know the worker's Dramatiq adapter."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            n for n in _imports(path) if n.startswith(("services.worker", "services.cli"))
        )
        for path in (ROOT / "services" / "api").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
