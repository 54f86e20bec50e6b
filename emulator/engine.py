"""Running a parsed SoQL query over the store: sorted indexes, range narrowing, paging.

An index is the list of live slots sorted by an ``$order`` (which always ends in
``:id``, so every live row has a distinct position).  Indexes are built on first
use, kept up to date on small mutations (ascending orders) and dropped on large
ones.  When the ``$where`` bounds the leading sort field -- including the keyset
form ``:updated_at > 'T' OR (:updated_at = 'T' AND :id > 'row-...')`` -- only
that slice of the index is scanned, so a page costs about its own size even
when hundreds of thousands of rows share one ``:updated_at``.
"""

from __future__ import annotations

import bisect
import logging
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from emulator.soql import Aggregate, BAnd, BCompare, BExpr, BIn, BOr, OrderItem, Query, compile_predicate

__all__ = ["Indexes", "SlotStore", "SortedIndex", "aggregate", "select_slots"]

log = logging.getLogger(__name__)

_NULL_KEY = (1, 0)
# Fields the store never holds null: sorted on their raw values (fast C-level key functions).
_NEVER_NULL = frozenset(
    {":id", ":created_at", ":updated_at", "id", "case_number", "date", "arrest", "domestic", "year", "updated_on"}
)
_RANGE_OPS = frozenset({"=", "<", "<=", ">", ">="})


class SlotStore(Protocol):
    """What the engine needs of a store: slots, their liveness and typed field getters."""

    alive: bytearray

    def __len__(self) -> int: ...

    def getter(self, name: str) -> Callable[[int], Any]: ...


def _null_last(get: Callable[[int], Any]) -> Callable[[int], tuple[int, Any]]:
    def key(s: int) -> tuple[int, Any]:
        v = get(s)
        return _NULL_KEY if v is None else (0, v)

    return key


class SortedIndex:
    """Live slots sorted by an order spec; nulls last ascending, first descending."""

    def __init__(self, spec: tuple[OrderItem, ...], store: SlotStore, live: Iterable[int]) -> None:
        self.spec = spec
        self.raw = [item.name in _NEVER_NULL for item in spec]
        self.keys = [
            store.getter(item.name) if raw else _null_last(store.getter(item.name))
            for item, raw in zip(spec, self.raw, strict=True)
        ]
        slots = list(live)
        for item, key in reversed(list(zip(spec, self.keys, strict=True))):
            slots.sort(key=key, reverse=item.descending)
        self.slots = array("I", slots)
        self.ascending = not any(item.descending for item in spec)
        keys = self.keys
        self._full_key: Callable[[int], tuple[Any, ...]] = lambda s: tuple(k(s) for k in keys)

    def __len__(self) -> int:
        return len(self.slots)

    # -- maintenance (ascending indexes only) ------------------------------

    def remove(self, slot: int) -> None:
        pos = bisect.bisect_left(self.slots, self._full_key(slot), key=self._full_key)
        while pos < len(self.slots) and self.slots[pos] != slot:
            pos += 1
        if pos < len(self.slots):
            del self.slots[pos]

    def add(self, slot: int) -> None:
        pos = bisect.bisect_right(self.slots, self._full_key(slot), key=self._full_key)
        self.slots.insert(pos, slot)

    # -- narrowing ---------------------------------------------------------

    def span(self, where: BExpr | None) -> tuple[int, int]:
        """Positions ``[lo, hi)`` outside which no row can satisfy ``where``."""
        if where is None or self.spec[0].descending:
            return 0, len(self.slots)
        return self._span(where)

    def _target(self, position: int, value: Any) -> Any:
        """A literal in the form of the index's key at ``position``."""
        return value if self.raw[position] else (0, value)

    def _bounds(self, key: Callable[[int], Any], target: Any, op: str) -> tuple[int, int]:
        n = len(self.slots)
        if op == "=":
            return (
                bisect.bisect_left(self.slots, target, key=key),
                bisect.bisect_right(self.slots, target, key=key),
            )
        if op == ">":
            return bisect.bisect_right(self.slots, target, key=key), n
        if op == ">=":
            return bisect.bisect_left(self.slots, target, key=key), n
        if op == "<":
            return 0, bisect.bisect_left(self.slots, target, key=key)
        if op == "<=":
            return 0, bisect.bisect_right(self.slots, target, key=key)
        return 0, n

    def _span(self, expr: BExpr) -> tuple[int, int]:
        if isinstance(expr, BAnd):
            lo, hi = 0, len(self.slots)
            for item in expr.items:
                a, b = self._span(item)
                lo, hi = max(lo, a), min(hi, b)
            if len(self.spec) > 1 and not self.spec[1].descending:
                lo, hi = self._compound(expr, lo, hi)
            return lo, max(lo, hi)
        if isinstance(expr, BOr):
            spans = [s for s in (self._span(item) for item in expr.items) if s[0] < s[1]]
            if not spans:
                return 0, 0
            return min(s[0] for s in spans), max(s[1] for s in spans)
        return self._span_leaf(expr)

    def _span_leaf(self, expr: BExpr) -> tuple[int, int]:
        first = self.spec[0].name
        key1 = self.keys[0]
        try:
            if isinstance(expr, BCompare) and expr.field == first:
                return self._bounds(key1, self._target(0, expr.value), expr.op)
            if isinstance(expr, BIn) and expr.field == first and not expr.negated and expr.values:
                low, high = self._target(0, min(expr.values)), self._target(0, max(expr.values))
                return self._bounds(key1, low, ">=")[0], self._bounds(key1, high, "<=")[1]
        except TypeError:  # values of mixed types: no narrowing
            pass
        return 0, len(self.slots)

    def _compound(self, expr: BAnd, lo: int, hi: int) -> tuple[int, int]:
        """``first = x AND second op y``: bisect on the two-field prefix."""
        first, second = self.spec[0].name, self.spec[1].name
        equal = [i.value for i in expr.items if isinstance(i, BCompare) and i.field == first and i.op == "="]
        if not equal:
            return lo, hi
        key1, key2 = self.keys[0], self.keys[1]

        def pair(s: int) -> tuple[Any, Any]:
            return key1(s), key2(s)

        for item in expr.items:
            if isinstance(item, BCompare) and item.field == second and item.op in _RANGE_OPS:
                try:
                    target = (self._target(0, equal[0]), self._target(1, item.value))
                    a, b = self._bounds(pair, target, item.op)
                except TypeError:
                    continue
                lo, hi = max(lo, a), min(hi, b)
        return lo, hi


class Indexes:
    """A few cached :class:`SortedIndex` objects, least recently used dropped first."""

    def __init__(self, store: SlotStore, capacity: int = 4, incremental_limit: int = 2_000) -> None:
        self.store = store
        self.capacity = capacity
        self.incremental_limit = incremental_limit
        self._cache: OrderedDict[tuple[OrderItem, ...], SortedIndex] = OrderedDict()

    def get(self, spec: tuple[OrderItem, ...], live: Callable[[], Iterable[int]]) -> SortedIndex:
        index = self._cache.get(spec)
        if index is None:
            index = SortedIndex(spec, self.store, live())
            log.debug("built index on %s over %d rows", [(i.name, i.descending) for i in spec], len(index))
            self._cache[spec] = index
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(spec)
        return index

    def replace(self, removed: list[int], added: list[int]) -> None:
        """Reflect a mutation: ``removed`` slots died, ``added`` slots were born."""
        if len(removed) + len(added) > self.incremental_limit:
            self._cache.clear()
            return
        for spec in list(self._cache):
            index = self._cache[spec]
            if not index.ascending:
                del self._cache[spec]
                continue
            for slot in removed:
                index.remove(slot)
            for slot in added:
                index.add(slot)

    def clear(self) -> None:
        self._cache.clear()


def _candidates(query: Query, store: SlotStore, indexes: Indexes, live: Callable[[], Iterable[int]]) -> Iterator[int]:
    if not query.explicit_order:
        alive = store.alive
        return (s for s in range(len(store)) if alive[s])
    index = indexes.get(query.order, live)
    lo, hi = index.span(query.where)
    slots = index.slots
    return (slots[i] for i in range(lo, hi))


def select_slots(query: Query, store: SlotStore, indexes: Indexes, live: Callable[[], Iterable[int]]) -> list[int]:
    """The slots of one page of ``query`` (after ``$offset``, at most ``$limit``)."""
    if query.limit == 0:
        return []
    predicate = compile_predicate(query.where, store.getter) if query.where is not None else None
    out: list[int] = []
    skip = query.offset
    limit = query.limit
    for slot in _candidates(query, store, indexes, live):
        if predicate is not None and predicate(slot) is not True:
            continue
        if skip:
            skip -= 1
            continue
        out.append(slot)
        if len(out) >= limit:
            break
    return out


def aggregate(query: Query, store: SlotStore, live: Callable[[], Iterable[int]]) -> dict[str, Any]:
    """The one result row of an aggregate ``$select`` (values in the columns' domains)."""
    predicate = compile_predicate(query.where, store.getter) if query.where is not None else None
    rows = [s for s in live() if predicate is None or predicate(s) is True]
    result: dict[str, Any] = {}
    for item in query.select:
        if not isinstance(item, Aggregate):
            continue
        function, column = item.function, item.column
        if column is None:
            result[item.output] = len(rows)
            continue
        get = store.getter(column)
        values = [v for v in (get(s) for s in rows) if v is not None]
        if function == "count":
            result[item.output] = len(values)
        elif values:
            result[item.output] = min(values) if function == "min" else max(values)
        else:
            result[item.output] = None
    return result
