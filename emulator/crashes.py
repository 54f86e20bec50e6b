"""The Chicago 'Traffic Crashes - Crashes' dataset (``85ca-t3if``), emulated with a simple seeded generator.

Columns are a subset of the real dataset's, with its SoQL types (numbers are
written as strings in JSON, nulls omitted, ``location`` a GeoJSON point).
Shares are rough figures of the real data: most crashes at 30 mph, in clear
weather and daylight, damage over $1,500, "UNABLE TO DETERMINE" the most
common cause; about 1% of rows lack coordinates and a few carry (0, 0).
Positions are drawn around the beats of the crimes calibration.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from typing import Any

from emulator.calibration import load_calibration
from emulator.edits import TimeLike
from emulator.records import RecordDataset, RecordKind, Values
from emulator.schema import Column, TableSchema
from emulator.timeutil import DAY_MS

__all__ = ["CRASHES", "CRASHES_DATASET_ID", "CRASH_SCHEMA", "generate_crashes"]

CRASHES_DATASET_ID = "85ca-t3if"

CRASH_SCHEMA = TableSchema(
    (
        Column("crash_record_id", "text"),
        Column("crash_date", "floating_timestamp"),
        Column("posted_speed_limit", "number"),
        Column("traffic_control_device", "text"),
        Column("weather_condition", "text"),
        Column("lighting_condition", "text"),
        Column("first_crash_type", "text"),
        Column("trafficway_type", "text"),
        Column("damage", "text"),
        Column("prim_contributory_cause", "text"),
        Column("street_no", "number"),
        Column("street_direction", "text"),
        Column("street_name", "text"),
        Column("beat_of_occurrence", "number"),
        Column("injuries_total", "number"),
        Column("injuries_fatal", "number"),
        Column("latitude", "number"),
        Column("longitude", "number"),
        Column("location", "point"),
    )
)

_SPEEDS = ((30, 73), (35, 7), (25, 6), (20, 4), (15, 3), (10, 2), (40, 1.5), (45, 1), (0, 1), (5, 1), (55, 0.5))
_DEVICES = (("NO CONTROLS", 57), ("TRAFFIC SIGNAL", 28), ("STOP SIGN/FLASHER", 10), ("UNKNOWN", 4), ("OTHER", 1))
_WEATHER = (
    ("CLEAR", 79),
    ("RAIN", 9),
    ("UNKNOWN", 5),
    ("SNOW", 3),
    ("CLOUDY/OVERCAST", 3),
    ("FOG/SMOKE/HAZE", 0.5),
    ("FREEZING RAIN/DRIZZLE", 0.5),
)
_CRASH_TYPES = (
    ("PARKED MOTOR VEHICLE", 23),
    ("REAR END", 23),
    ("SIDESWIPE SAME DIRECTION", 15),
    ("TURNING", 14),
    ("ANGLE", 11),
    ("FIXED OBJECT", 5),
    ("PEDESTRIAN", 2.5),
    ("PEDALCYCLIST", 1.6),
    ("SIDESWIPE OPPOSITE DIRECTION", 1.4),
    ("HEAD ON", 0.8),
    ("OTHER OBJECT", 1),
    ("REAR TO FRONT", 0.9),
    ("ANIMAL", 0.1),
)
_TRAFFICWAYS = (
    ("NOT DIVIDED", 43),
    ("DIVIDED - W/MEDIAN (NOT RAISED)", 16),
    ("ONE-WAY", 12),
    ("FOUR WAY", 7),
    ("PARKING LOT", 7),
    ("DIVIDED - W/MEDIAN BARRIER", 6),
    ("OTHER", 3),
    ("ALLEY", 2),
    ("T-INTERSECTION", 1.5),
    ("UNKNOWN", 1.5),
)
_DAMAGE = (("OVER $1,500", 62), ("$501 - $1,500", 26), ("$500 OR LESS", 12))
_CAUSES = (
    ("UNABLE TO DETERMINE", 39),
    ("FAILING TO YIELD RIGHT-OF-WAY", 11),
    ("FOLLOWING TOO CLOSELY", 10),
    ("NOT APPLICABLE", 5),
    ("IMPROPER OVERTAKING/PASSING", 5),
    ("FAILING TO REDUCE SPEED TO AVOID CRASH", 4),
    ("IMPROPER BACKING", 4),
    ("IMPROPER LANE USAGE", 4),
    ("IMPROPER TURNING/NO SIGNAL", 3),
    ("DRIVING SKILLS/KNOWLEDGE/EXPERIENCE", 3),
    ("DISREGARDING TRAFFIC SIGNALS", 2),
    ("WEATHER", 1.5),
    ("OPERATING VEHICLE IN ERRATIC, RECKLESS, CARELESS, NEGLIGENT OR AGGRESSIVE MANNER", 1.5),
    ("DISREGARDING STOP SIGN", 1),
    ("DISTRACTION - FROM INSIDE VEHICLE", 1),
    ("UNDER THE INFLUENCE OF ALCOHOL/DRUGS (USE WHEN ARREST IS EFFECTED)", 0.8),
    ("PHYSICAL CONDITION OF DRIVER", 0.7),
)
_DIRECTIONS = (("N", 35), ("S", 35), ("W", 20), ("E", 10))
_STREETS = (
    "WESTERN AVE",
    "PULASKI RD",
    "CICERO AVE",
    "ASHLAND AVE",
    "HALSTED ST",
    "KEDZIE AVE",
    "MICHIGAN AVE",
    "STATE ST",
    "LAKE SHORE DR NB",
    "LAKE SHORE DR SB",
    "CHICAGO AVE",
    "NORTH AVE",
    "79TH ST",
    "87TH ST",
    "DAMEN AVE",
    "MADISON ST",
    "IRVING PARK RD",
    "DIVISION ST",
    "ROOSEVELT RD",
    "63RD ST",
    "FULLERTON AVE",
    "BELMONT AVE",
    "STONY ISLAND AVE",
    "ARCHER AVE",
    "MILWAUKEE AVE",
    "CERMAK RD",
    "GARFIELD BLVD",
    "LAWRENCE AVE",
    "HARLEM AVE",
    "KING DR",
)
# Crashes by hour of day: a rush-hour peak in the afternoon.
_HOUR_WEIGHTS: tuple[float, ...] = (2, 1.6, 1.3, 1, 1, 1.3, 2.3, 3.6, 4.5, 3.9, 3.9, 4.3)  # 00h..11h
_HOUR_WEIGHTS += (4.8, 5, 5.6, 6.4, 6.8, 6.4, 5.2, 4.2, 3.6, 3.2, 2.9, 2.4)  # 12h..23h


def _cum(pairs: tuple[tuple[Any, float], ...]) -> tuple[list[Any], list[float]]:
    values, total, cum = [], 0.0, []
    for value, weight in pairs:
        values.append(value)
        total += weight
        cum.append(total)
    return values, cum


_TABLES = {
    name: _cum(pairs)
    for name, pairs in (
        ("posted_speed_limit", _SPEEDS),
        ("traffic_control_device", _DEVICES),
        ("weather_condition", _WEATHER),
        ("first_crash_type", _CRASH_TYPES),
        ("trafficway_type", _TRAFFICWAYS),
        ("damage", _DAMAGE),
        ("prim_contributory_cause", _CAUSES),
        ("street_direction", _DIRECTIONS),
    )
}


def _pick(rng: random.Random, name: str) -> Any:
    values, cum = _TABLES[name]
    return rng.choices(values, cum_weights=cum)[0]


def _lighting(hour: int, rng: random.Random) -> str:
    if rng.random() < 0.04:
        return "UNKNOWN"
    if 7 <= hour <= 17:
        return "DAYLIGHT"
    if hour in (5, 6):
        return "DAWN"
    if hour in (18, 19):
        return "DUSK"
    return "DARKNESS, LIGHTED ROAD" if rng.random() < 0.8 else "DARKNESS"


def _injuries(rng: random.Random) -> tuple[int, int]:
    u = rng.random()
    total = 0 if u < 0.86 else 1 if u < 0.96 else 2 if u < 0.99 else 3 + int(rng.random() * 4)
    fatal = 1 if total and rng.random() < 0.008 else 0
    return total, fatal


def _draw_row(rng: random.Random, event: int) -> Values:
    """One crash at floating ms ``event`` (the time of day is redrawn by the hourly profile)."""
    cal = load_calibration()
    day = event // DAY_MS
    hour = rng.choices(range(24), weights=_HOUR_WEIGHTS)[0]
    when = day * DAY_MS + hour * 3_600_000 + rng.randrange(60) * 60_000
    area = cal.areas[rng.choices(range(len(cal.areas)), cum_weights=cal.area_cum_weights)[0]]
    total, fatal = _injuries(rng)
    values: Values = {
        "crash_date": when,
        "posted_speed_limit": _pick(rng, "posted_speed_limit"),
        "traffic_control_device": _pick(rng, "traffic_control_device"),
        "weather_condition": _pick(rng, "weather_condition"),
        "lighting_condition": _lighting(hour, rng),
        "first_crash_type": _pick(rng, "first_crash_type"),
        "trafficway_type": _pick(rng, "trafficway_type"),
        "damage": _pick(rng, "damage"),
        "prim_contributory_cause": _pick(rng, "prim_contributory_cause"),
        "street_no": 100 * rng.randint(0, 130) + rng.randrange(0, 100, 2) + 1,
        "street_direction": _pick(rng, "street_direction") if rng.random() > 0.001 else None,
        "street_name": rng.choice(_STREETS),
        "beat_of_occurrence": int(area.beat) if area.beat.isdigit() else None,
        "injuries_total": total,
        "injuries_fatal": fatal,
    }
    u = rng.random()
    if u < 0.01:
        pass  # no coordinates: the fields are omitted
    elif u < 0.0105:
        values["latitude"], values["longitude"] = 0, 0  # as some real rows do
    else:
        values["latitude"] = round(area.latitude + area.latitude_spread * rng.gauss(0, 1), 9)
        values["longitude"] = round(area.longitude + area.longitude_spread * rng.gauss(0, 1), 9)
    return values


def _draw_key(rng: random.Random) -> str:
    """A 128-hex-digit record id, like the portal's."""
    return f"{rng.getrandbits(512):0128x}"


def _correction(rng: random.Random, values: Values) -> Values:
    """A plausible update: more injuries found, a new damage estimate, a cause determined, a re-dating, a move."""
    kind = rng.choice(("injuries", "damage", "cause", "redate", "relocate"))
    if kind == "injuries":
        return {"injuries_total": int(values.get("injuries_total") or 0) + 1}
    if kind == "damage":
        return {"damage": _pick(rng, "damage")}
    if kind == "cause":
        return {"prim_contributory_cause": _pick(rng, "prim_contributory_cause")}
    if kind == "redate":
        return {"crash_date": int(values["crash_date"]) + rng.choice((-1, 1)) * rng.randint(1, 48) * 3_600_000}
    lat, lon = values.get("latitude"), values.get("longitude")
    if not lat or not lon:
        return {"latitude": 41.8781, "longitude": -87.6298}
    return {
        "latitude": round(lat + rng.uniform(-0.003, 0.003), 9),
        "longitude": round(lon + rng.uniform(-0.003, 0.003), 9),
    }


def _derive(values: Values) -> None:
    lat, lon = values.get("latitude"), values.get("longitude")
    if lat is None or lon is None:
        values["latitude"] = values["longitude"] = values["location"] = None
    else:
        values["location"] = (lon, lat)


CRASHES = RecordKind(
    dataset_id=CRASHES_DATASET_ID,
    schema=CRASH_SCHEMA,
    key_field="crash_record_id",
    time_field="crash_date",
    draw_row=_draw_row,
    draw_key=_draw_key,
    correction=_correction,
    derive=_derive,
)


def generate_crashes(
    n_rows: int,
    seed: int = 42,
    *,
    days: int = 365,
    correction_share: float = 0.05,
    clock: Callable[[], datetime] | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> RecordDataset:
    """An emulated traffic-crashes dataset of ``n_rows`` rows (deterministic given the seed and clock)."""
    return RecordDataset.generate(
        CRASHES, n_rows, seed, days=days, correction_share=correction_share, clock=clock, start=start, end=end
    )
