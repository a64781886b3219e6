"""CSV cells that would run as spreadsheet formulas get a leading quote; numbers do not."""

from __future__ import annotations

import pytest

from service.core.spreadsheet import safe_cell, safe_row


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-1.5", "-1.5"),
        ("+3", "+3"),
        ("-1e-3", "-1e-3"),
        ("-inf", "'-inf"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
        (-1.5, -1.5),
        (None, None),
    ],
)
def test_a_cell_is_disarmed_only_when_it_would_run(cell: object, written: object) -> None:
    assert safe_cell(cell) == written


def test_a_row_is_disarmed_cell_by_cell() -> None:
    assert safe_row(["=1", -2, "x"]) == ["'=1", -2, "x"]
