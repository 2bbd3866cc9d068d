"""What `docs/checklist.md` must say, read from the code base itself.

uv run python -m tests.docs.checklist_map    # the tests marked with each checklist id
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def checklist_ids() -> dict[str, str]:
    """Every id of docs/checklist.yaml with its line of text."""
    data = yaml.safe_load((ROOT / "docs" / "checklist.yaml").read_text())
    ids: dict[str, str] = {}
    for section in ("checklist", "anti_patterns"):
        for group in data[section].values():
            ids.update(group["items"])
    ids.update(data["guides"])
    return ids


def _marker_ids(decorators: list[ast.expr]) -> set[str]:
    ids: set[str] = set()
    for decorator in decorators:
        call = decorator
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "checklist"
        ):
            ids.update(
                arg.value
                for arg in call.args
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            )
    return ids


def _module_marker_ids(tree: ast.Module) -> set[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "pytestmark" for target in node.targets
        ):
            values = node.value.elts if isinstance(node.value, ast.List) else [node.value]
            return _marker_ids(values)
    return set()


def marked_tests() -> dict[str, set[str]]:
    """checklist id -> test ids (`tests/x/test_y.py::test_z`) that carry its marker."""
    tests: dict[str, set[str]] = defaultdict(set)
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        tree = ast.parse(path.read_text())
        module_ids = _module_marker_ids(tree)
        relative = path.relative_to(ROOT).as_posix()
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test_"
            ):
                for checklist_id in module_ids | _marker_ids(node.decorator_list):
                    tests[checklist_id].add(f"{relative}::{node.name}")
    return dict(tests)


def all_test_ids() -> set[str]:
    """Every test function id in the suite."""
    found: set[str] = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        relative = path.relative_to(ROOT).as_posix()
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith(
                "test_"
            ):
                found.add(f"{relative}::{node.name}")
    return found


ROW = re.compile(r"^\|\s*`(?P<id>[a-z0-9.-]+)`\s*\|(?P<rest>.*)\|\s*$")
LINK = re.compile(r"\[(?P<text>[^\]]+)\]\((?P<target>[^)#]+)(?:#[^)]*)?\)")
TEST_ID = re.compile(r"`(tests/[\w/]+\.py::\w+)`")


def rows(markdown: str) -> dict[str, str]:
    """checklist id -> the rest of its table row."""
    found: dict[str, str] = {}
    for line in markdown.splitlines():
        if match := ROW.match(line):
            found[match["id"]] = match["rest"]
    return found


if __name__ == "__main__":
    for checklist_id, tests in sorted(marked_tests().items()):
        print(checklist_id)  # noqa: T201
        for test in sorted(tests):
            print(f"    `{test}`")  # noqa: T201
