"""Base classes for request and response bodies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


def _storable(value: Any, path: str = "") -> str | None:
    """The path of the first string PostgreSQL can't store (a NUL character, or a lone
    surrogate that has no UTF-8 encoding), else None."""
    if isinstance(value, str):
        if "\x00" in value:
            return path or "body"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "body"
        return None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if (found := _storable(item, f"{path}.{key}" if path else str(key))) is not None:
            return found
    return None


class RequestBody(BaseModel):
    """Input: unknown fields are an error (a typo must not be silently ignored), and text that
    the database can't store is refused here with a 422 instead of failing in the driver."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _refuse_unstorable_text(cls, data: Any) -> Any:
        if (where := _storable(data)) is not None:
            raise ValueError(f"{where}: text contains a NUL character or invalid Unicode")
        return data


class ResponseBody(BaseModel):
    """Output: built from ORM objects or rows by attribute."""

    model_config = ConfigDict(from_attributes=True)
