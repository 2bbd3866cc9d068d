"""The README's settings table, generated from `Settings` (a test keeps the two identical).

uv run python -m tests.core.settings_table    # print the table to paste into README.md
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from app.core.config import Settings

BEGIN = "<!-- settings-table:begin -->"
END = "<!-- settings-table:end -->"


def _default(field: Any) -> str:
    value = field.default_factory() if field.default_factory is not None else field.default
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    if isinstance(value, SecretStr) or any(isinstance(item, SecretStr) for item in items):
        return "dev placeholder"
    if value is None:
        return "unset"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list):
        # As the variable is written: comma-separated.
        return ",".join(str(item) for item in value) or "empty"
    return str(value)


def _rows(model: type[BaseSettings], prefix: str = "") -> list[str]:
    rows: list[str] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseSettings):
            rows += _rows(annotation, str(annotation.model_config.get("env_prefix", "")))
            continue
        meaning = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{(prefix + name).upper()}` | `{_default(field)}` | {meaning} |")
    return rows


def settings_table() -> str:
    return "\n".join(["| Variable | Default | Meaning |", "|---|---|---|", *_rows(Settings)])


if __name__ == "__main__":
    print(settings_table())  # noqa: T201
