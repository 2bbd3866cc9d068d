"""Static rules: ruff's security (bandit) rules run on app/ and worker/ in `make lint`; here,
every suppression of a lint or type check must say why, so an ignore is a decision someone
wrote down, not a way to make CI green."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUPPRESSION = re.compile(r"#\s*(noqa|type:\s*ignore)(.*)$")
EXPLAINED_NOQA = re.compile(r"^:\s*[A-Z0-9, ]+\s+-\s*\S.{2,}")
EXPLAINED_TYPE_IGNORE = re.compile(r"^\[[a-z0-9_, -]+\]\s+#\s*\S.{2,}")


@pytest.mark.checklist("anti.sec.sql-injection", "anti.sec.credentials-in-logs")
def test_every_suppression_in_the_service_carries_its_reason() -> None:
    unexplained = []
    for folder in ("app", "worker", "migrations"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                match = SUPPRESSION.search(line)
                if not match:
                    continue
                kind, rest = match.groups()
                pattern = EXPLAINED_NOQA if kind == "noqa" else EXPLAINED_TYPE_IGNORE
                if not pattern.match(rest):
                    unexplained.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not unexplained, "\n".join(unexplained)


def test_ruff_runs_the_security_rules_with_no_blanket_ignores() -> None:
    config = (ROOT / "pyproject.toml").read_text()
    selected = re.search(r"\[tool\.ruff\.lint\]\s*select = \[(.*?)\]", config, re.S)
    assert selected is not None
    assert '"S"' in selected.group(1), "the bandit rule set (S) must stay selected"
    ignored = re.search(
        r"\[tool\.ruff\.lint\]\s*select = \[.*?\]\s*ignore = \[(.*?)\]", config, re.S
    )
    assert ignored is not None
    assert not re.search(r'"S\d*"', ignored.group(1)), "no security rule is ignored globally"
