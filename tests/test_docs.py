"""The documentation a clone has: every relative link of the READMEs and docs/ resolves inside the repository,
and nothing points at the design notes outside it (``../shared/``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", ROOT / "bench" / "README.md", ROOT / "deploy" / "helm" / "complaintdesk" / "README.md",
         *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve_inside_the_repository(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert "shared/design" not in text and "../shared" not in text
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue
        resolved = (page.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), (page.name, target)
        assert resolved.exists(), (page.name, target)


def test_the_readme_leads_to_the_docs() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/README.md)" in text
    index = (ROOT / "docs" / "README.md").read_text(encoding="utf-8")
    for page in ("product.md", "architecture.md", "graphql.md", "operations.md", "scaling.md",
                 "../policies/README.md"):
        assert f"]({page})" in index, page


def test_the_detector_sees_a_broken_link(tmp_path: Path) -> None:
    page = tmp_path / "x.md"
    page.write_text("see [it](missing.md) and [site](https://example.com)", encoding="utf-8")
    targets = LINK.findall(page.read_text(encoding="utf-8"))
    assert targets == ["missing.md", "https://example.com"]
    assert not (page.parent / targets[0]).exists()
