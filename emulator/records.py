"""A generic emulated dataset: rows kept as dicts of SoQL-domain values.

The crimes dataset (:mod:`emulator.dataset`) has a compact columnar store
tuned for millions of rows; other datasets (traffic crashes, ...) use this
simpler one, described by a :class:`RecordKind`: the columns, the key column,
the event-time column and a seeded row generator.  It speaks the same SoQL
(through :mod:`emulator.engine`), serves the same system fields and supports
the same mutations and ground truth as the crimes dataset:

* values are stored in their SoQL domain (text ``str``, number ``int``/``float``,
  checkbox ``bool``, timestamps as ms, point as ``(lon, lat)``, ``:id`` as int);
* each mutation writes new row versions and kills the old ones, under a lock,
  so pages render outside the lock and always see whole rows;
* each mutation stamps the rows it touches with one update time: ``at`` if
  given, else the dataset clock (monotonic, at least a second past the last stamp).
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from emulator import rowid
from emulator.dataset import LoadReport, Page, RowFilter
from emulator.edits import TimeLike, to_floating, to_instant
from emulator.engine import Indexes, aggregate, select_slots
from emulator.errors import RowNotFoundError
from emulator.render import number_text
from emulator.schema import Column, TableSchema
from emulator.soql import Aggregate, Query, SelectColumn, compile_predicate, parse_query, parse_where
from emulator.timeutil import DAY_MS, fixed_ms, fixed_to_floating, floating_to_fixed, format_fixed, format_floating

__all__ = ["RecordDataset", "RecordKind", "RecordStore", "soda_json_value"]

log = logging.getLogger(__name__)

Values = dict[str, Any]
# (rng, floating ms of the event) -> the user columns' values (domain form; None or absent = null)
RowDrawer = Callable[[random.Random, int], Values]
# (rng, the current values) -> changes (domain form) of a plausible correction
Corrector = Callable[[random.Random, Values], Values]
# (rng) -> a fresh key
KeyDrawer = Callable[[random.Random], str]


@dataclass(frozen=True)
class RecordKind:
    """What one generic dataset looks like."""

    dataset_id: str
    schema: TableSchema
    key_field: str  # a text column, unique among live rows
    time_field: str  # the event time (floating timestamp)
    draw_row: RowDrawer
    draw_key: KeyDrawer
    correction: Corrector
    derive: Callable[[Values], None] = lambda values: None  # recompute derived columns in place
    load_second_of_day: int = 15 * 3600 + 40 * 60  # daily loads at about 15:40 Chicago time
    publication_lag_days: tuple[int, int] = (1, 10)  # rows appear this many days after the event


def _point(value: tuple[float, float]) -> dict[str, Any]:
    lon, lat = value
    return {"type": "Point", "coordinates": [lon, lat]}


_TO_JSON: dict[str, Callable[[Any], Any]] = {
    "row_identifier": rowid.encode,
    "fixed_timestamp": format_fixed,
    "floating_timestamp": format_floating,
    "number": number_text,
    "point": _point,
    "location": _point,
}


def soda_json_value(column: Column, value: Any) -> Any:
    """A domain value as the portal writes it in JSON (None = the field is omitted)."""
    if value is None:
        return None
    convert = _TO_JSON.get(column.type)
    return value if convert is None else convert(value)


def _soda_type(column: Column) -> str:
    return "meta_data" if column.type in ("row_identifier", "fixed_timestamp") else column.type


def _from_user(column: Column, value: Any) -> Any:
    """A value as a user (or the admin API) writes it -> the column's domain."""
    if value is None or value == "":
        return None
    kind = column.type
    if kind == "number":
        number = float(value)
        return int(number) if number.is_integer() else number
    if kind == "checkbox":
        if isinstance(value, str):
            if value.lower() not in ("true", "false"):
                raise ValueError(f"not a boolean: {value!r}")
            return value.lower() == "true"
        return bool(value)
    if kind == "floating_timestamp":
        return to_floating(value)
    if kind in ("point", "location"):
        raise ValueError(f"{column.name} is derived from latitude/longitude")
    return str(value)


class RecordStore:
    """Row versions as dicts; slots are never modified once written, except ``alive``."""

    def __init__(self) -> None:
        self.rows: list[Values] = []
        self.alive = bytearray()

    def __len__(self) -> int:
        return len(self.rows)

    def append(self, values: Values) -> int:
        self.rows.append(values)
        self.alive.append(1)
        return len(self.rows) - 1

    def getter(self, name: str) -> Callable[[int], Any]:
        rows = self.rows
        return lambda s: rows[s].get(name)


class RecordDataset:
    """An in-memory, thread-safe emulated dataset of one :class:`RecordKind`."""

    def __init__(self, kind: RecordKind, *, seed: int = 42, clock: Callable[[], datetime] | None = None) -> None:
        self.kind = kind
        self.schema = kind.schema
        self.seed = seed
        self._clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self._store = RecordStore()
        self._indexes = Indexes(self._store)
        self._lock = threading.RLock()
        self._rng = random.Random(seed * 7919 + 23)
        self._rowid_key = random.Random(seed).getrandbits(60)
        self._next_row_seq = 0
        self._by_key: dict[str, int] = {}
        self._last_stamp = 0
        self._mutations = 0
        self._loads = 0

    # -- generation -------------------------------------------------------------

    @classmethod
    def generate(
        cls,
        kind: RecordKind,
        n_rows: int,
        seed: int = 42,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        days: int = 365,
        correction_share: float = 0.05,
        clock: Callable[[], datetime] | None = None,
    ) -> RecordDataset:
        """``n_rows`` rows with event times in ``[start, end)``, each published by a daily load after it.

        ``end`` defaults to the day of the newest daily load the clock has seen,
        so no stamp lies in the clock's future.
        """
        dataset = cls(kind, seed=seed, clock=clock)
        now = fixed_ms(dataset._clock())
        today = fixed_to_floating(now) // DAY_MS
        last_load_day = today if dataset._load_ms(today) <= now else today - 1
        end_ms = to_floating(end) if end is not None else last_load_day * DAY_MS
        start_ms = to_floating(start) if start is not None else end_ms - days * DAY_MS
        if end_ms <= start_ms:
            raise ValueError("the date range is empty")
        rng = random.Random(seed)
        lo, hi = kind.publication_lag_days
        last_load_day = max(last_load_day, (end_ms - 1) // DAY_MS + 1)
        events = sorted(start_ms + int(rng.random() * (end_ms - start_ms)) // 60_000 * 60_000 for _ in range(n_rows))
        drafts = []
        for event in events:
            load_day = min(event // DAY_MS + rng.randint(lo, hi), last_load_day)
            created = dataset._load_ms(load_day)
            updated = created
            if rng.random() < correction_share:
                later = load_day + 1 + int(rng.random() * 60)
                if later <= last_load_day:
                    updated = dataset._load_ms(later)
            drafts.append((created, updated, event))
        drafts.sort(key=lambda d: d[0])
        for created, updated, event in drafts:
            values = kind.draw_row(rng, event)
            values.setdefault(kind.time_field, event)
            values[kind.key_field] = dataset._fresh_key(rng)
            dataset._write(values, created=created, updated=updated)
        dataset._last_stamp = max((d[1] for d in drafts), default=0)
        return dataset

    def _load_ms(self, day: int) -> int:
        return floating_to_fixed(day * DAY_MS + self.kind.load_second_of_day * 1000)

    def _fresh_key(self, rng: random.Random) -> str:
        while True:
            key = self.kind.draw_key(rng)
            if key not in self._by_key:
                return key

    def _write(self, values: Values, *, created: int, updated: int, row_key: int | None = None) -> int:
        """Append one live version (the caller holds the lock or is still building)."""
        self.kind.derive(values)
        if row_key is None:
            row_key = rowid.scramble(self._next_row_seq, self._rowid_key)
            self._next_row_seq += 1
        row = {name: value for name, value in values.items() if value is not None}
        row[":id"], row[":created_at"], row[":updated_at"] = row_key, created, updated
        slot = self._store.append(row)
        self._by_key[str(row[self.kind.key_field])] = slot
        return slot

    # -- clock and lookups ------------------------------------------------------

    def _stamp(self, at: datetime | str | None) -> int:
        instant = to_instant(at)
        if instant is not None:
            ms = fixed_ms(instant)
        else:
            now = fixed_ms(self._clock()) // 1000 * 1000
            ms = max(now, (self._last_stamp // 1000 + 1) * 1000)
        self._last_stamp = max(self._last_stamp, ms)
        return ms

    def _find(self, key: str | int) -> int:
        slot = self._by_key.get(str(key))
        if slot is None:
            raise RowNotFoundError(str(key))
        return slot

    def _live_slots(self) -> Iterator[int]:
        alive = self._store.alive
        return (s for s in range(len(self._store)) if alive[s])

    def _user_values(self, slot: int) -> Values:
        return {k: v for k, v in self._store.rows[slot].items() if not k.startswith(":")}

    def _commit(self, old: Sequence[int], new: Sequence[int]) -> None:
        for slot in old:
            self._store.alive[slot] = 0
        self._indexes.replace(list(old), list(new))
        self._mutations += 1

    def _apply(self, values: Values, changes: Mapping[str, Any]) -> Values:
        by_name = self.schema.by_name
        for name, value in changes.items():
            column = by_name.get(name)
            if column is None or column.is_system:
                raise ValueError(f"unknown field {name!r}")
            if name == self.kind.key_field:
                raise ValueError(f"cannot change the key {name!r}")
            values[name] = _from_user(column, value)
        return values

    # -- mutations --------------------------------------------------------------

    def _fresh_values(self, stamp: int) -> Values:
        rng = self._rng
        lo, hi = self.kind.publication_lag_days
        load_day = fixed_to_floating(stamp) // DAY_MS
        event = (load_day - rng.randint(lo, hi)) * DAY_MS + rng.randrange(0, DAY_MS, 60_000)
        values = self.kind.draw_row(rng, event)
        values.setdefault(self.kind.time_field, event)
        values[self.kind.key_field] = self._fresh_key(rng)
        return values

    def insert(self, rows: int | Sequence[Mapping[str, Any]], *, at: datetime | str | None = None) -> list[str]:
        """Add rows (a count to generate, or mappings of field values; the key may be given); return their keys."""
        with self._lock:
            stamp = self._stamp(at)
            batch: list[Values] = []
            if isinstance(rows, int):
                batch = [self._fresh_values(stamp) for _ in range(rows)]
            else:
                keys: set[str] = set()
                for mapping in rows:
                    changes = dict(mapping)
                    explicit = changes.pop(self.kind.key_field, None)
                    values = self._apply(self._fresh_values(stamp), changes)
                    if explicit is not None:
                        key = str(explicit)
                        if key in self._by_key or key in keys:
                            raise ValueError(f"{self.kind.key_field} {key} is already in the dataset")
                        values[self.kind.key_field] = key
                    keys.add(str(values[self.kind.key_field]))
                    batch.append(values)
            new = [self._write(values, created=stamp, updated=stamp) for values in batch]
            self._commit([], new)
            return [str(values[self.kind.key_field]) for values in batch]

    def correct(self, row_id: str | int, *, at: datetime | str | None = None, **changes: Any) -> dict[str, Any]:
        """Change fields of one row; return the new row as served with ``$select=:*,*``."""
        with self._lock:
            slot = self._find(row_id)
            old = self._store.rows[slot]
            values = self._apply(self._user_values(slot), changes)
            new = self._write(values, created=old[":created_at"], updated=self._stamp(at), row_key=old[":id"])
            self._commit([slot], [new])
            return self._as_dict(new)

    def delete(self, *row_ids: str | int) -> int:
        """Remove rows (no tombstone: they just vanish); return how many."""
        with self._lock:
            slots = [self._find(r) for r in row_ids]
            for slot in slots:
                del self._by_key[str(self._store.rows[slot][self.kind.key_field])]
            self._commit(slots, [])
            return len(slots)

    def restamp(
        self,
        target: RowFilter | None = None,
        *,
        where: str | None = None,
        at: datetime | str | None = None,
    ) -> int:
        """Give rows one new update time (all rows if no ``target``/``where``); return how many."""
        with self._lock:
            if isinstance(target, (str, int)):
                target = [target]
            if target is None:
                slots = list(self._live_slots())
            elif callable(target):
                predicate = target
                slots = [s for s in self._live_slots() if predicate(self._as_dict(s))]
            else:
                slots = [self._find(r) for r in target]
            if where is not None:
                test = compile_predicate(parse_where(where, schema=self.schema), self._store.getter)
                slots = [s for s in slots if test(s) is True]
            stamp = self._stamp(at)
            new = []
            for slot in slots:
                old = self._store.rows[slot]
                new.append(
                    self._write(self._user_values(slot), created=old[":created_at"], updated=stamp, row_key=old[":id"])
                )
            self._commit(slots, new)
            return len(slots)

    def daily_load(
        self,
        new_rows: int = 650,
        corrections: int = 5,
        deletions: int = 1,
        *,
        at: datetime | str | None = None,
    ) -> LoadReport:
        """One daily load (new rows, corrections, deletions) sharing one update time; without ``at``, a day later."""
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
            for _ in range(min(corrections, len(self._by_key))):
                key = rng.choice(list(self._by_key))
                change = self.kind.correction(rng, self._user_values(self._by_key[key]))
                self._correct_domain(key, instant, change)
                corrected.append(key)
            deleted: list[str] = []
            for _ in range(min(deletions, len(self._by_key))):
                key = rng.choice(list(self._by_key))
                self.delete(key)
                deleted.append(key)
            inserted = self.insert(new_rows, at=instant) if new_rows else []
            self._loads += 1
            report = LoadReport(format_fixed(fixed_ms(instant)), inserted, corrected, deleted)
            log.info(
                "%s daily load at %s: %d new, %d corrected, %d deleted",
                self.kind.dataset_id,
                report.at,
                len(inserted),
                len(corrected),
                len(deleted),
            )
            return report

    def _correct_domain(self, key: str, at: datetime, changes: Values) -> None:
        slot = self._find(key)
        old = self._store.rows[slot]
        values = self._user_values(slot) | changes
        new = self._write(values, created=old[":created_at"], updated=self._stamp(at), row_key=old[":id"])
        self._commit([slot], [new])

    # -- reading ----------------------------------------------------------------

    def _render(self, pairs: Sequence[tuple[str, str]]) -> Callable[[int], str]:
        by_name = self.schema.by_name
        columns = [(output, by_name[name]) for output, name in pairs]
        rows = self._store.rows

        def render(slot: int) -> str:
            row = rows[slot]
            obj = {}
            for output, column in columns:
                value = soda_json_value(column, row.get(column.name))
                if value is not None:
                    obj[output] = value
            return _json_dumps(obj)

        return render

    def _as_dict(self, slot: int) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self._render([(n, n) for n in self.schema.names])(slot))
        return parsed

    def execute(self, query: Query) -> Page:
        """Run a parsed query (parse it with this dataset's ``schema``)."""
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
                        column = self.schema.by_name[item.column]
                        types.append(_soda_type(column))
                        rendered = soda_json_value(column, values[item.output])
                        if rendered is not None:
                            obj[item.output] = rendered
                rows = [] if query.offset > 0 or query.limit == 0 else [_json_dumps(obj)]
                return Page(fields, types, len(rows), iter(rows))
            pairs = [(item.output, item.name) for item in query.select if isinstance(item, SelectColumn)]
            slots = select_slots(query, self._store, self._indexes, self._live_slots)
            render = self._render(pairs)
            types = [_soda_type(self.schema.by_name[name]) for _, name in pairs]
        return Page([p[0] for p in pairs], types, len(slots), (render(s) for s in slots))

    def query(self, params: Mapping[str, str], *, page_cap: int | None = None) -> list[dict[str, Any]]:
        """Rows for SODA query parameters, as parsed JSON."""
        page = self.execute(parse_query(params, page_cap=page_cap, schema=self.schema))
        return [json.loads(text) for text in page.json_rows()]

    def current_rows(self) -> list[dict[str, Any]]:
        """Ground truth: every live row as served with ``$select=:*,*`` (nulls omitted)."""
        return [json.loads(line) for line in self.iter_truth_lines()]

    def iter_truth_lines(self) -> Iterator[str]:
        """Ground truth as JSON lines (one ``$select=:*,*`` object per line)."""
        with self._lock:
            render = self._render([(n, n) for n in self.schema.names])
            slots = list(self._live_slots())
        return (render(s) for s in slots)

    def ids(self) -> list[str]:
        """The keys of all live rows."""
        with self._lock:
            return [str(self._store.rows[s][self.kind.key_field]) for s in self._live_slots()]

    def __len__(self) -> int:
        return len(self._by_key)

    @property
    def last_updated_at(self) -> str | None:
        return format_fixed(self._last_stamp) if self._last_stamp else None

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "dataset_id": self.kind.dataset_id,
                "rows": len(self._by_key),
                "row_versions": len(self._store),
                "mutations": self._mutations,
                "daily_loads": self._loads,
                "last_updated_at": self.last_updated_at,
                "seed": self.seed,
            }


def _json_dumps(obj: Mapping[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
