"""Turning user-level changes into row versions, consistently.

Corrections and inserted rows arrive as field values the way a user (or the
admin API) writes them: ISO text, ``"true"``, numbers as strings.  A
:class:`RowEditor` applies them to a :class:`~emulator.store.RowVersion` and
keeps related fields consistent: a new ``primary_type`` brings that type's
iucr/description/fbi_code, a new ``beat`` its district/ward/community area,
removing one coordinate removes both.  Derived fields (year, x/y coordinates,
location, updated_on) cannot be set.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any

from emulator.calibration import Calibration
from emulator.generate import jitter_block
from emulator.store import RowVersion
from emulator.timeutil import DAY_MS, floating_ms, parse_fixed_literal, parse_floating_literal

__all__ = [
    "DERIVED",
    "EDITABLE",
    "RowEditor",
    "TimeLike",
    "first_day_of_year",
    "random_correction",
    "to_floating",
    "to_instant",
]

TimeLike = datetime | date | str

DERIVED = frozenset({"year", "x_coordinate", "y_coordinate", "location", "updated_on"})
EDITABLE = frozenset(
    {
        "case_number",
        "date",
        "block",
        "iucr",
        "primary_type",
        "description",
        "location_description",
        "arrest",
        "domestic",
        "beat",
        "district",
        "ward",
        "community_area",
        "fbi_code",
        "latitude",
        "longitude",
    }
)


def to_floating(value: TimeLike) -> int:
    """Floating ms of a wall-clock time: ISO text, a datetime (naive = Chicago wall clock) or a date."""
    if isinstance(value, str):
        parsed = parse_floating_literal(value)
        if parsed is None:
            raise ValueError(f"not a floating timestamp: {value!r}")
        return parsed
    if isinstance(value, datetime):
        return floating_ms(value)
    return floating_ms(datetime(value.year, value.month, value.day))


@lru_cache(maxsize=256)
def first_day_of_year(year: int) -> int:
    """The floating day number of January 1st."""
    return to_floating(date(year, 1, 1)) // DAY_MS


def to_instant(value: datetime | str | None) -> datetime | None:
    """An aware datetime from an ISO instant (``...Z``); datetimes and None pass through."""
    if value is None or isinstance(value, datetime):
        return value
    ms = parse_fixed_literal(value)
    if ms is None:
        raise ValueError(f"not a timestamp: {value!r}")
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        if value.lower() not in ("true", "false"):
            raise ValueError(f"not a boolean: {value!r}")
        return value.lower() == "true"
    return bool(value)


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _coordinate(value: Any) -> float | None:
    if value is None or value == "":
        return None
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not a coordinate: {value!r}")
    return number


class RowEditor:
    """Applies field changes to row versions of one dataset."""

    def __init__(self, calibration: Calibration, case_code_of: Callable[[str], int]) -> None:
        self.calibration = calibration
        self._case_code_of = case_code_of

    def _offense_for(self, current: tuple[str, str, str, str], changes: Mapping[str, Any]) -> tuple[str, str, str, str]:
        """The (iucr, primary_type, description, fbi_code) after ``changes``, kept consistent with the codes."""
        iucr, ptype, description, fbi = current
        if "primary_type" in changes:
            new_type = _text(changes["primary_type"]) or ptype
            if new_type != ptype:
                ptype = new_type
                candidates = [o for o in self.calibration.offenses if o.primary_type == ptype]
                wanted = changes.get("description")
                chosen = next((o for o in candidates if o.description == wanted), candidates[0] if candidates else None)
                if chosen is not None:
                    iucr, description, fbi = chosen.iucr, chosen.description, chosen.fbi_code
        elif "description" in changes:
            match = next(
                (
                    o
                    for o in self.calibration.offenses
                    if o.primary_type == ptype and o.description == changes["description"]
                ),
                None,
            )
            if match is not None:
                iucr, fbi = match.iucr, match.fbi_code
        explicit = {name: _text(changes.get(name)) for name in ("iucr", "description", "fbi_code")}
        return (
            explicit["iucr"] or iucr,
            ptype,
            explicit["description"] or description,
            explicit["fbi_code"] or fbi,
        )

    def _area_for(self, current: tuple[str, str, str, str], changes: Mapping[str, Any]) -> tuple[str, str, str, str]:
        beat, district, ward, community = current
        if "beat" in changes and str(changes["beat"]) != beat:
            beat = str(changes["beat"])
            match = next((a for a in self.calibration.areas if a.beat == beat), None)
            if match is not None:
                district, ward, community = match.district, match.ward, match.community_area
        district = str(changes.get("district", district))
        ward = str(changes.get("ward", ward))
        community = str(changes.get("community_area", community))
        return beat, district, ward, community

    def apply(self, row: RowVersion, changes: Mapping[str, Any]) -> RowVersion:
        """``row`` with user-level ``changes`` applied (keeping offense and area codes consistent)."""
        unknown = set(changes) - EDITABLE
        derived = unknown & (DERIVED | {"id", ":id", ":created_at", ":updated_at"})
        if derived:
            raise ValueError(f"cannot set {sorted(derived)}: derived from date, coordinates or the update time")
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        row.offense = self._offense_for(row.offense, changes)
        row.area = self._area_for(row.area, changes)
        if "date" in changes:
            row.date = to_floating(changes["date"])
        if "case_number" in changes:
            row.case_code = self._case_code_of(str(changes["case_number"]))
        if "block" in changes:
            row.block = _text(changes["block"])
        if "location_description" in changes:
            row.place = _text(changes["location_description"])
        if "arrest" in changes:
            row.arrest = _flag(changes["arrest"])
        if "domestic" in changes:
            row.domestic = _flag(changes["domestic"])
        if "latitude" in changes:
            row.latitude = _coordinate(changes["latitude"])
        if "longitude" in changes:
            row.longitude = _coordinate(changes["longitude"])
        if row.latitude is None or row.longitude is None:
            row.latitude = row.longitude = None
        return row


def random_correction(calibration: Calibration, row: RowVersion, rng: random.Random) -> dict[str, Any]:
    """A plausible correction of ``row``: an arrest made, a reclassification, a move, a re-dating, a new place."""
    kind = rng.choice(("arrest", "reclassify", "relocate", "redate", "place"))
    if kind == "arrest":
        return {"arrest": True}
    if kind == "reclassify":
        types = list(calibration.type_shares)
        shares = list(calibration.type_shares.values())
        return {"primary_type": rng.choices(types, weights=shares)[0]}
    if kind == "relocate":
        if row.latitude is None or row.longitude is None:
            area = calibration.areas[rng.randrange(len(calibration.areas))]
            return {"latitude": round(area.latitude, 9), "longitude": round(area.longitude, 9)}
        return {
            "latitude": round(row.latitude + rng.uniform(-0.003, 0.003), 9),
            "longitude": round(row.longitude + rng.uniform(-0.003, 0.003), 9),
            "block": jitter_block(row.block or "0000X N STATE ST", rng),
        }
    if kind == "redate":
        shifted = row.date + rng.choice((-1, 1)) * rng.randint(1, 72) * 3_600_000
        return {"date": datetime(1970, 1, 1) + timedelta(milliseconds=shifted)}
    place = rng.choices(calibration.places, cum_weights=calibration.place_cum_weights)[0]
    return {"location_description": place}
