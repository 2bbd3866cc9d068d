"""docs/review.md keeps the checklist's output format exactly, and every issue points at a real
line: a review whose locations have drifted from the code is a review nobody can act on."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REVIEW = ROOT / "docs" / "review.md"
SECTIONS = [
    "## Backend Review",
    "### API Design",
    "### Data Modeling",
    "### Database Performance",
    "### Authentication & Security",
    "### Scalability Considerations",
    "### Integration Quality",
    "### Issues",
    "### Recommendations",
]
HEADER = "| Severity | Issue | Location | Recommendation |"
ROW = re.compile(r"^\| (HIGH|MEDIUM|LOW) \| (.+) \| `([\w./-]+):(\d+)` \| (.+) \|$")


def test_the_review_has_the_checklists_sections_in_order() -> None:
    headings = [line for line in REVIEW.read_text().splitlines() if line.startswith("##")]
    assert headings == SECTIONS


def test_every_issue_has_a_severity_and_a_real_file_and_line() -> None:
    lines = REVIEW.read_text().splitlines()
    start = lines.index(HEADER)
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        match = ROW.match(line)
        assert match, f"not `| SEVERITY | issue | `file:line` | fix |`: {line[:80]}"
        path, number = ROOT / match[3], int(match[4])
        assert path.is_file(), f"{match[3]} does not exist"
        assert number <= len(path.read_text().splitlines()), f"{match[3]} has no line {number}"
        rows.append(match[1])
    assert rows, "the issues table is empty"
    order = ["HIGH", "MEDIUM", "LOW"]
    assert rows == sorted(rows, key=order.index), "issues are listed by severity"
    recommendations = lines[lines.index("### Recommendations") + 1 :]
    assert any(re.match(r"^1\. \S", line) for line in recommendations)
