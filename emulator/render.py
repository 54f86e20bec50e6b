"""Writing rows as the portal's JSON: numbers as strings, floating timestamps, nulls omitted.

A :class:`RowRenderer` turns a slot into one JSON object (a ``str``) for a
fixed list of output fields.  Repeated strings are JSON-encoded once per pool
entry, so a 50,000-row page costs little more than string concatenation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

from emulator import rowid
from emulator.schema import COLUMNS_BY_NAME
from emulator.store import Pool, Store, year_of_floating
from emulator.timeutil import format_fixed, format_floating

__all__ = ["LocationStyle", "RowRenderer", "json_value", "number_text", "soda_type"]

LocationStyle = Literal["point", "legacy"]

_LEGACY_ADDRESS = json.dumps(json.dumps({"address": "", "city": "", "state": "", "zip": ""}))

Fragment = Callable[[int], "str | None"]


def number_text(value: float | int) -> str:
    """A number as the portal writes it: ``41.809125265``, ``1175476``, never ``41.0``."""
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def soda_type(column: str, location_style: LocationStyle = "point") -> str:
    """The type name the portal lists for a column in ``X-SODA2-Types``."""
    t = COLUMNS_BY_NAME[column].type
    if t == "point":
        return "point" if location_style == "point" else "location"
    if t in ("row_identifier", "fixed_timestamp"):
        return "meta_data"
    return t


def _location_json(lat: float, lon: float, style: LocationStyle) -> str:
    if style == "point":
        return '{"type":"Point","coordinates":[' + number_text(lon) + "," + number_text(lat) + "]}"
    return (
        '{"latitude":"'
        + number_text(lat)
        + '","longitude":"'
        + number_text(lon)
        + '","human_address":'
        + _LEGACY_ADDRESS
        + "}"
    )


def _point_value(value: tuple[float, float], style: LocationStyle) -> Any:
    lon, lat = value
    return json.loads(_location_json(lat, lon, style))


_JSON_BY_TYPE: dict[str, Callable[[Any, LocationStyle], Any]] = {
    "row_identifier": lambda v, _: rowid.encode(v),
    "fixed_timestamp": lambda v, _: format_fixed(v),
    "floating_timestamp": lambda v, _: format_floating(v),
    "number": lambda v, _: number_text(v),
    "point": _point_value,
}


def json_value(column: str, value: Any, location_style: LocationStyle = "point") -> Any:
    """A domain value as the JSON value the portal writes (None = omitted)."""
    if value is None:
        return None
    convert = _JSON_BY_TYPE.get(COLUMNS_BY_NAME[column].type)
    return value if convert is None else convert(value, location_style)


class _PoolFragments:
    """For a run of adjacent fields read from one pool: their JSON text per pool entry, cached.

    E.g. iucr, primary_type, description -> ``"iucr":"0484","primary_type":"BATTERY",...``;
    None when every field of the entry is null.
    """

    def __init__(self, pool: Pool[Any], parts: Sequence[tuple[str, int | None]]) -> None:
        self.pool = pool
        self.parts = [(json.dumps(output) + ":", position) for output, position in parts]
        self.cache: list[str | None] = []

    def __getitem__(self, index: int) -> str | None:
        cache = self.cache
        while len(cache) <= index:
            entry = self.pool.values[len(cache)]
            texts = []
            for key, position in self.parts:
                value = entry if position is None else entry[position]
                if value is not None and value != "":
                    texts.append(key + json.dumps(value, ensure_ascii=False))
            cache.append(",".join(texts) or None)
        return cache[index]


class RowRenderer:
    """slot -> ``{"field":"value",...}`` for the given ``(output name, column)`` pairs."""

    def __init__(
        self, store: Store, fields: Sequence[tuple[str, str]], location_style: LocationStyle = "point"
    ) -> None:
        self.fields = tuple(fields)
        self._segments: list[Fragment] = []
        i = 0
        while i < len(self.fields):
            output, column = self.fields[i]
            if [c for _, c in self.fields[i : i + 3]] == ["latitude", "longitude", "location"]:
                keys = [json.dumps(o) + ":" for o, _ in self.fields[i : i + 3]]
                self._segments.append(_coordinates_run(store, keys, location_style))
                i += 3
                continue
            if column not in _POOLED:
                key = json.dumps(output) + ":"
                self._segments.append(_BUILDERS[column](store, key, column, location_style))
                i += 1
                continue
            refs_name, pool_name, _ = _POOLED[column]
            run: list[tuple[str, int | None]] = []
            while i < len(self.fields) and _POOLED.get(self.fields[i][1], ("", "", None))[:2] == (
                refs_name,
                pool_name,
            ):
                run.append((self.fields[i][0], _POOLED[self.fields[i][1]][2]))
                i += 1
            self._segments.append(_pooled_segment(store, refs_name, pool_name, run))

    def __call__(self, slot: int) -> str:
        return "{" + ",".join(filter(None, [segment(slot) for segment in self._segments])) + "}"

    def as_dict(self, slot: int) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self(slot))
        return parsed


def _pooled_segment(store: Store, refs_name: str, pool_name: str, run: list[tuple[str, int | None]]) -> Fragment:
    refs: Sequence[int] = getattr(store, refs_name)
    fragments = _PoolFragments(getattr(store, pool_name), run)
    return lambda s: fragments[refs[s]]


_POOLED: dict[str, tuple[str, str, int | None]] = {
    "block": ("blocks", "block_pool", None),
    "iucr": ("offenses", "offense_pool", 0),
    "primary_type": ("offenses", "offense_pool", 1),
    "description": ("offenses", "offense_pool", 2),
    "fbi_code": ("offenses", "offense_pool", 3),
    "location_description": ("places", "place_pool", None),
    "beat": ("areas", "area_pool", 0),
    "district": ("areas", "area_pool", 1),
    "ward": ("areas", "area_pool", 2),
    "community_area": ("areas", "area_pool", 3),
}


def _row_id_fragment(store: Store, key: str, column: str, style: LocationStyle) -> Fragment:
    keys = store.row_keys
    return lambda s: key + '"' + rowid.encode(keys[s]) + '"'


def _cached(format_value: Callable[[int], str], key: str) -> Callable[[int], str]:
    """``"key":"<formatted>"`` per value, memoised (update stamps repeat across a whole load)."""
    cache: dict[int, str] = {}

    def fragment(value: int) -> str:
        text = cache.get(value)
        if text is None:
            text = key + '"' + format_value(value) + '"'
            if len(cache) < 100_000:
                cache[value] = text
        return text

    return fragment


def _fixed_fragment(store: Store, key: str, column: str, style: LocationStyle) -> Fragment:
    stamps = store.created if column == ":created_at" else store.updated
    fragment = _cached(format_fixed, key)
    return lambda s: fragment(stamps[s])


def _floating_fragment(store: Store, key: str, column: str, style: LocationStyle) -> Fragment:
    floating = store.dates if column == "date" else store.updated_on
    fragment = _cached(format_floating, key)
    return lambda s: fragment(floating[s])


def _id_fragment(store: Store, key: str, column: str, style: LocationStyle) -> Fragment:
    ids = store.ids
    return lambda s: key + '"' + str(ids[s]) + '"'


def _case_fragment(store: Store, key: str, column: str, style: LocationStyle) -> Fragment:
    codes = store.case_codes
    case_text = store.case_text

    def fragment(s: int) -> str:
        code = codes[s]
        if code >= 0:  # regular case numbers (``JH146864``) need no escaping
            return key + '"' + case_text(code) + '"'
        return key + json.dumps(case_text(code), ensure_ascii=False)

    return fragment


def _flag_fragment(store: Store, key: str, column: str, style: LocationStyle) -> Fragment:
    flags = store.arrests if column == "arrest" else store.domestics
    true, false = key + "true", key + "false"
    return lambda s: true if flags[s] else false


def _year_fragment(store: Store, key: str, column: str, style: LocationStyle) -> Fragment:
    dates = store.dates
    return lambda s: key + '"' + str(year_of_floating(dates[s])) + '"'


def _coordinate_fragment(store: Store, key: str, column: str, style: LocationStyle) -> Fragment:
    lats = store.latitudes
    values = lats if column == "latitude" else store.longitudes
    isnan = math.isnan
    return lambda s: None if isnan(lats[s]) else key + '"' + number_text(values[s]) + '"'


def _coordinates_run(store: Store, keys: Sequence[str], style: LocationStyle) -> Fragment:
    """``latitude``, ``longitude``, ``location`` side by side (as in ``*``): each number formatted once."""
    lats, lons = store.latitudes, store.longitudes
    lat_key, lon_key, location_key = keys
    isnan = math.isnan
    if style == "point":

        def point(s: int) -> str | None:
            lat = lats[s]
            if isnan(lat):
                return None
            lat_text, lon_text = number_text(lat), number_text(lons[s])
            return (
                f'{lat_key}"{lat_text}",{lon_key}"{lon_text}",'
                f'{location_key}{{"type":"Point","coordinates":[{lon_text},{lat_text}]}}'
            )

        return point

    def legacy(s: int) -> str | None:
        lat = lats[s]
        if isnan(lat):
            return None
        lat_text, lon_text = number_text(lat), number_text(lons[s])
        return (
            f'{lat_key}"{lat_text}",{lon_key}"{lon_text}",{location_key}'
            f'{{"latitude":"{lat_text}","longitude":"{lon_text}","human_address":{_LEGACY_ADDRESS}}}'
        )

    return legacy


def _state_plane_fragment(store: Store, key: str, column: str, style: LocationStyle) -> Fragment:
    lats, lons = store.latitudes, store.longitudes
    fit = store.calibration.x_coordinate if column == "x_coordinate" else store.calibration.y_coordinate
    isnan = math.isnan
    return lambda s: None if isnan(lats[s]) else key + '"' + str(fit(lats[s], lons[s])) + '"'


def _location_fragment(store: Store, key: str, column: str, style: LocationStyle) -> Fragment:
    lats, lons = store.latitudes, store.longitudes
    isnan = math.isnan
    return lambda s: None if isnan(lats[s]) else key + _location_json(lats[s], lons[s], style)


_BUILDERS: dict[str, Callable[[Store, str, str, LocationStyle], Fragment]] = {
    ":id": _row_id_fragment,
    ":created_at": _fixed_fragment,
    ":updated_at": _fixed_fragment,
    "date": _floating_fragment,
    "updated_on": _floating_fragment,
    "id": _id_fragment,
    "case_number": _case_fragment,
    "arrest": _flag_fragment,
    "domestic": _flag_fragment,
    "year": _year_fragment,
    "latitude": _coordinate_fragment,
    "longitude": _coordinate_fragment,
    "x_coordinate": _state_plane_fragment,
    "y_coordinate": _state_plane_fragment,
    "location": _location_fragment,
}
