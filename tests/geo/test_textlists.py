"""Comma-separated lists: one splitting rule for query parameters, options and headers."""

from __future__ import annotations

import pytest

from geo.bbox import parse_bbox
from geo.errors import InvalidBBox
from geo.textlists import split_list


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, []),
        ("", []),
        ("farmland", ["farmland"]),
        (" farmland , reservoirs ", ["farmland", "reservoirs"]),
        ("a,,b,", ["a", "b"]),
        (" , ,", []),
        ("430321,430321", ["430321", "430321"]),
        ("易俗河,湘潭县", ["易俗河", "湘潭县"]),
    ],
)
def test_split_list_trims_and_drops_empty_items(text, expected):
    assert split_list(text) == expected


def test_keep_empty_keeps_the_positions():
    assert split_list("1, ,3,", keep_empty=True) == ["1", "", "3", ""]
    assert split_list("", keep_empty=True) == []


def test_bbox_with_an_empty_member_is_still_rejected():
    assert parse_bbox(" 112.8, 27.8 ,113.0,27.9") == (112.8, 27.8, 113.0, 27.9)
    with pytest.raises(InvalidBBox):
        parse_bbox("112.8,,27.8,113.0,27.9")
    with pytest.raises(InvalidBBox):
        parse_bbox("112.8,27.8,113.0,27.9,")
