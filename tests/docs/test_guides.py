"""The guides and the other docs point at real things: every relative link resolves, and every
`path.py::name` they cite names a function, class or test that exists. A rename that would
leave a guide pointing at nothing fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
SYMBOL = re.compile(r"((?:app|tests|worker|migrations)/[\w/.-]+\.py)::(\w+)")


def _problems(document: Path) -> list[str]:
    text = document.read_text()
    problems = []
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        if not (document.parent / target).resolve().exists():
            problems.append(f"{document.relative_to(ROOT)}: broken link {target}")
    for path, name in SYMBOL.findall(text):
        source = ROOT / path
        if not source.exists():
            problems.append(f"{document.relative_to(ROOT)}: no file {path}")
        elif not _defines(source.read_text(), name):
            problems.append(f"{document.relative_to(ROOT)}: {path} has no {name}")
    return problems


def _defines(source: str, name: str) -> bool:
    """A def, class or assignment of `name`, or an import of it (pytest-alembic's tests)."""
    definition = rf"^\s*(async def|def|class)\s+{name}\b|^{name}\s*[:=]"
    imported = rf"^\s+{name},?$|^from .* import .*\b{name}\b"
    return bool(re.search(definition, source, re.M) or re.search(imported, source, re.M))


GUIDES = {
    "guide.indexing-query-plans": "guides/indexing-query-plans.md",
    "guide.cap-theorem": "guides/cap-theorem.md",
    "guide.rest-versioning": "guides/rest-versioning.md",
    "guide.profiling": "guides/profiling-monitoring.md",
    "guide.isolation-levels": "guides/isolation-levels.md",
    "guide.idempotency-retries": "guides/idempotency-retries.md",
}


def _check(guide_id: str) -> None:
    document = DOCS / GUIDES[guide_id]
    assert document.exists(), f"{guide_id}: {document.relative_to(ROOT)} is missing"
    problems = _problems(document)
    assert not problems, "\n".join(problems)


@pytest.mark.checklist("guide.indexing-query-plans")
def test_indexing_guide_points_at_real_code() -> None:
    _check("guide.indexing-query-plans")


@pytest.mark.checklist("guide.cap-theorem")
def test_cap_guide_points_at_real_code() -> None:
    _check("guide.cap-theorem")


@pytest.mark.checklist("guide.rest-versioning")
def test_rest_versioning_guide_points_at_real_code() -> None:
    _check("guide.rest-versioning")


@pytest.mark.checklist("guide.profiling")
def test_profiling_guide_points_at_real_code() -> None:
    _check("guide.profiling")


@pytest.mark.checklist("guide.isolation-levels")
def test_isolation_guide_points_at_real_code() -> None:
    _check("guide.isolation-levels")


@pytest.mark.checklist("guide.idempotency-retries")
def test_idempotency_guide_points_at_real_code() -> None:
    _check("guide.idempotency-retries")


def test_every_document_points_at_real_code() -> None:
    problems = [
        problem for document in sorted(DOCS.rglob("*.md")) for problem in _problems(document)
    ]
    readme = _problems(ROOT / "README.md")
    assert not problems + readme, "\n".join(problems + readme)
