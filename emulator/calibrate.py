"""Derive ``emulator/calibration.json`` from real rows of the portal's CSV export.

Run once, commit the output::

    python -m emulator.calibrate [tests/fixtures/chicago_crimes_2024_sample.csv] [-o emulator/calibration.json]

The emulator itself never reads the CSV: it loads the compact table this script
writes (see :mod:`emulator.calibration`).

Adjustments to the raw sample, each recorded in the output's ``notes``:

* HOMICIDE is over-represented in the sample (7.4 %: homicide rows are one per
  victim and come from a separate, low id series that sorts first in the
  export).  Its share is set to 0.23 % (about 570 of 258,000 rows in 2024) and
  the other types are rescaled proportionally.  The remaining shares are the
  2024 mix (THEFT ~21 %, BATTERY ~20 %, ...); the design's full-history shares
  (NARCOTICS ~10 %) describe 2001-2010 and are not used, because the emulator
  generates recent years.
* Rows without coordinates are 5.4 % of the sample, concentrated in some types
  (DECEPTIVE PRACTICE 27 %).  Per-type shares are kept in proportion but scaled
  to an overall 2 %, the middle of the design's 1-3 %.
* Per-offense arrest/domestic rates are shrunk toward their type's rate
  (pseudo-count 3) so that one-off rows do not produce 0 % or 100 % rates.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["derive", "main"]

log = logging.getLogger(__name__)

_CSV_TIME = "%m/%d/%Y %I:%M:%S %p"
_DEFAULT_SAMPLE = Path("tests/fixtures/chicago_crimes_2024_sample.csv")
_DEFAULT_OUTPUT = Path(__file__).with_name("calibration.json")

HOMICIDE_SHARE = 0.0023
MISSING_COORDINATES_SHARE = 0.02
_SHRINK = 3.0
_MIN_TYPE_ROWS_FOR_OWN_PLACES = 40


def _round(x: float, digits: int = 6) -> float:
    return round(x, digits)


def _solve3(a: list[list[float]], b: list[float]) -> list[float]:
    """Solve a 3x3 linear system by Gaussian elimination with partial pivoting."""
    m = [[*row, rhs] for row, rhs in zip(a, b, strict=True)]
    for col in range(3):
        pivot = max(range(col, 3), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        for r in range(3):
            if r != col:
                factor = m[r][col] / m[col][col]
                for c in range(col, 4):
                    m[r][c] -= factor * m[col][c]
    return [m[i][3] / m[i][i] for i in range(3)]


def _least_squares(xs: Sequence[tuple[float, float]], ys: Sequence[float]) -> list[float]:
    """Coefficients (c0, c_lon, c_lat) of ``y = c0 + c_lon*lon + c_lat*lat``."""
    ata = [[0.0] * 3 for _ in range(3)]
    aty = [0.0] * 3
    for (lon, lat), y in zip(xs, ys, strict=True):
        row = (1.0, lon, lat)
        for i in range(3):
            aty[i] += row[i] * y
            for j in range(3):
                ata[i][j] += row[i] * row[j]
    return _solve3(ata, aty)


def _weights(counter: Counter[Any]) -> list[list[Any]]:
    return [[key, count] for key, count in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))]


def _clamp_spread(value: float) -> float:
    return min(max(value, 0.0015), 0.02)


def _spread(values: list[float]) -> float:
    return statistics.pstdev(values) if len(values) >= 2 else 0.0


def derive(rows: Iterable[dict[str, str]]) -> dict[str, Any]:
    """The calibration table for a sequence of CSV-export rows (title-case headers)."""
    data = list(rows)
    n = len(data)
    if n == 0:
        raise ValueError("no rows to calibrate on")

    type_counts: Counter[str] = Counter(r["Primary Type"] for r in data)
    offense_counts: Counter[tuple[str, str, str, str]] = Counter(
        (r["IUCR"], r["Primary Type"], r["Description"], r["FBI Code"]) for r in data
    )
    type_arrest = {
        t: sum(r["Arrest"] == "true" for r in data if r["Primary Type"] == t) / c for t, c in type_counts.items()
    }
    type_domestic = {
        t: sum(r["Domestic"] == "true" for r in data if r["Primary Type"] == t) / c for t, c in type_counts.items()
    }
    offense_arrests: Counter[tuple[str, str, str, str]] = Counter()
    offense_domestic: Counter[tuple[str, str, str, str]] = Counter()
    for r in data:
        key = (r["IUCR"], r["Primary Type"], r["Description"], r["FBI Code"])
        offense_arrests[key] += r["Arrest"] == "true"
        offense_domestic[key] += r["Domestic"] == "true"

    # Type shares: the sample's, with HOMICIDE corrected (see module docstring).
    raw_share = {t: c / n for t, c in type_counts.items()}
    other = 1.0 - raw_share.get("HOMICIDE", 0.0)
    target_share = {
        t: (HOMICIDE_SHARE if t == "HOMICIDE" else s * (1.0 - HOMICIDE_SHARE) / other) for t, s in raw_share.items()
    }

    offenses = []
    for key, count in sorted(offense_counts.items(), key=lambda kv: (-kv[1], kv[0])):
        iucr, ptype, description, fbi = key
        weight = target_share[ptype] * count / type_counts[ptype]
        arrest = (offense_arrests[key] + _SHRINK * type_arrest[ptype]) / (count + _SHRINK)
        domestic = (offense_domestic[key] + _SHRINK * type_domestic[ptype]) / (count + _SHRINK)
        offenses.append([iucr, ptype, description, fbi, _round(weight, 8), _round(arrest, 4), _round(domestic, 4)])

    places: Counter[str | None] = Counter(r["Location Description"] or None for r in data)
    places_by_type: dict[str, list[list[Any]]] = {}
    for ptype, count in type_counts.items():
        if count >= _MIN_TYPE_ROWS_FOR_OWN_PLACES:
            places_by_type[ptype] = _weights(
                Counter(r["Location Description"] or None for r in data if r["Primary Type"] == ptype)
            )

    # Missing coordinates per type, scaled to the target overall share.
    missing_raw = {
        t: (sum(1 for r in data if r["Primary Type"] == t and not r["Latitude"]) + _SHRINK * 0.05) / (c + _SHRINK)
        for t, c in type_counts.items()
    }
    overall_raw = sum(target_share[t] * p for t, p in missing_raw.items())
    missing_by_type = {
        t: _round(p * MISSING_COORDINATES_SHARE / overall_raw, 5) for t, p in sorted(missing_raw.items())
    }

    # Geography: (beat, district, ward, community_area) with weights and a centre + spread.
    located = [r for r in data if r["Latitude"] and r["Longitude"]]
    by_area: dict[tuple[str, str, str, str], list[tuple[float, float]]] = defaultdict(list)
    by_beat: dict[str, list[tuple[float, float]]] = defaultdict(list)
    by_district: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in located:
        point = (float(r["Latitude"]), float(r["Longitude"]))
        by_area[(r["Beat"], r["District"], r["Ward"], r["Community Area"])].append(point)
        by_beat[r["Beat"]].append(point)
        by_district[r["District"]].append(point)
    all_points = [p for pts in by_district.values() for p in pts]

    def centre(key: tuple[str, str, str, str]) -> tuple[float, float, float, float]:
        for points in (by_area.get(key, []), by_beat.get(key[0], []), by_district.get(key[1], []), all_points):
            if len(points) >= 3 or (points is all_points):
                lats = [p[0] for p in points]
                lons = [p[1] for p in points]
                break
        spread_source = by_area.get(key, [])
        if len(spread_source) < 5:
            spread_source = by_beat.get(key[0], [])
        if len(spread_source) >= 5:
            lat_sd = _spread([p[0] for p in spread_source])
            lon_sd = _spread([p[1] for p in spread_source])
        else:
            lat_sd = lon_sd = 0.006
        return statistics.fmean(lats), statistics.fmean(lons), _clamp_spread(lat_sd), _clamp_spread(lon_sd)

    area_counts: Counter[tuple[str, str, str, str]] = Counter(
        (r["Beat"], r["District"], r["Ward"], r["Community Area"]) for r in data
    )
    areas = []
    for key, count in sorted(area_counts.items(), key=lambda kv: (-kv[1], kv[0])):
        lat, lon, lat_sd, lon_sd = centre(key)
        areas.append([*key, count, _round(lat), _round(lon), _round(lat_sd, 5), _round(lon_sd, 5)])

    blocks_by_beat: dict[str, list[str]] = defaultdict(list)
    for r in data:
        if r["Block"] and r["Block"] not in blocks_by_beat[r["Beat"]]:
            blocks_by_beat[r["Beat"]].append(r["Block"])

    # Time of day.  "Day 1, 00:00" is a placeholder for an unknown date/time.
    dates = [datetime.strptime(r["Date"], _CSV_TIME) for r in data]
    placeholder = [d.day == 1 and d.hour == 0 and d.minute == 0 for d in dates]
    hours: Counter[int] = Counter(d.hour for d, ph in zip(dates, placeholder, strict=True) if not ph)
    minutes: Counter[int] = Counter(d.minute for d, ph in zip(dates, placeholder, strict=True) if not ph)

    # Daily load time of day (local), from updated_on: the middle 80 % of the distinct load times.
    load_seconds = [
        u.hour * 3600 + u.minute * 60 + u.second for u in (datetime.strptime(r["Updated On"], _CSV_TIME) for r in data)
    ]
    common_load = sorted(s for s in set(load_seconds) if 15 * 3600 <= s < 16 * 3600)

    # State-plane coordinates as a linear function of (lon, lat).
    with_xy = [r for r in located if r["X Coordinate"] and r["Y Coordinate"]]
    lonlat = [(float(r["Longitude"]), float(r["Latitude"])) for r in with_xy]
    x_fit = _least_squares(lonlat, [float(r["X Coordinate"]) for r in with_xy])
    y_fit = _least_squares(lonlat, [float(r["Y Coordinate"]) for r in with_xy])
    if not all(math.isfinite(c) for c in x_fit + y_fit):
        raise ValueError("the x/y coordinate fit did not converge")

    case_numbers = Counter(r["Case Number"] for r in data)
    duplicate_share = sum(c - 1 for c in case_numbers.values() if c > 1) / n
    lats = [float(r["Latitude"]) for r in located]
    lons = [float(r["Longitude"]) for r in located]

    return {
        "source": "chicago_crimes_2024_sample.csv (5,000 rows of the portal's CSV export, 2024 incidents)",
        "rows": n,
        "notes": [
            f"HOMICIDE share set to {HOMICIDE_SHARE:.2%} (sample: {raw_share.get('HOMICIDE', 0.0):.2%}); "
            "other types rescaled proportionally.",
            f"Missing-coordinate shares scaled to {MISSING_COORDINATES_SHARE:.0%} overall "
            f"(sample: {1 - len(located) / n:.1%}).",
            f"Arrest/domestic rates per offense shrunk toward the type rate (pseudo-count {_SHRINK:g}).",
        ],
        "type_shares": {t: _round(s, 6) for t, s in sorted(target_share.items(), key=lambda kv: -kv[1])},
        "sample_type_shares": {t: _round(s, 6) for t, s in sorted(raw_share.items(), key=lambda kv: -kv[1])},
        "offenses": offenses,
        "location_descriptions": _weights(places),
        "location_descriptions_by_type": places_by_type,
        "missing_coordinates_by_type": missing_by_type,
        "areas": areas,
        "blocks_by_beat": dict(sorted(blocks_by_beat.items())),
        "hour_weights": [hours.get(h, 0) for h in range(24)],
        "minute_weights": [minutes.get(m, 0) for m in range(60)],
        "placeholder_date_share": _round(sum(placeholder) / n, 5),
        "load_seconds_of_day": (
            [common_load[len(common_load) // 10], common_load[len(common_load) * 9 // 10]]
            if common_load
            else [56_440, 56_500]
        ),
        "xy_from_lonlat": {"x": [_round(c, 4) for c in x_fit], "y": [_round(c, 4) for c in y_fit]},
        "duplicate_case_number_share": _round(duplicate_share, 5),
        "bounds": {"latitude": [min(lats), max(lats)], "longitude": [min(lons), max(lons)]},
        "arrest_share": _round(sum(r["Arrest"] == "true" for r in data) / n, 4),
        "domestic_share": _round(sum(r["Domestic"] == "true" for r in data) / n, 4),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m emulator.calibrate", description=__doc__.splitlines()[0])
    parser.add_argument("sample", nargs="?", type=Path, default=_DEFAULT_SAMPLE, help="CSV export to calibrate on")
    parser.add_argument("-o", "--output", type=Path, default=_DEFAULT_OUTPUT, help="where to write the table")
    args = parser.parse_args(argv)
    with args.sample.open(newline="", encoding="utf-8") as handle:
        table = derive(csv.DictReader(handle))
    args.output.write_text(json.dumps(table, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    log.info("wrote %s from %d rows", args.output, table["rows"])


if __name__ == "__main__":
    from crimestream.logs import configure_logging

    configure_logging()
    main()
