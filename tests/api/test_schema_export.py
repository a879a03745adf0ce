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
