"""Compact, append-only columnar storage of row versions.

A *slot* is one version of one row.  Slots are never modified once written
(except their ``alive`` flag): a correction or re-stamp writes a new slot and
kills the old one, the way an MVCC database writes a new tuple.  So a reader
that picked a list of slots under the dataset lock can render them later
without the lock and always sees each row whole.

Columns are ``array`` objects (8 bytes or less per value); repeated strings
(block, offense, place, area) are stored once in append-only pools and
referenced by index.  Derived fields (year, x/y coordinates, location) are
computed when read, and ``updated_on`` is stored next to ``:updated_at``.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, Generic, TypeVar

from emulator import rowid
from emulator.calibration import Calibration
from emulator.timeutil import DAY_MS

__all__ = ["CASE_BASE", "Pool", "RowVersion", "Store", "case_number_text", "case_prefix", "year_of_floating"]

K = TypeVar("K")

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I, no O: 2024 is JH, 2025 is JJ
_JA_YEAR = 2017
_JA_INDEX = _LETTERS.index("J") * len(_LETTERS)
CASE_BASE = 1_000_000
_CASE_PATTERN = re.compile(r"([A-Z]{2})(\d{6})")


@lru_cache(maxsize=4096)
def _year_of_day(days: int) -> int:
    return date.fromordinal(_EPOCH_ORDINAL + days).year


def year_of_floating(ms: int) -> int:
    """The calendar year of floating milliseconds."""
    return _year_of_day(ms // DAY_MS)


@lru_cache(maxsize=512)
def case_prefix(year: int) -> str:
    """Two letters of the case-number series of a year (``JH`` for 2024, ``JJ`` for 2025)."""
    index = min(max(_JA_INDEX + year - _JA_YEAR, 0), len(_LETTERS) ** 2 - 1)
    return _LETTERS[index // len(_LETTERS)] + _LETTERS[index % len(_LETTERS)]


def case_number_text(code: int) -> str:
    """``JH146864`` from the stored code ``year * CASE_BASE + number``."""
    year, number = divmod(code, CASE_BASE)
    return f"{case_prefix(year)}{number:06d}"


def case_code(text: str) -> int | None:
    """The stored code of a regular case number (``JH146864``), None for irregular ones."""
    match = _CASE_PATTERN.fullmatch(text)
    if match is None:
        return None
    letters, number = match.groups()
    if letters[0] not in _LETTERS or letters[1] not in _LETTERS:
        return None
    year = _LETTERS.index(letters[0]) * len(_LETTERS) + _LETTERS.index(letters[1]) - _JA_INDEX + _JA_YEAR
    if year <= 0 or case_prefix(year) != letters:
        return None
    return year * CASE_BASE + int(number)


class Pool(Generic[K]):
    """Append-only interning table: value <-> small integer."""

    def __init__(self, values: Sequence[K] = ()) -> None:
        self.values: list[K] = []
        self._index: dict[K, int] = {}
        for v in values:
            self.intern(v)

    def intern(self, value: K) -> int:
        found = self._index.get(value)
        if found is None:
            found = len(self.values)
            self.values.append(value)
            self._index[value] = found
        return found

    def __len__(self) -> int:
        return len(self.values)


@dataclass(slots=True)
class RowVersion:
    """All stored values of one row version, in Python form (None = null)."""

    id: int
    case_code: int
    date: int  # floating ms
    block: str | None
    offense: tuple[str, str, str, str]  # iucr, primary_type, description, fbi_code
    place: str | None
    area: tuple[str, str, str, str]  # beat, district, ward, community_area
    arrest: bool
    domestic: bool
    latitude: float | None
    longitude: float | None
    created: int  # epoch ms
    updated: int  # epoch ms
    updated_on: int  # floating ms
    row_key: int = field(default=-1)  # 60-bit :id; -1 = assign a fresh one


class Store:
    """The columns of every row version ever written."""

    COLUMN_ATTRIBUTES = (
        "ids",
        "row_keys",
        "case_codes",
        "dates",
        "blocks",
        "offenses",
        "places",
        "areas",
        "arrests",
        "domestics",
        "latitudes",
        "longitudes",
        "created",
        "updated",
        "updated_on",
    )

    def __init__(self, calibration: Calibration, rowid_key: int) -> None:
        self.calibration = calibration
        self.rowid_key = rowid_key
        self.ids = array("q")
        self.row_keys = array("q")
        self.case_codes = array("q")
        self.dates = array("q")
        self.blocks = array("I")
        self.offenses = array("I")
        self.places = array("I")
        self.areas = array("I")
        self.arrests = bytearray()
        self.domestics = bytearray()
        self.latitudes = array("d")
        self.longitudes = array("d")
        self.created = array("q")
        self.updated = array("q")
        self.updated_on = array("q")
        self.alive = bytearray()
        self.block_pool: Pool[str | None] = Pool()
        self.offense_pool: Pool[tuple[str, str, str, str]] = Pool(
            [(o.iucr, o.primary_type, o.description, o.fbi_code) for o in calibration.offenses]
        )
        self.place_pool: Pool[str | None] = Pool(calibration.places)
        self.area_pool: Pool[tuple[str, str, str, str]] = Pool(
            [(a.beat, a.district, a.ward, a.community_area) for a in calibration.areas]
        )
        self.odd_case_numbers: Pool[str] = Pool()
        self._ward_numbers: list[int | None] = []
        self._next_row_seq = 0

    def __len__(self) -> int:
        return len(self.ids)

    # -- writing -----------------------------------------------------------

    def reserve_row_keys(self, other: Store) -> None:
        """Continue ``other``'s :id sequence (after copying its rows)."""
        self._next_row_seq = max(self._next_row_seq, other._next_row_seq)

    def case_code_of(self, text: str) -> int:
        """The stored code of any case number text (irregular ones are pooled, as negative codes)."""
        code = case_code(text)
        return code if code is not None else -1 - self.odd_case_numbers.intern(text)

    def case_text(self, code: int) -> str:
        """The case number text of a stored code."""
        return case_number_text(code) if code >= 0 else self.odd_case_numbers.values[-1 - code]

    def new_row_key(self) -> int:
        """A fresh, never-used :id integer."""
        key = rowid.scramble(self._next_row_seq, self.rowid_key)
        self._next_row_seq += 1
        return key

    def append(self, row: RowVersion) -> int:
        """Write one row version; return its slot."""
        slot = len(self.ids)
        self.ids.append(row.id)
        self.row_keys.append(row.row_key if row.row_key >= 0 else self.new_row_key())
        self.case_codes.append(row.case_code)
        self.dates.append(row.date)
        self.blocks.append(self.block_pool.intern(row.block))
        self.offenses.append(self.offense_pool.intern(row.offense))
        self.places.append(self.place_pool.intern(row.place))
        self.areas.append(self.area_pool.intern(row.area))
        self.arrests.append(1 if row.arrest else 0)
        self.domestics.append(1 if row.domestic else 0)
        missing = row.latitude is None or row.longitude is None
        self.latitudes.append(math.nan if missing or row.latitude is None else row.latitude)
        self.longitudes.append(math.nan if missing or row.longitude is None else row.longitude)
        self.created.append(row.created)
        self.updated.append(row.updated)
        self.updated_on.append(row.updated_on)
        self.alive.append(1)
        return slot

    def append_columns(
        self,
        *,
        ids: Sequence[int],
        case_codes: Sequence[int],
        dates: Sequence[int],
        blocks: Sequence[str | None],
        offenses: Sequence[int],
        places: Sequence[int],
        areas: Sequence[int],
        arrests: Sequence[bool],
        domestics: Sequence[bool],
        latitudes: Sequence[float],
        longitudes: Sequence[float],
        created: Sequence[int],
        updated: Sequence[int],
        updated_on: Sequence[int],
    ) -> range:
        """Bulk-write new rows whose offense/place/area are calibration indexes; return their slots."""
        n = len(ids)
        start = len(self.ids)
        self.ids.extend(ids)
        key, seq = self.rowid_key, self._next_row_seq
        self.row_keys.extend([rowid.scramble(seq + i, key) for i in range(n)])
        self._next_row_seq = seq + n
        self.case_codes.extend(case_codes)
        self.dates.extend(dates)
        intern = self.block_pool.intern
        self.blocks.extend([intern(b) for b in blocks])
        self.offenses.extend(offenses)
        self.places.extend(places)
        self.areas.extend(areas)
        self.arrests.extend(bytearray(arrests))
        self.domestics.extend(bytearray(domestics))
        self.latitudes.extend(latitudes)
        self.longitudes.extend(longitudes)
        self.created.extend(created)
        self.updated.extend(updated)
        self.updated_on.extend(updated_on)
        self.alive.extend(b"\x01" * n)
        return range(start, start + n)

    def read(self, slot: int) -> RowVersion:
        """The stored values of one slot (to derive a new version from)."""
        lat = self.latitudes[slot]
        lon = self.longitudes[slot]
        return RowVersion(
            id=self.ids[slot],
            case_code=self.case_codes[slot],
            date=self.dates[slot],
            block=self.block_pool.values[self.blocks[slot]],
            offense=self.offense_pool.values[self.offenses[slot]],
            place=self.place_pool.values[self.places[slot]],
            area=self.area_pool.values[self.areas[slot]],
            arrest=bool(self.arrests[slot]),
            domestic=bool(self.domestics[slot]),
            latitude=None if math.isnan(lat) else lat,
            longitude=None if math.isnan(lon) else lon,
            created=self.created[slot],
            updated=self.updated[slot],
            updated_on=self.updated_on[slot],
            row_key=self.row_keys[slot],
        )

    # -- reading typed values (the SoQL domain) ----------------------------

    def ward_number(self, area_index: int) -> int | None:
        numbers = self._ward_numbers
        while len(numbers) <= area_index and len(numbers) < len(self.area_pool):
            ward = self.area_pool.values[len(numbers)][2]
            numbers.append(int(ward) if ward.isdigit() else None)
        return numbers[area_index]

    def getter(self, name: str) -> Callable[[int], Any]:
        """slot -> the field's value in its SoQL domain (ms for timestamps, :id as int), None if null."""
        if name in _POOL_FIELDS:
            return self._pool_getter(name)
        if name in _GEO_FIELDS:
            return self._geo_getter(name)
        return self._plain_getter(name)

    def _plain_getter(self, name: str) -> Callable[[int], Any]:
        codes, dates, areas = self.case_codes, self.dates, self.areas
        arrests, domestics = self.arrests, self.domestics
        case_text, ward_number = self.case_text, self.ward_number
        getters: dict[str, Callable[[int], Any]] = {
            ":id": self.row_keys.__getitem__,
            ":created_at": self.created.__getitem__,
            ":updated_at": self.updated.__getitem__,
            "id": self.ids.__getitem__,
            "date": dates.__getitem__,
            "updated_on": self.updated_on.__getitem__,
            "case_number": lambda s: case_text(codes[s]),
            "arrest": lambda s: arrests[s] == 1,
            "domestic": lambda s: domestics[s] == 1,
            "year": lambda s: year_of_floating(dates[s]),
            "ward": lambda s: ward_number(areas[s]),
        }
        return getters[name]

    def _pool_getter(self, name: str) -> Callable[[int], Any]:
        column, pool, position = _POOL_FIELDS[name]
        refs: array[int] = getattr(self, column)
        values: list[Any] = getattr(self, pool).values
        if position is None:
            return lambda s: values[refs[s]]
        return lambda s: values[refs[s]][position]

    def _geo_getter(self, name: str) -> Callable[[int], Any]:
        lats = self.latitudes
        lons = self.longitudes
        cal = self.calibration

        isnan = math.isnan

        def latitude(s: int) -> float | None:
            v = lats[s]
            return None if isnan(v) else v

        def longitude(s: int) -> float | None:
            v = lons[s]
            return None if isnan(v) else v

        def x_coordinate(s: int) -> int | None:
            lat = lats[s]
            return None if isnan(lat) else cal.x_coordinate(lat, lons[s])

        def y_coordinate(s: int) -> int | None:
            lat = lats[s]
            return None if isnan(lat) else cal.y_coordinate(lat, lons[s])

        def location(s: int) -> tuple[float, float] | None:
            lat = lats[s]
            return None if isnan(lat) else (lons[s], lat)

        getters: dict[str, Callable[[int], Any]] = {
            "latitude": latitude,
            "longitude": longitude,
            "x_coordinate": x_coordinate,
            "y_coordinate": y_coordinate,
            "location": location,
        }
        return getters[name]


_POOL_FIELDS: dict[str, tuple[str, str, int | None]] = {
    "block": ("blocks", "block_pool", None),
    "iucr": ("offenses", "offense_pool", 0),
    "primary_type": ("offenses", "offense_pool", 1),
    "description": ("offenses", "offense_pool", 2),
    "fbi_code": ("offenses", "offense_pool", 3),
    "location_description": ("places", "place_pool", None),
    "beat": ("areas", "area_pool", 0),
    "district": ("areas", "area_pool", 1),
    "community_area": ("areas", "area_pool", 3),
}
_GEO_FIELDS = frozenset({"latitude", "longitude", "x_coordinate", "y_coordinate", "location"})
