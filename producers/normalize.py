"""Turn one SODA JSON row into the Avro record of schemas/chicago_crime.avsc.

Pure logic: no I/O.  A row that cannot be made valid raises
``ValidationError`` with a reason; the caller dead-letters it with the raw row.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from crimestream.errors import ValidationError

__all__ = [
    "CHICAGO",
    "CHICAGO_BOUNDS",
    "CODE_FIELDS",
    "normalize_row",
    "parse_floating",
    "parse_system_time",
]

CHICAGO = ZoneInfo("America/Chicago")
# (min_lat, max_lat, min_lon, max_lon): the city with a small margin.
CHICAGO_BOUNDS = (41.60, 42.05, -87.95, -87.50)
CODE_FIELDS = ("beat", "district", "ward", "community_area", "iucr", "fbi_code")
_TEXT_FIELDS = ("case_number", "block", "primary_type", "description", "location_description")
_FLAG_OUT_OF_BOUNDS = "coordinates_out_of_bounds"
_FLAG_BAD_COORDINATES = "coordinates_unparseable"


def parse_floating(value: str) -> datetime:
    """A SODA floating timestamp ('2022-03-20T12:06:00.000', Chicago wall clock) as an aware UTC instant."""
    try:
        naive = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"not a timestamp: {value!r}") from exc
    if naive.tzinfo is not None:
        return naive.astimezone(UTC)
    return naive.replace(tzinfo=CHICAGO).astimezone(UTC)


def parse_system_time(value: str) -> datetime:
    """A SODA system timestamp (':updated_at', UTC, e.g. '2025-05-17T20:40:52.000Z')."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError) as exc:
        raise ValidationError(f"not a system timestamp: {value!r}") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _text(row: dict[str, Any], field: str) -> str | None:
    value = row.get(field)
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise ValidationError(f"field {field!r} should be text, got {type(value).__name__}")
    text = str(value).strip()
    return text or None


def _bool(row: dict[str, Any], field: str) -> bool | None:
    value = row.get(field)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValidationError(f"field {field!r} is not a boolean: {value!r}")


def _float(row: dict[str, Any], field: str) -> float | None:
    value = row.get(field)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def _int(row: dict[str, Any], field: str) -> int | None:
    value = row.get(field)
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError as exc:
        raise ValidationError(f"field {field!r} is not an integer: {value!r}") from exc


def source_update_time(row: dict[str, Any]) -> datetime:
    """The row's update time at the source: ':updated_at', else 'updated_on'."""
    if row.get(":updated_at"):
        return parse_system_time(str(row[":updated_at"]))
    if row.get("updated_on"):
        return parse_floating(str(row["updated_on"]))
    raise ValidationError("row has neither ':updated_at' nor 'updated_on'")


def normalize_row(row: dict[str, Any]) -> dict[str, Any]:
    """The Avro record (a dict) for one raw SODA row.

    Raises ``ValidationError`` when the row has no id, no parseable ``date`` or
    no update time.  Coordinates that cannot be parsed or fall outside Chicago
    are nulled and flagged rather than rejected.
    """
    if not isinstance(row, dict):
        raise ValidationError(f"row is not a JSON object: {type(row).__name__}")
    record_id = _text(row, "id")
    if record_id is None:
        raise ValidationError("row has no 'id'")
    if not row.get("date"):
        raise ValidationError("row has no 'date'")
    flags: list[str] = []
    record: dict[str, Any] = {"id": record_id, "flags": flags}
    for field in _TEXT_FIELDS + CODE_FIELDS:
        record[field] = _text(row, field)
    record["date"] = parse_floating(str(row["date"]))
    record["arrest"] = _bool(row, "arrest")
    record["domestic"] = _bool(row, "domestic")
    record["year"] = _int(row, "year")
    record["updated_on"] = parse_floating(str(row["updated_on"])) if row.get("updated_on") else None
    record["source_updated_at"] = source_update_time(row)

    lat, lon = _float(row, "latitude"), _float(row, "longitude")
    x, y = _float(row, "x_coordinate"), _float(row, "y_coordinate")
    location = row.get("location")
    if any(v is not None and math.isnan(v) for v in (lat, lon, x, y)):
        flags.append(_FLAG_BAD_COORDINATES)
        lat = lon = x = y = None
        location = None
    elif lat is not None and lon is not None:
        min_lat, max_lat, min_lon, max_lon = CHICAGO_BOUNDS
        if not (min_lat <= lat <= max_lat and min_lon <= lon <= max_lon):
            flags.append(_FLAG_OUT_OF_BOUNDS)
            lat = lon = x = y = None
            location = None
    record["latitude"], record["longitude"] = lat, lon
    record["x_coordinate"], record["y_coordinate"] = x, y
    record["location"] = None if location is None else json.dumps(location, separators=(",", ":"), sort_keys=True)
    return record
