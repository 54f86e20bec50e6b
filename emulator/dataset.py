"""The emulated dataset: generated rows, mutations, and SoQL queries over them.

``Dataset.generate(n_rows, seed, start=..., end=...)`` spreads incident dates
over ``[start, end)`` and publishes each row in the daily load (about 15:40
Chicago time) about 7 days later, so rows of one load share ``updated_on``.
The same seed, range and calls give the same data.

Mutations -- :meth:`Dataset.insert`, :meth:`~Dataset.correct`,
:meth:`~Dataset.delete`, :meth:`~Dataset.restamp`, :meth:`~Dataset.daily_load`
-- are thread-safe while a server reads the dataset.  Each stamps the rows it
touches with one update time: the ``at`` you pass (an aware datetime; tests use
it to make ties), else the dataset clock, which never goes backwards and moves
at least one second past the previous stamp.  ``updated_on`` is that instant on
Chicago's wall clock, ``:updated_at`` the same instant in UTC.  Deleted rows
simply vanish.

:meth:`Dataset.current_rows` is the ground truth: every live row as the API
serves it with ``$select=:*,*``.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

from emulator.calibration import Calibration, load_calibration
from emulator.edits import RowEditor, TimeLike, first_day_of_year, random_correction, to_floating, to_instant
from emulator.engine import Indexes, aggregate, select_slots
from emulator.errors import RowNotFoundError
from emulator.generate import (
    draft_rows,
    draw_dates,
    homicide_id_floor,
    id_floor,
    load_instant,
    report_lag_days,
)
from emulator.render import LocationStyle, RowRenderer, json_value, soda_type
from emulator.schema import COLUMN_NAMES, CRIMES_SCHEMA, TableSchema
from emulator.soql import Aggregate, Query, SelectColumn, compile_predicate, parse_query, parse_where
from emulator.store import CASE_BASE, RowVersion, Store, year_of_floating
from emulator.timeutil import DAY_MS, fixed_ms, fixed_to_floating, format_fixed

__all__ = ["Dataset", "LoadReport", "Page"]

log = logging.getLogger(__name__)

RowFilter = Iterable[str | int] | Callable[[dict[str, Any]], bool]

_HOMICIDE = "HOMICIDE"
_ALL_FIELDS: tuple[tuple[str, str], ...] = tuple((name, name) for name in COLUMN_NAMES)


@dataclass(frozen=True)
class LoadReport:
    """What one daily load did."""

    at: str  # :updated_at of every row it touched
    inserted: list[str] = field(default_factory=list)
    corrected: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


class Page:
    """One query result: field names and types, and rows rendered on demand (outside the lock)."""

    def __init__(self, fields: Sequence[str], types: Sequence[str], count: int, rows: Iterator[str]) -> None:
        self.fields = tuple(fields)
        self.types = tuple(types)
        self.count = count
        self._rows = rows

    def json_rows(self) -> Iterator[str]:
        """Each row as one JSON object text."""
        return self._rows


class Dataset:
    """An in-memory, thread-safe copy of the crimes dataset as the portal holds it."""

    schema: TableSchema = CRIMES_SCHEMA

    def __init__(
        self,
        *,
        seed: int = 42,
        calibration: Calibration | None = None,
        clock: Callable[[], datetime] | None = None,
        location_style: LocationStyle = "point",
    ) -> None:
        self.seed = seed
        self.calibration = calibration or load_calibration()
        self.location_style: LocationStyle = location_style
        self._clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._store = Store(self.calibration, rowid_key=random.Random(seed).getrandbits(60))
        self._indexes = Indexes(self._store)
        self._lock = threading.RLock()
        self._rng = random.Random(seed * 7919 + 17)
        self._last_stamp = 0
        self._max_id = 0
        self._max_homicide_id = 0
        self._case_numbers: dict[int, int] = {}
        self._live = 0
        self._mutations = 0
        self._loads = 0
        self._editor = RowEditor(self.calibration, self._case_code_of)
        self._homicide_offenses = frozenset(
            i for i, o in enumerate(self.calibration.offenses) if o.primary_type == _HOMICIDE
        )

    # ------------------------------------------------------------------
    # Generation

    @classmethod
    def generate(
        cls,
        n_rows: int,
        seed: int = 42,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        days: int = 365,
        restamp_share: float = 0.0,
        correction_share: float = 0.05,
        calibration: Calibration | None = None,
        clock: Callable[[], datetime] | None = None,
        location_style: LocationStyle = "point",
    ) -> Dataset:
        """A dataset of ``n_rows`` rows with incident dates in ``[start, end)`` (Chicago wall clock).

        ``end`` (exclusive) defaults to just after the incidents of the newest
        daily load the clock has seen (8 days before it), ``start`` to ``days``
        days before ``end``.  So no stamp lies in the clock's future.  ``correction_share`` of the rows were
        updated again at a later daily load; ``restamp_share`` of the rows older
        than the mass re-stamp (a load 2-8 weeks before the newest) got that
        load's stamp, as when the portal re-stamped most of a year at once.
        """
        dataset = cls(seed=seed, calibration=calibration, clock=clock, location_style=location_style)
        if end is None:
            now = fixed_ms(dataset._clock())
            today = fixed_to_floating(now) // DAY_MS
            last_load = today if dataset._load_ms(today) <= now else today - 1
            end_ms = (last_load - 7) * DAY_MS  # the newest load published incidents of 8 days before
        else:
            end_ms = to_floating(end)
        start_ms = to_floating(start) if start is not None else end_ms - days * DAY_MS
        dataset._generate(n_rows, start_ms, end_ms, restamp_share, correction_share)
        return dataset

    def _load_ms(self, day: int, cache: dict[int, int] | None = None) -> int:
        if cache is not None and day in cache:
            return cache[day]
        value = load_instant(self.calibration, day, self.seed)
        if cache is not None:
            cache[day] = value
        return value

    def _generate(self, n: int, start: int, end: int, restamp_share: float, correction_share: float) -> None:
        cal = self.calibration
        rng = random.Random(self.seed)
        r = rng.random
        dates = draw_dates(cal, rng, n, start, end)
        draft = draft_rows(cal, rng, dates)
        last_load_day = (end - 1) // DAY_MS + 8
        first_load_day = start // DAY_MS + 8
        load_days = [d // DAY_MS + (8 if r() < 0.9 else report_lag_days(rng)) for d in dates]
        load_days = [day if day <= last_load_day else last_load_day for day in load_days]
        loads = {day: self._load_ms(day) for day in set(load_days)}
        created = [loads[day] for day in load_days]
        case_codes = self._case_codes(dates, rng)

        updated = list(created)
        if correction_share > 0:
            for i in [i for i in range(n) if r() < correction_share]:
                later = load_days[i] + 1 + int(r() * 120)
                if later <= last_load_day:
                    updated[i] = loads.get(later) or self._load_ms(later)
        if restamp_share > 0 and n:
            restamp_day = max(first_load_day, last_load_day - rng.randint(14, 60))
            restamp_ms = self._load_ms(restamp_day)
            for i in [i for i in range(n) if created[i] < restamp_ms and r() < restamp_share]:
                updated[i] = max(updated[i], restamp_ms)

        order = sorted(range(n), key=created.__getitem__)
        ids = self._number_rows([load_days[i] for i in order], [draft.offenses[i] for i in order], rng)

        def permute(values: Sequence[Any]) -> Sequence[Any]:
            return itemgetter(*order)(values) if n > 1 else [values[i] for i in order]

        updated_sorted = permute(updated)
        on_wall_clock = {u: fixed_to_floating(u) for u in set(updated)}
        self._store.append_columns(
            ids=ids,
            case_codes=permute(case_codes),
            dates=permute(dates),
            blocks=permute(draft.blocks),
            offenses=permute(draft.offenses),
            places=permute(draft.places),
            areas=permute(draft.areas),
            arrests=permute(draft.arrests),
            domestics=permute(draft.domestics),
            latitudes=permute(draft.latitudes),
            longitudes=permute(draft.longitudes),
            created=permute(created),
            updated=updated_sorted,
            updated_on=[on_wall_clock[u] for u in updated_sorted],
        )
        self._live = n
        self._last_stamp = max(updated, default=0)
        log.debug("generated %d rows, incidents %s..%s", n, start, end)

    def _number_rows(self, load_days: Sequence[int], offenses: Sequence[int], rng: random.Random) -> list[int]:
        """Record ids in publication order: the main series tracks report time, homicides have their own."""
        r = rng.random
        homicide = self._homicide_offenses
        floors = {day: id_floor(day * DAY_MS) for day in set(load_days)}
        ids: list[int] = []
        main, victims = self._max_id, self._max_homicide_id
        for day, offense in zip(load_days, offenses, strict=True):
            if offense in homicide:
                victims = max(victims + 1, homicide_id_floor(day * DAY_MS))
                ids.append(victims)
            else:
                main += 1 + int(r() * 3)
                floor = floors[day] + int(r() * 41)
                main = max(main, floor)
                ids.append(main)
        self._max_id, self._max_homicide_id = main, victims
        return ids

    def _case_codes(self, dates: Sequence[int], rng: random.Random) -> list[int]:
        """Case numbers for incidents in time order: increasing within a year, a few shared.

        About 1,200 numbers are issued a day (``JH100000`` early January 2024,
        ``JH54xxxx`` in December); several offenses of one case share its number.
        """
        r = rng.random
        share = self.calibration.duplicate_case_number_share
        counters = self._case_numbers
        codes: list[int] = []
        previous = -1
        for floating in dates:
            day = floating // DAY_MS
            year = year_of_floating(floating)
            if previous >= 0 and r() < share and previous // CASE_BASE == year:
                codes.append(previous)
                continue
            number = 100_000 + (day - first_day_of_year(year)) * 1200 + int(r() * 1100)
            last = counters.get(year, 0)
            if number <= last:
                number = last + 1
            counters[year] = number
            previous = year * CASE_BASE + number
            codes.append(previous)
        return codes

    def _next_case_code(self, floating: int, rng: random.Random | None = None) -> int:
        year = year_of_floating(floating)
        day_of_year = floating // DAY_MS - first_day_of_year(year)
        draw = int((rng or self._rng).random() * 1100)
        number = max(self._case_numbers.get(year, 0) + 1, 100_000 + day_of_year * 1200 + draw)
        self._case_numbers[year] = number
        return year * CASE_BASE + number

    def _next_id(self, offense: tuple[str, str, str, str], floating: int) -> int:
        if offense[1] == _HOMICIDE:
            self._max_homicide_id = max(self._max_homicide_id + 1, homicide_id_floor(floating))
            return self._max_homicide_id
        self._max_id = max(self._max_id + self._rng.randint(1, 3), id_floor(floating))
        return self._max_id

    # ------------------------------------------------------------------
    # Clock and lookups

    def _stamp(self, at: datetime | str | None) -> int:
        instant = to_instant(at)
        if instant is not None:
            ms = fixed_ms(instant)
        else:
            now = fixed_ms(self._clock()) // 1000 * 1000
            ms = max(now, (self._last_stamp // 1000 + 1) * 1000)
        self._last_stamp = max(self._last_stamp, ms)
        return ms

    def _case_code_of(self, text: str) -> int:
        return self._store.case_code_of(text)  # via self: vacuum() replaces the store

    def _live_slots(self) -> Iterator[int]:
        alive = self._store.alive
        return (s for s in range(len(self._store)) if alive[s])

    def _find(self, row_id: str | int) -> int:
        try:
            key = int(row_id)
        except (TypeError, ValueError):
            raise RowNotFoundError(str(row_id)) from None
        ids, alive = self._store.ids, self._store.alive
        start = 0
        while True:
            try:
                pos = ids.index(key, start)
            except ValueError:
                raise RowNotFoundError(str(row_id)) from None
            if alive[pos]:
                return pos
            start = pos + 1

    def _find_many(self, row_ids: Iterable[str | int]) -> list[int]:
        wanted = list(row_ids)
        if len(wanted) <= 32:
            return [self._find(r) for r in wanted]
        ids = self._store.ids
        by_id = {ids[s]: s for s in self._live_slots()}
        slots = []
        for r in wanted:
            try:
                slots.append(by_id[int(r)])
            except (KeyError, TypeError, ValueError):
                raise RowNotFoundError(str(r)) from None
        return slots

    def _replace(self, old: Sequence[int], versions: Sequence[RowVersion]) -> list[int]:
        """Kill ``old`` slots and write ``versions`` (same order) as new slots."""
        store = self._store
        for slot in old:
            store.alive[slot] = 0
        new = [store.append(v) for v in versions]
        self._indexes.replace(list(old), new)
        self._live += len(new) - len(old)
        self._mutations += 1
        self._maybe_vacuum()
        return new

    def _maybe_vacuum(self) -> None:
        dead = len(self._store) - self._live
        if dead > max(self._live, 200_000):
            self.vacuum()

    def vacuum(self) -> None:
        """Drop dead row versions (memory only; rows, order and ids are unchanged)."""
        with self._lock:
            old = self._store
            live = list(self._live_slots())
            new = Store(self.calibration, old.rowid_key)
            new.block_pool, new.offense_pool, new.place_pool, new.area_pool = (
                old.block_pool,
                old.offense_pool,
                old.place_pool,
                old.area_pool,
            )
            new.odd_case_numbers = old.odd_case_numbers
            for name in Store.COLUMN_ATTRIBUTES:
                column = getattr(old, name)
                if isinstance(column, bytearray):
                    setattr(new, name, bytearray(column[s] for s in live))
                else:
                    setattr(new, name, array(column.typecode, (column[s] for s in live)))
            new.alive = bytearray(b"\x01" * len(live))
            new.reserve_row_keys(old)
            self._store = new
            self._indexes = Indexes(new)
            log.debug("vacuumed %d dead row versions", len(old) - len(live))

    # ------------------------------------------------------------------
    # Building row versions

    def _fresh_rows(self, n: int, stamp: int) -> list[RowVersion]:
        """``n`` new rows published by a load at ``stamp``: incidents mostly 8 days earlier."""
        cal = self.calibration
        rng = self._rng
        load_day = fixed_to_floating(stamp) // DAY_MS
        dates: list[int] = []
        for _ in range(n):
            day = load_day - report_lag_days(rng)
            dates.extend(draw_dates(cal, rng, 1, day * DAY_MS, (day + 1) * DAY_MS))
        draft = draft_rows(cal, rng, dates)
        updated_on = fixed_to_floating(stamp)
        rows = []
        for i in range(n):
            offense_index = draft.offenses[i]
            o = cal.offenses[offense_index]
            a = cal.areas[draft.areas[i]]
            offense = (o.iucr, o.primary_type, o.description, o.fbi_code)
            lat = draft.latitudes[i]
            lon = draft.longitudes[i]
            rows.append(
                RowVersion(
                    id=self._next_id(offense, load_day * DAY_MS),
                    case_code=self._next_case_code(dates[i]),
                    date=dates[i],
                    block=draft.blocks[i],
                    offense=offense,
                    place=cal.places[draft.places[i]],
                    area=(a.beat, a.district, a.ward, a.community_area),
                    arrest=draft.arrests[i],
                    domestic=draft.domestics[i],
                    latitude=None if math.isnan(lat) else lat,
                    longitude=None if math.isnan(lon) else lon,
                    created=stamp,
                    updated=stamp,
                    updated_on=updated_on,
                )
            )
        return rows

    # ------------------------------------------------------------------
    # Mutations

    def insert(self, rows: int | Sequence[Mapping[str, Any]], *, at: datetime | str | None = None) -> list[str]:
        """Add rows (a count to generate, or mappings of field values); return their ids.

        Fields missing from a mapping are generated; ``id`` may be given (it must be unused).
        """
        with self._lock:
            stamp = self._stamp(at)
            if isinstance(rows, int):
                versions = self._fresh_rows(rows, stamp)
            else:
                versions = []
                ids = self._store.ids
                for mapping in rows:
                    values = dict(mapping)
                    explicit_id = values.pop("id", None)
                    version = self._editor.apply(self._fresh_rows(1, stamp)[0], values)
                    if explicit_id is not None:
                        version.id = int(explicit_id)
                        if any(v.id == version.id for v in versions) or any(
                            ids[s] == version.id for s in self._live_slots()
                        ):
                            raise ValueError(f"id {version.id} is already in the dataset")
                        self._max_id = max(self._max_id, version.id)
                    versions.append(version)
            self._replace([], versions)
            return [str(v.id) for v in versions]

    def correct(self, row_id: str | int, *, at: datetime | str | None = None, **changes: Any) -> dict[str, Any]:
        """Change fields of one row (date, primary_type, latitude/longitude, ...); return the new row.

        ``primary_type`` alone picks that type's most common description, iucr and
        fbi_code; ``latitude``/``longitude`` move ``location`` and the x/y
        coordinates too (None removes the coordinates).
        """
        with self._lock:
            slot = self._find(row_id)
            version = self._editor.apply(self._store.read(slot), changes)
            version.updated = self._stamp(at)
            version.updated_on = fixed_to_floating(version.updated)
            (new,) = self._replace([slot], [version])
            return self._renderer(_ALL_FIELDS).as_dict(new)

    def delete(self, *row_ids: str | int) -> int:
        """Remove rows (no tombstone: they just vanish); return how many."""
        with self._lock:
            slots = self._find_many(row_ids)
            self._replace(slots, [])
            return len(slots)

    def restamp(
        self,
        target: RowFilter | None = None,
        *,
        where: str | None = None,
        at: datetime | str | None = None,
    ) -> int:
        """Give rows one new update time (all rows if no ``target``/``where``); return how many.

        ``target`` is ids or a predicate over the row as served (``$select=:*,*``);
        ``where`` a SoQL ``$where`` text.
        """
        with self._lock:
            slots = self._select_targets(target, where)
            stamp = self._stamp(at)
            floating = fixed_to_floating(stamp)
            versions = []
            for slot in slots:
                version = self._store.read(slot)
                version.updated = stamp
                version.updated_on = floating
                versions.append(version)
            self._replace(slots, versions)
            return len(slots)

    def _select_targets(self, target: RowFilter | None, where: str | None) -> list[int]:
        slots: list[int]
        if isinstance(target, (str, int)):
            target = [target]
        if target is None:
            slots = list(self._live_slots())
        elif callable(target):
            render = self._renderer(_ALL_FIELDS)
            predicate = target
            slots = [s for s in self._live_slots() if predicate(render.as_dict(s))]
        else:
            slots = self._find_many(target)
        if where is not None:
            test = compile_predicate(parse_where(where), self._store.getter)
            slots = [s for s in slots if test(s) is True]
        return slots

    def daily_load(
        self,
        new_rows: int = 650,
        corrections: int = 5,
        deletions: int = 1,
        *,
        at: datetime | str | None = None,
    ) -> LoadReport:
        """One daily load: new rows, corrections and deletions sharing one update time.

        Without ``at`` the load happens at the next day's load time (about 15:40
        Chicago time the day after the newest stamp): each call is one day later.
        """
        with self._lock:
            if at is None:
                newest = self._last_stamp or fixed_ms(self._clock())
                day = fixed_to_floating(newest) // DAY_MS + 1
                stamp_ms = max(self._load_ms(day), self._last_stamp + 1000)
                at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=stamp_ms)
            instant = to_instant(at)
            assert instant is not None
            rng = self._rng
            corrected: list[str] = []
            for _ in range(min(corrections, self._live)):
                slot = self._random_live_slot()
                row_id = str(self._store.ids[slot])
                self.correct(row_id, at=instant, **random_correction(self.calibration, self._store.read(slot), rng))
                corrected.append(row_id)
            deleted: list[str] = []
            for _ in range(min(deletions, self._live)):
                row_id = str(self._store.ids[self._random_live_slot()])
                self.delete(row_id)
                deleted.append(row_id)
            inserted = self.insert(new_rows, at=instant) if new_rows else []
            self._loads += 1
            report = LoadReport(format_fixed(fixed_ms(instant)), inserted, corrected, deleted)
            log.info(
                "daily load at %s: %d new, %d corrected, %d deleted",
                report.at,
                len(inserted),
                len(corrected),
                len(deleted),
            )
            return report

    def _random_live_slot(self) -> int:
        store = self._store
        while True:
            slot = self._rng.randrange(len(store))
            if store.alive[slot]:
                return slot

    # ------------------------------------------------------------------
    # Reading

    def _renderer(self, fields: Sequence[tuple[str, str]]) -> RowRenderer:
        return RowRenderer(self._store, fields, self.location_style)

    def execute(self, query: Query) -> Page:
        """Run a parsed query; rows are rendered lazily from immutable row versions."""
        with self._lock:
            if query.is_aggregate:
                values = aggregate(query, self._store, self._live_slots)
                fields: list[str] = []
                types: list[str] = []
                obj: dict[str, Any] = {}
                for item in query.select:
                    assert isinstance(item, Aggregate)
                    fields.append(item.output)
                    if item.column is None or item.function == "count":
                        types.append("number")
                        obj[item.output] = str(values[item.output])
                    else:
                        types.append(soda_type(item.column, self.location_style))
                        rendered = json_value(item.column, values[item.output], self.location_style)
                        if rendered is not None:
                            obj[item.output] = rendered
                rows = [] if query.offset > 0 or query.limit == 0 else [_json_dumps(obj)]
                return Page(fields, types, len(rows), iter(rows))
            pairs = [(item.output, item.name) for item in query.select if isinstance(item, SelectColumn)]
            slots = select_slots(query, self._store, self._indexes, self._live_slots)
            render = self._renderer(pairs)
            types = [soda_type(column, self.location_style) for _, column in pairs]
        return Page([p[0] for p in pairs], types, len(slots), (render(s) for s in slots))

    def query(self, params: Mapping[str, str], *, page_cap: int | None = None) -> list[dict[str, Any]]:
        """Rows for SODA query parameters (``{"$where": ..., "$order": ...}``), as parsed JSON."""
        page = self.execute(parse_query(params, page_cap=page_cap))
        return [json.loads(text) for text in page.json_rows()]

    def current_rows(self) -> list[dict[str, Any]]:
        """Ground truth: every live row as served with ``$select=:*,*`` (nulls omitted)."""
        with self._lock:
            render = self._renderer(_ALL_FIELDS)
            slots = list(self._live_slots())
        return [render.as_dict(s) for s in slots]

    def iter_truth_lines(self) -> Iterator[str]:
        """Ground truth as JSON lines (one ``$select=:*,*`` object per line)."""
        with self._lock:
            render = self._renderer(_ALL_FIELDS)
            slots = list(self._live_slots())
        return (render(s) for s in slots)

    def ids(self) -> list[str]:
        """The ids of all live rows."""
        with self._lock:
            ids = self._store.ids
            return [str(ids[s]) for s in self._live_slots()]

    def __len__(self) -> int:
        return self._live

    @property
    def last_updated_at(self) -> str | None:
        """The newest update time stamped so far (``:updated_at`` form)."""
        return format_fixed(self._last_stamp) if self._last_stamp else None

    def stats(self) -> dict[str, Any]:
        """Counters for the admin API and logs."""
        with self._lock:
            return {
                "rows": self._live,
                "row_versions": len(self._store),
                "mutations": self._mutations,
                "daily_loads": self._loads,
                "last_updated_at": self.last_updated_at,
                "max_id": str(self._max_id),
                "location_style": self.location_style,
                "seed": self.seed,
            }


def _json_dumps(obj: Mapping[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
