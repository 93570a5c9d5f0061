"""Text a client sends must be storable: proper Unicode (no lone surrogates) without NUL characters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def text_problem(value: str) -> str | None:
    """Return why ``value`` cannot be stored, or None.

    Examples
    --------
    >>> text_problem("湘潭县易俗河水库"), text_problem("a\\x00b"), text_problem("\\ud800")
    (None, 'contains a NUL character', 'is not valid Unicode (a lone surrogate)')
    """
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate)"
    return None


def fields_problem(fields: Mapping[str, Any]) -> str | None:
    """Return why a mapping of submitted fields cannot be stored, naming the field, or None."""
    for key, value in fields.items():
        problem = text_problem(str(key))
        if problem is not None:
            return f"a field name {problem}"
        problem = text_problem(value) if isinstance(value, str) else None
        if problem is not None:
            return f"{key} {problem}"
    return None
