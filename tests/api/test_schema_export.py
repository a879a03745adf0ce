"""frontend-schema/schema.graphql is exported from the code and must not drift."""

from __future__ import annotations

from helpers import ROOT, run_cli

from services.api.sdl import export_sdl

SDL = ROOT / "frontend-schema" / "schema.graphql"


def test_exported_schema_matches_the_code() -> None:
    assert SDL.read_text(encoding="utf-8") == export_sdl(), (
        "frontend-schema/schema.graphql drifted from the code: run `complaintdesk export-schema`"
    )


def test_export_schema_check_command(tmp_path: object) -> None:
    result = run_cli("export-schema", "--check")
    assert result.returncode == 0, result.stderr
    assert "is up to date" in result.stdout


def test_the_registered_documents_manifest_matches_the_operations() -> None:
    """Each operation of frontend-schema/operations with the fragments it uses, by its SHA-256, computed here
    independently of services/api/documents.py: hashlib over the committed manifest's texts, and every named
    operation of the operation files found in it."""
    import hashlib
    import json
    import re

    manifest = json.loads((ROOT / "frontend-schema" / "persisted-documents.json").read_text(encoding="utf-8"))
    for digest, document in manifest.items():
        assert hashlib.sha256(document.encode("utf-8")).hexdigest() == digest
    named = {m.group(2) for m in (re.search(r"^(query|mutation|subscription) (\w+)", d, re.M)
                                  for d in manifest.values()) if m}
    in_files = set()
    for path in (ROOT / "frontend-schema" / "operations").rglob("*.graphql"):
        in_files |= set(re.findall(r"^(?:query|mutation|subscription) (\w+)", path.read_text(encoding="utf-8"),
                                   re.M))
    assert named == in_files and len(manifest) == len(in_files)
