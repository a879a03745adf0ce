"""docs/lifecycle.md is drawn from the lifecycle's table and must not drift from it."""

from __future__ import annotations

from helpers import ROOT, run_cli

from services.core.complaints import lifecycle
from services.core.complaints.models import ComplaintStatus

DOC = ROOT / "docs" / "lifecycle.md"


def test_lifecycle_doc_matches_the_table() -> None:
    assert DOC.read_text(encoding="utf-8") == lifecycle.document(), (
        "docs/lifecycle.md drifted from services/core/complaints/lifecycle.py: run `complaintdesk lifecycle-doc`")
    assert run_cli("lifecycle-doc", "--check").returncode == 0


def test_every_status_is_reachable_and_every_mutation_named_once() -> None:
    text = DOC.read_text(encoding="utf-8")
    for status in ComplaintStatus:
        assert f"--> {status}" in text, status  # every status is the end of some move in the diagram
    mutations = [s.mutation for s in lifecycle.STEPS.values()]
    assert len(mutations) == len(set(mutations))
