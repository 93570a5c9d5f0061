"""Comma-separated lists in query parameters, command-line options and HTTP headers."""

from __future__ import annotations


def split_list(text: str | None, *, keep_empty: bool = False) -> list[str]:
    """Split comma-separated text into its items, each stripped of surrounding whitespace.

    Parameters
    ----------
    text : the comma-separated text; None or ``""`` give an empty list.
    keep_empty : keep empty items (``"1,,2"`` gives three) so that a caller expecting a fixed number of
        values, such as a bbox's four numbers, can reject a missing one; by default they are dropped.

    Returns
    -------
    list[str]
        The items in their order, duplicates kept.

    Examples
    --------
    >>> split_list(" farmland, ,reservoirs,")
    ['farmland', 'reservoirs']
    >>> split_list("1,,2", keep_empty=True)
    ['1', '', '2']
    >>> split_list(None)
    []
    """
    if not text:
        return []
    items = [item.strip() for item in text.split(",")]
    return items if keep_empty else [item for item in items if item]


__all__ = ["split_list"]
