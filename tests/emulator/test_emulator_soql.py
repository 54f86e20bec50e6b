"""SoQL parsing, type checking and three-valued evaluation (pure: no dataset, no HTTP)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from emulator import rowid
from emulator.errors import SoqlError
from emulator.soql import (
    DEFAULT_LIMIT,
    Aggregate,
    BAnd,
    BCompare,
    BOr,
    OrderItem,
    SelectColumn,
    compile_predicate,
    parse_order,
    parse_query,
    parse_select,
    parse_where,
)
from emulator.timeutil import parse_fixed_literal, parse_floating_literal

ROWS: list[dict[str, Any]] = [
    {
        "id": 10,
        "primary_type": "THEFT",
        "beat": "0421",
        "latitude": 41.8,
        "arrest": True,
        "date": parse_floating_literal("2024-03-01T10:00:00"),
        ":updated_at": parse_fixed_literal("2024-03-09T21:40:00Z"),
        ":id": rowid.decode("row-aaaa-bbbb-cccc"),
    },
    {
        "id": 11,
        "primary_type": "BATTERY",
        "beat": "1834",
        "latitude": None,
        "arrest": False,
        "date": parse_floating_literal("2024-03-02T23:59:00"),
        ":updated_at": parse_fixed_literal("2024-03-09T21:40:00Z"),
        ":id": rowid.decode("row-aaaa-bbbb-cccd"),
    },
    {
        "id": 12,
        "primary_type": "ASSAULT",
        "beat": "0421",
        "latitude": 41.95,
        "arrest": False,
        "date": parse_floating_literal("2024-04-01T00:00:00"),
        ":updated_at": parse_fixed_literal("2024-04-09T21:40:00Z"),
        ":id": rowid.decode("row-2222-2222-2223"),
    },
]


def getter(name: str) -> Callable[[int], Any]:
    return lambda s: ROWS[s].get(name)


def matching(where: str) -> list[int]:
    predicate = compile_predicate(parse_where(where), getter)
    return [ROWS[s]["id"] for s in range(len(ROWS)) if predicate(s) is True]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("id = 11", [11]),
        ("id != 11", [10, 12]),
        ("id <> 11", [10, 12]),
        ("id >= 11 AND id < 12", [11]),
        ("primary_type = 'THEFT' OR primary_type = 'ASSAULT'", [10, 12]),
        ("(primary_type = 'THEFT' OR beat = '1834') AND NOT arrest = true", [11]),
        ("beat = '0421'", [10, 12]),
        ("latitude > 41.9", [12]),
        ("latitude IS NULL", [11]),
        ("latitude IS NOT NULL", [10, 12]),
        ("primary_type IN ('THEFT', 'BATTERY')", [10, 11]),
        ("primary_type NOT IN ('THEFT')", [11, 12]),
        ("id BETWEEN 11 AND 12", [11, 12]),
        ("id NOT BETWEEN 11 AND 12", [10]),
        ("primary_type LIKE '%TT%'", [11]),
        ("primary_type NOT LIKE 'T%'", [11, 12]),
        ("arrest", [10]),
        ("date < '2024-03-02'", [10]),
        ("date >= '2024-03-02T23:59:00.000'", [11, 12]),
        ("date > '2024-03-02T12:00'", [11, 12]),
        (":updated_at = '2024-03-09T21:40:00.000Z'", [10, 11]),
        (":updated_at > '2024-03-09T21:40:00.000'", [12]),
        (":updated_at < '2024-03-09T16:40:00-05:00'", []),
        ("id > '10'", [11, 12]),
        ("11 < id", [12]),
        ("id = -1", []),
        ("primary_type = 'O''HARE'", []),
        ('primary_type = "THEFT"', [10]),
        ("`primary_type` = 'THEFT'", [10]),
    ],
)
def test_where_evaluation(where: str, expected: list[int]) -> None:
    assert matching(where) == expected


def test_comparison_with_null_is_unknown_even_under_not() -> None:
    # SQL three-valued logic: NOT (NULL > x) is still unknown, so the row is not returned.
    assert matching("NOT latitude > 41.9") == [10]
    assert matching("latitude = NULL") == []
    assert matching("latitude != 1 OR id = 11") == [10, 11, 12]


def test_keyset_condition_on_updated_at_and_row_id() -> None:
    where = (
        ":updated_at > '2024-03-09T21:40:00.000Z' OR "
        "(:updated_at = '2024-03-09T21:40:00.000Z' AND :id > 'row-aaaa-bbbb-cccc')"
    )
    assert matching(where) == [11, 12]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (":id > 'row-aaaa'", [10, 11]),  # a prefix sorts before every id that extends it
        (":id >= 'row-aaaa-bbbb-cccd'", [11]),
        (":id <= 'row-aaaa-bbbb-cccc'", [10, 12]),
        (":id < 'row-3'", [12]),
        (":id = 'not-a-row-id'", []),
        (":id != 'not-a-row-id'", [10, 11, 12]),
        (":id = 'row-2222-2222-2223'", [12]),
        (":id IN ('row-2222-2222-2223', 'row-aaaa-bbbb-cccc')", [10, 12]),
        (":id > 'zzz'", []),
        (":id > ''", [10, 11, 12]),
    ],
)
def test_row_id_comparisons_follow_string_order(where: str, expected: list[int]) -> None:
    assert matching(where) == expected


def test_row_id_string_order_equals_integer_order() -> None:
    values = [0, 1, 31, 32, 1023, 1024, 2**59, 2**60 - 1, 123456789012345]
    assert sorted(values) == sorted(values, key=rowid.encode)
    for v in values:
        assert rowid.decode(rowid.encode(v)) == v
        assert rowid.rank(rowid.encode(v)) == v


@pytest.mark.parametrize(
    ("where", "code"),
    [
        ("id >", "query.compiler.malformed"),
        ("id = 1 AND", "query.compiler.malformed"),
        ("(id = 1", "query.compiler.malformed"),
        ("primary_type = 'THEFT", "query.compiler.malformed"),
        ("id = 1 id = 2", "query.compiler.malformed"),
        ("nope = 1", "query.soql.no-such-column"),
        ("beat = 421", "query.soql.type-mismatch"),
        ("id = 'abc'", "query.soql.type-mismatch"),
        ("date > '2024-13-45'", "query.soql.type-mismatch"),
        ("date > '2024-01-01T00:00:00Z'", "query.soql.type-mismatch"),
        ("location = 'x'", "query.soql.type-mismatch"),
        ("id", "query.soql.type-mismatch"),
        ("upper(primary_type) = 'THEFT'", "query.soql.no-such-function"),
        ("primary_type LIKE 5", "query.soql.type-mismatch"),
        ("id = beat", "query.soql.type-mismatch"),
    ],
)
def test_where_errors(where: str, code: str) -> None:
    with pytest.raises(SoqlError) as info:
        parse_where(where)
    assert info.value.code == code


def test_malformed_error_points_at_the_position_in_the_query() -> None:
    with pytest.raises(SoqlError) as info:
        parse_query({"$where": "id >", "$limit": "5"})
    error = info.value
    assert error.data["query"] == "SELECT * WHERE id > LIMIT 5"
    assert error.data["position"] == {"line": 1, "column": 20}
    assert "Expected an expression" in error.message


def test_select_expansion_and_aliases() -> None:
    both = parse_select(":*,*")
    assert [i.output for i in both][:4] == [":id", ":created_at", ":updated_at", "id"]
    assert len(both) == 25
    star = parse_select("*")
    assert len(star) == 22 and all(not i.output.startswith(":") for i in star)
    items = parse_select("id, :updated_at AS stamp, date")
    assert items == (SelectColumn("id", "id"), SelectColumn(":updated_at", "stamp"), SelectColumn("date", "date"))
    assert parse_select("count(*), max(:updated_at)") == (
        Aggregate("count", None, "count"),
        Aggregate("max", ":updated_at", "max_updated_at"),
    )
    with pytest.raises(SoqlError) as info:
        parse_select("id, count(*)")
    assert info.value.code == "query.soql.column-not-in-group-bys"
    with pytest.raises(SoqlError):
        parse_select("id AS x, date AS x")


def test_order_parsing() -> None:
    assert parse_order(":updated_at, :id") == (OrderItem(":updated_at"), OrderItem(":id"))
    assert parse_order("date DESC, id ASC") == (OrderItem("date", True), OrderItem("id"))
    with pytest.raises(SoqlError) as info:
        parse_order("location")
    assert info.value.code == "query.soql.un-orderable-order"


def test_query_defaults_limits_and_simple_filters() -> None:
    q = parse_query({})
    assert q.limit == DEFAULT_LIMIT and q.offset == 0 and not q.explicit_order
    assert q.order == (OrderItem(":id"),)
    q = parse_query({"$order": "date DESC", "$limit": "50000", "$offset": "7", "$$app_token": "x"})
    assert q.order == (OrderItem("date", True), OrderItem(":id")) and q.limit == 50000 and q.offset == 7
    q = parse_query({"primary_type": "THEFT", "$where": "id > 5"})
    assert q.where == BAnd((BCompare("id", ">", 5), BCompare("primary_type", "=", "THEFT")))
    with pytest.raises(SoqlError) as info:
        parse_query({"$limit": "50001"})
    assert info.value.code == "req.row-limit-exceeded" and info.value.data == {"limit": 50000}
    assert parse_query({"$limit": "200000"}, page_cap=None).limit == 200000
    for bad in ({"$limit": "-1"}, {"$limit": "ten"}, {"$offset": "x"}, {"$group": "beat"}):
        with pytest.raises(SoqlError):
            parse_query(bad)
    with pytest.raises(SoqlError) as info:
        parse_query({"no_such_field": "1"})
    assert info.value.code == "query.soql.no-such-column"


def test_or_of_ands_flattens() -> None:
    expr = parse_where("id = 1 OR id = 2 OR (id = 3 AND beat = '1' AND beat = '2')")
    assert isinstance(expr, BOr) and len(expr.items) == 3
    third = expr.items[2]
    assert isinstance(third, BAnd) and len(third.items) == 3
