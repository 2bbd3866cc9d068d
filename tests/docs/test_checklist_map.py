"""docs/checklist.md maps every checklist id to real code and real tests, and stays true."""

from __future__ import annotations

import re

import pytest

from tests.docs.checklist_map import (
    LINK,
    ROOT,
    TEST_ID,
    all_test_ids,
    checklist_ids,
    marked_tests,
    rows,
)

SHARED = ROOT.parent / "shared" / "checklist.yaml"
DOC = ROOT / "docs" / "checklist.md"


@pytest.fixture(scope="module")
def table() -> dict[str, str]:
    return rows(DOC.read_text())


def test_project_checklist_matches_the_shared_one() -> None:
    if not SHARED.exists():
        pytest.skip("../shared/checklist.yaml is not next to this checkout")
    assert (ROOT / "docs" / "checklist.yaml").read_text() == SHARED.read_text()


def test_every_checklist_id_has_a_row(table: dict[str, str]) -> None:
    missing = sorted(set(checklist_ids()) - set(table))
    assert not missing, f"docs/checklist.md has no row for {missing}"
    unknown = sorted(set(table) - set(checklist_ids()))
    assert not unknown, f"docs/checklist.md has rows for unknown ids {unknown}"


def test_every_code_link_resolves(table: dict[str, str]) -> None:
    for checklist_id, row in table.items():
        for link in LINK.finditer(row):
            target = (DOC.parent / link["target"]).resolve()
            assert target.exists(), f"{checklist_id}: {link['target']} does not exist"
            symbol = link["text"].strip("`")
            names_the_file = symbol == target.name
            if (
                target.suffix == ".py"
                and not names_the_file
                and re.fullmatch(r"[A-Za-z_]\w*", symbol)
            ):
                name = symbol.rsplit(".", 1)[-1]
                source = target.read_text()
                assert re.search(
                    rf"^\s*(async def|def|class)\s+{name}\b|^\s*{name}\s*[:=]", source, re.M
                ), f"{checklist_id}: {symbol} is not defined in {link['target']}"


def test_listed_tests_exist_and_carry_the_id(table: dict[str, str]) -> None:
    existing = all_test_ids()
    marked = marked_tests()
    for checklist_id, row in table.items():
        for test_id in TEST_ID.findall(row):
            assert test_id in existing, f"{checklist_id}: {test_id} does not exist"
            assert test_id in marked.get(checklist_id, set()), (
                f"{checklist_id}: {test_id} is listed but not marked "
                f'@pytest.mark.checklist("{checklist_id}")'
            )


def test_every_marked_test_is_listed_under_its_id(table: dict[str, str]) -> None:
    for checklist_id, tests in marked_tests().items():
        listed = set(TEST_ID.findall(table.get(checklist_id, "")))
        unlisted = sorted(tests - listed)
        assert not unlisted, (
            f"docs/checklist.md does not list {unlisted} under {checklist_id} "
            "(`uv run python -m tests.docs.checklist_map` prints them all)"
        )


def test_unknown_checklist_id_fails_collection(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.checklist("api.no-such-line")
        def test_typo():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "tests.checklist_plugin", "-p", "no:cacheprovider")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*unknown checklist id 'api.no-such-line'*"])
