"""A page of the incident table as plain HTML: the browser sets it in one go, no table library.

A grid widget (Tabulator) measured every cell and row of each page in the
browser, about 0.4 s at page load and tens of milliseconds per filter change,
for 50 rows that need none of its features: paging is the page's own (the
server reads only the rows shown).  Every value is HTML-escaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pandas as pd

__all__ = ["HEADERS", "TABLE_CLASS", "table_html"]

TABLE_CLASS = "incident-table"
HEADERS = {
    "date_local": "When (Chicago)",
    "id": "ID",
    "case_number": "Case",
    "primary_type": "Type",
    "description": "Description",
    "block": "Block",
    "location_description": "Location",
    "arrest": "Arrest",
    "domestic": "Domestic",
    "district": "District",
    "community_area": "Community area",
}
# Scrolls inside a fixed height (the page never changes size with the row count); the header stays.
_STYLE = (
    f"<style>.{TABLE_CLASS}-box{{max-height:400px;overflow:auto;border:1px solid #dee2e6}}"
    f".{TABLE_CLASS}{{border-collapse:collapse;width:100%;font-size:0.85em}}"
    f".{TABLE_CLASS} th{{position:sticky;top:0;background:#f8f9fa;text-align:left}}"
    f".{TABLE_CLASS} th,.{TABLE_CLASS} td{{padding:2px 6px;border-bottom:1px solid #eee;white-space:nowrap}}"
    "</style>"
)


def _cell(value: Any) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, (datetime, pd.Timestamp)):
        return value.strftime("%Y-%m-%d %H:%M")
    return html.escape(str(value))


def table_html(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> str:
    """The rows of ``frame`` (in its order) as an HTML table of ``columns`` (default: all of them)."""
    names = list(columns) if columns is not None else [str(c) for c in frame.columns]
    head = "".join(f"<th>{html.escape(HEADERS.get(name, name))}</th>" for name in names)
    values = [frame[name].astype(object).tolist() for name in names]
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in zip(*values, strict=True))
    return (
        f'{_STYLE}<div class="{TABLE_CLASS}-box"><table class="{TABLE_CLASS}">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )
