"""The filter state as URL query parameters, so a view can be shared and reloaded.

:class:`UrlState` holds one plain string per filter; the page keeps it in step
with its widgets and Panel's ``pn.state.location.sync`` keeps it in step with
the browser's address bar.  Parsing is forgiving: a value that does not make
sense (hand-edited URL, an old link) is ignored, never an error.

    ?start=2024-01-01&end=2024-01-31&types=["THEFT","BATTERY"]&district=["001"]
     &area=["32"]&arrest=yes&domestic=no&hours=18-23&grain=week
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

import param

__all__ = ["URL_PARAMETERS", "UrlFilters", "UrlState", "parse_url_state"]

log = logging.getLogger(__name__)

_TRI = {"yes": True, "no": False, "": None, "all": None}


class UrlState(param.Parameterized):
    """One string per filter, as it appears in the URL (empty: not set)."""

    start = param.String(default="")
    end = param.String(default="")
    types = param.String(default="")
    district = param.String(default="")
    area = param.String(default="")
    arrest = param.String(default="")
    domestic = param.String(default="")
    hours = param.String(default="")
    grain = param.String(default="")


URL_PARAMETERS = ("start", "end", "types", "district", "area", "arrest", "domestic", "hours", "grain")


@dataclass(frozen=True)
class UrlFilters:
    """What a URL asked for; ``None`` where it asked for nothing usable."""

    start: date | None = None
    end: date | None = None
    types: tuple[str, ...] | None = None
    districts: tuple[str, ...] | None = None
    areas: tuple[str, ...] | None = None
    arrest: str | None = None  # "All", "Yes" or "No"
    domestic: str | None = None
    hours: tuple[int, int] | None = None
    grain: str | None = None


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _strings(text: str) -> tuple[str, ...] | None:
    if not text:
        return None
    try:
        value: Any = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    return tuple(str(v) for v in value)


def _tri(text: str) -> str | None:
    key = text.strip().lower()
    if key not in _TRI or not text:
        return None
    return {True: "Yes", False: "No", None: "All"}[_TRI[key]]


def _hours(text: str) -> tuple[int, int] | None:
    try:
        low, high = (int(part) for part in text.split("-", 1))
    except ValueError:
        return None
    return (low, high) if 0 <= low <= high <= 23 else None


def parse_url_state(values: dict[str, Any]) -> UrlFilters:
    """Read query parameters (strings, or lists as Panel may hand them over)."""

    def text(name: str) -> str:
        value = values.get(name, "")
        if isinstance(value, list):  # a multi-valued parameter may arrive as list already
            return json.dumps([str(v) for v in value])
        return str(value) if value is not None else ""

    grain = text("grain").lower()
    return UrlFilters(
        start=_date(text("start")),
        end=_date(text("end")),
        types=_strings(text("types")),
        districts=_strings(text("district")),
        areas=_strings(text("area")),
        arrest=_tri(text("arrest")),
        domestic=_tri(text("domestic")),
        hours=_hours(text("hours")),
        grain=grain if grain in ("auto", "day", "week") else None,
    )
