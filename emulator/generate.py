"""Drawing realistic rows from the calibration table (pure: a ``random.Random`` in, values out).

Nothing here touches storage or clocks; :mod:`emulator.dataset` decides when
rows are loaded and numbers them.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from statistics import NormalDist

from emulator.calibration import Calibration
from emulator.timeutil import DAY_MS, floating_to_fixed

__all__ = [
    "Draft",
    "draft_rows",
    "draw_dates",
    "homicide_id_floor",
    "id_floor",
    "jitter_block",
    "load_instant",
    "report_lag_days",
]

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_REFERENCE_DAY = date(2024, 1, 11).toordinal() - _EPOCH_ORDINAL
_MINUTE_MS = 60_000


@dataclass(slots=True)
class Draft:
    """Columns of new rows before they are numbered and loaded."""

    dates: list[int]
    offenses: list[int]
    places: list[int]
    areas: list[int]
    blocks: list[str | None]
    arrests: list[bool]
    domestics: list[bool]
    latitudes: list[float]  # NaN when the row has no coordinates
    longitudes: list[float]


def id_floor(floating: int) -> int:
    """Roughly the portal's record id at a report time (13,335,170 on 2024-01-11, ~1,070 a day)."""
    return max(1_000_000, 13_335_000 + (floating // DAY_MS - _REFERENCE_DAY) * 1070)


def homicide_id_floor(floating: int) -> int:
    """Homicides (one row per victim) use their own low id series (~27,932 in January 2024)."""
    return max(1, 27_930 + (floating // DAY_MS - _REFERENCE_DAY) * 16 // 10)


def load_instant(calibration: Calibration, day: int, salt: int) -> int:
    """Epoch ms of the daily load on floating day ``day`` (about 15:40 Chicago time)."""
    lo, hi = calibration.load_seconds_of_day
    second = lo + random.Random(day * 1_000_003 + salt).randint(0, max(hi - lo, 0))
    return floating_to_fixed(day * DAY_MS + second * 1000)


def report_lag_days(rng: random.Random) -> int:
    """Days from the incident to the load that publishes it: mostly 8 (the 7-day embargo), sometimes much later."""
    u = rng.random()
    if u < 0.90:
        return 8
    if u < 0.97:
        return 9 + int(rng.random() * 22)  # 9..30
    return 31 + int(rng.random() * 335)  # 31..365


_NORMAL_TABLE_SIZE = 8192
_NORMALS = [NormalDist().inv_cdf((i + 0.5) / _NORMAL_TABLE_SIZE) for i in range(_NORMAL_TABLE_SIZE)]


def _day_of_month_one(day: int) -> int:
    return date.fromordinal(_EPOCH_ORDINAL + day).replace(day=1).toordinal() - _EPOCH_ORDINAL


def draw_dates(calibration: Calibration, rng: random.Random, n: int, start: int, end: int) -> list[int]:
    """``n`` incident times (floating ms, whole minutes) in ``[start, end)``, sorted."""
    if end <= start:
        raise ValueError("the date range is empty")
    first_day = start // DAY_MS
    span = (end - 1) // DAY_MS - first_day + 1
    r = rng.random
    hours = rng.choices(range(0, DAY_MS, 3_600_000), cum_weights=calibration.hour_cum_weights, k=n)
    minutes = rng.choices(range(0, 3_600_000, _MINUTE_MS), cum_weights=calibration.minute_cum_weights, k=n)
    out = [(first_day + int(r() * span)) * DAY_MS + h + m for h, m in zip(hours, minutes, strict=True)]
    placeholder = calibration.placeholder_date_share
    for i in [i for i in range(n) if r() < placeholder]:
        out[i] = _day_of_month_one(out[i] // DAY_MS) * DAY_MS
    for i in [i for i, v in enumerate(out) if not start <= v < end]:
        clamped = min(max(out[i], start), end - 1)
        clamped -= clamped % _MINUTE_MS
        out[i] = clamped + _MINUTE_MS if clamped < start else clamped
    out.sort()
    return out


_JITTER = (-2, -1, 1, 2)


def jitter_block(block: str, rng: random.Random) -> str:
    """The same street a few hundred numbers away: ``064XX S CLAREMONT AVE`` -> ``066XX S CLAREMONT AVE``."""
    return _shift_block(block, _JITTER[int(rng.random() * 4)])


@lru_cache(maxsize=65_536)
def _shift_block(block: str, delta: int) -> str:
    head, _, street = block.partition(" ")
    if not street or len(head) != 5 or not head[:3].isdigit():
        return block
    hundreds = int(head[:3]) if head.endswith("XX") else 0
    hundreds = max(0, hundreds + delta)
    return f"0000X {street}" if hundreds == 0 else f"{hundreds:03d}XX {street}"


def _places(calibration: Calibration, rng: random.Random, offenses: list[int]) -> list[int]:
    """Location descriptions, drawn per primary type (types with few sample rows use the overall mix)."""
    cal = calibration
    place_index = {p: i for i, p in enumerate(cal.places)}
    rows_by_type: dict[str | None, list[int]] = {}
    for row, o in enumerate(offenses):
        ptype = cal.offenses[o].primary_type
        rows_by_type.setdefault(ptype if ptype in cal.places_by_type else None, []).append(row)
    places = [0] * len(offenses)
    for group in sorted(rows_by_type, key=lambda t: t or ""):
        rows = rows_by_type[group]
        values, cum = cal.places_by_type[group] if group is not None else (cal.places, cal.place_cum_weights)
        for row, place in zip(rows, rng.choices(values, cum_weights=cum, k=len(rows)), strict=True):
            places[row] = place_index[place]
    return places


def draft_rows(calibration: Calibration, rng: random.Random, dates: list[int]) -> Draft:
    """Everything but numbering and load times for rows with the given incident times."""
    n = len(dates)
    cal = calibration
    r = rng.random
    offenses = rng.choices(range(len(cal.offenses)), cum_weights=cal.offense_cum_weights, k=n)
    areas = rng.choices(range(len(cal.areas)), cum_weights=cal.area_cum_weights, k=n)
    places = _places(cal, rng, offenses)

    fallback = ("0000X N STATE ST",)
    area_blocks = [cal.blocks_by_beat.get(a.beat) or fallback for a in cal.areas]
    blocks: list[str | None] = [
        _shift_block(b, _JITTER[int(r() * 4)]) if r() < 0.5 else b
        for b in (bb[int(r() * len(bb))] for bb in (area_blocks[a] for a in areas))
    ]
    arrest_rate = [o.arrest_rate for o in cal.offenses]
    domestic_rate = [o.domestic_rate for o in cal.offenses]
    missing_rate = [cal.missing_coordinates_by_type.get(o.primary_type, 0.02) for o in cal.offenses]
    arrests = [r() < arrest_rate[o] for o in offenses]
    domestics = [r() < domestic_rate[o] for o in offenses]
    missing = [r() < missing_rate[o] for o in offenses]

    normals = _NORMALS
    size = _NORMAL_TABLE_SIZE
    lat_lo, lat_hi = cal.latitude_bounds
    lon_lo, lon_hi = cal.longitude_bounds
    centre_lat = [a.latitude for a in cal.areas]
    centre_lon = [a.longitude for a in cal.areas]
    spread_lat = [a.latitude_spread for a in cal.areas]
    spread_lon = [a.longitude_spread for a in cal.areas]
    lats = [centre_lat[a] + spread_lat[a] * normals[int(r() * size)] for a in areas]
    lons = [centre_lon[a] + spread_lon[a] * normals[int(r() * size)] for a in areas]
    for i in [i for i, v in enumerate(lats) if not lat_lo <= v <= lat_hi]:
        lats[i] = min(max(lats[i], lat_lo), lat_hi)
    for i in [i for i, v in enumerate(lons) if not lon_lo <= v <= lon_hi]:
        lons[i] = min(max(lons[i], lon_lo), lon_hi)
    # Nine decimals, as the portal publishes (Chicago's coordinates are never near zero).
    lats = [int(v * 1e9 + 0.5) / 1e9 for v in lats]
    lons = [-int(-v * 1e9 + 0.5) / 1e9 for v in lons]
    for i in [i for i, m in enumerate(missing) if m]:
        lats[i] = lons[i] = math.nan
    return Draft(
        dates=dates,
        offenses=offenses,
        places=places,
        areas=areas,
        blocks=blocks,
        arrests=arrests,
        domestics=domestics,
        latitudes=lats,
        longitudes=lons,
    )
