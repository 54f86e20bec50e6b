"""Turn one SODA JSON row into the Avro record of a dataset's schema (``schemas/<spec.schema>.avsc``).

Pure logic: no I/O.  The conversion of each field follows its Avro type:

* ``string``: text, kept as written (codes keep their leading zeros, ``"0421"``);
  a JSON object or array (``location``) becomes compact, key-sorted JSON text;
* ``double`` / ``int`` / ``long`` / ``boolean``: parsed (SODA writes numbers as strings);
* ``timestamp-micros``: a floating local Chicago time, stored as an instant;
* ``source_updated_at``: ``:updated_at``, else the spec's update field;
* ``flags``: data-quality flags set here.

Fields the row omits are nulls.  When the schema has ``latitude``/``longitude``,
coordinates that cannot be parsed or fall outside Chicago are nulled (with the
other position fields: ``x_coordinate``, ``y_coordinate``, ``location``) and
flagged rather than rejected.  A row that cannot be made valid raises
``ValidationError`` with a reason; the caller dead-letters it with the raw row.
Fields the schema does not know (a new column at the source) are ignored; each
new name is logged once at INFO.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from crimestream.datasets import DATASETS, DatasetSpec
from crimestream.errors import ValidationError
from schemas import load_schema

__all__ = [
    "CHICAGO",
    "CHICAGO_BOUNDS",
    "CODE_FIELDS",
    "Normalizer",
    "normalize_row",
    "parse_floating",
    "parse_system_time",
    "source_update_time",
]

log = logging.getLogger(__name__)

CHICAGO = ZoneInfo("America/Chicago")
# (min_lat, max_lat, min_lon, max_lon): the city with a small margin.
CHICAGO_BOUNDS = (41.60, 42.05, -87.95, -87.50)
CODE_FIELDS = ("beat", "district", "ward", "community_area", "iucr", "fbi_code")
_FLAG_OUT_OF_BOUNDS = "coordinates_out_of_bounds"
_FLAG_BAD_COORDINATES = "coordinates_unparseable"
_POSITION_FIELDS = ("latitude", "longitude", "x_coordinate", "y_coordinate", "location")
_SYSTEM_FIELDS = frozenset({":id", ":created_at", ":updated_at", ":version"})
_UPDATED = "source_updated_at"
_FLAGS = "flags"


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


def source_update_time(row: Mapping[str, Any], update_field: str | None = "updated_on") -> datetime:
    """The row's update time at the source: ':updated_at', else ``update_field``."""
    if row.get(":updated_at"):
        return parse_system_time(str(row[":updated_at"]))
    if update_field is not None and row.get(update_field):
        return parse_floating(str(row[update_field]))
    if update_field is None:
        raise ValidationError("row has no ':updated_at'")
    raise ValidationError(f"row has neither ':updated_at' nor {update_field!r}")


# -- converters: raw JSON value (never None) -> Avro value ----------------------------

Converter = Callable[[str, Any], Any]


_JSON = json.JSONEncoder(separators=(",", ":"), sort_keys=True)


def _point_text(value: dict[str, Any]) -> str | None:
    """A GeoJSON point exactly as ``_JSON`` would write it, without the encoder (the common location shape)."""
    coordinates = value.get("coordinates")
    if len(value) == 2 and value.get("type") == "Point" and type(coordinates) is list and len(coordinates) == 2:
        lon, lat = coordinates
        if type(lon) is float and type(lat) is float:
            return f'{{"coordinates":[{lon!r},{lat!r}],"type":"Point"}}'
    return None


def _to_text(field: str, value: Any) -> str | None:
    if type(value) is str:
        return value.strip() or None
    if isinstance(value, dict):
        return _point_text(value) or _JSON.encode(value)
    if isinstance(value, list):
        return _JSON.encode(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value).strip()
    return text or None


def _to_bool(field: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValidationError(f"field {field!r} is not a boolean: {value!r}")


def _to_int(field: str, value: Any) -> int | None:
    if value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value))
    except ValueError:
        pass
    try:
        number = float(str(value))
    except ValueError:
        number = math.nan
    if number.is_integer():
        return int(number)
    raise ValidationError(f"field {field!r} is not an integer: {value!r}")


def _to_double(field: str, value: Any) -> float | None:
    if value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"field {field!r} is not a number: {value!r}") from None
    if not math.isfinite(number):
        raise ValidationError(f"field {field!r} is not a finite number: {value!r}")
    return number


def _to_coordinate(field: str, value: Any) -> float | None:
    """Like a double, but NaN (not an error) when unparseable: the row is flagged, not rejected."""
    if value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _to_timestamp(field: str, value: Any) -> datetime | None:
    return None if value == "" else parse_floating(str(value))


def _avro_kind(avro_type: Any) -> tuple[str, bool]:
    """(kind, nullable) of a field's Avro type: kind is string/boolean/int/double/timestamp/array."""
    nullable = False
    if isinstance(avro_type, list):
        branches = [t for t in avro_type if t != "null"]
        nullable = len(branches) < len(avro_type)
        if len(branches) != 1:
            raise ValueError(f"unsupported union {avro_type!r}")
        avro_type = branches[0]
    if isinstance(avro_type, dict):
        if avro_type.get("logicalType") in ("timestamp-micros", "timestamp-millis"):
            return "timestamp", nullable
        avro_type = avro_type["type"]
    if avro_type in ("int", "long"):
        return "int", nullable
    if avro_type in ("float", "double"):
        return "double", nullable
    if avro_type in ("string", "boolean", "array"):
        return str(avro_type), nullable
    raise ValueError(f"unsupported Avro type {avro_type!r}")


_CONVERTERS: dict[str, Converter] = {
    "string": _to_text,
    "boolean": _to_bool,
    "int": _to_int,
    "double": _to_double,
    "timestamp": _to_timestamp,
}


class Normalizer:
    """Raw SODA rows -> Avro records of one dataset spec's schema."""

    def __init__(self, spec: DatasetSpec, schema: Mapping[str, Any] | None = None) -> None:
        self.spec = spec
        self.schema = schema if schema is not None else load_schema(spec.schema)
        names = [f["name"] for f in self.schema["fields"]]
        self.has_coordinates = "latitude" in names and "longitude" in names
        self._fields: list[tuple[str, Converter, bool]] = []  # (name, converter, required)
        for field in self.schema["fields"]:
            name = field["name"]
            if name in (_UPDATED, _FLAGS):
                continue
            kind, nullable = _avro_kind(field["type"])
            convert = _CONVERTERS.get(kind)
            if convert is None:
                raise ValueError(f"field {name!r}: unsupported type {kind!r} in schema {spec.schema}")
            if self.has_coordinates and name in _POSITION_FIELDS and kind == "double":
                convert = _to_coordinate
            self._fields.append((name, convert, not nullable))
        self._positions = [n for n in _POSITION_FIELDS if n in names]
        self.known = frozenset(names) | _SYSTEM_FIELDS | {spec.update_field or ":updated_at"}
        self._unknown_seen: set[str] = set()

    def _note_unknown(self, row: Mapping[str, Any]) -> None:
        if row.keys() <= self.known:
            return
        new = sorted(k for k in row.keys() - self.known if k not in self._unknown_seen)
        if new:
            self._unknown_seen.update(new)
            log.info(
                "ignoring field(s) not in schema %s: %s (the source added or renamed a column?)",
                self.spec.schema,
                ", ".join(new),
            )

    def __call__(self, row: Any) -> dict[str, Any]:
        """The Avro record (a dict) for one raw SODA row; ``ValidationError`` if it cannot be valid."""
        if not isinstance(row, dict):
            raise ValidationError(f"row is not a JSON object: {type(row).__name__}")
        self._note_unknown(row)
        flags: list[str] = []
        record: dict[str, Any] = {}
        get = row.get
        for name, convert, required in self._fields:
            value = get(name)
            converted = None if value is None else convert(name, value)
            if converted is None and required:
                raise ValidationError(f"row has no {name!r}")
            record[name] = converted
        record[_UPDATED] = source_update_time(row, self.spec.update_field)
        record[_FLAGS] = flags
        if self.has_coordinates:
            self._check_position(record, flags)
        return record

    def _check_position(self, record: dict[str, Any], flags: list[str]) -> None:
        coordinates = [record[n] for n in self._positions if n != "location"]
        if any(v is not None and math.isnan(v) for v in coordinates):
            flags.append(_FLAG_BAD_COORDINATES)
        else:
            lat, lon = record["latitude"], record["longitude"]
            if lat is None or lon is None:
                return
            min_lat, max_lat, min_lon, max_lon = CHICAGO_BOUNDS
            if min_lat <= lat <= max_lat and min_lon <= lon <= max_lon:
                return
            flags.append(_FLAG_OUT_OF_BOUNDS)
        for name in self._positions:
            record[name] = None


_DEFAULT = Normalizer(DATASETS["chicago_crimes"])


def normalize_row(row: dict[str, Any]) -> dict[str, Any]:
    """The crimes record (``schemas/chicago_crime.avsc``) for one raw SODA row."""
    return _DEFAULT(row)
