"""The `checklist` marker: `@pytest.mark.checklist("db.pooling")` names the checklist line
(docs/checklist.yaml) a test proves. An unknown id fails collection, so a typo can't silently
prove nothing."""

from __future__ import annotations

import pytest

from tests.docs.checklist_map import checklist_ids


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "checklist(id): the checklist id (docs/checklist.yaml) this test proves"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    known = checklist_ids()
    for item in items:
        for marker in item.iter_markers("checklist"):
            for checklist_id in marker.args:
                if checklist_id not in known:
                    raise pytest.UsageError(
                        f"{item.nodeid}: unknown checklist id {checklist_id!r} "
                        "(see docs/checklist.yaml)"
                    )
