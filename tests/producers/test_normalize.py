from datetime import UTC, datetime

import pytest

from crimestream.errors import ValidationError
from producers.normalize import normalize_row, parse_floating


def _row(**extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "id": "13364090",
        "case_number": "JH146864",
        "date": "2024-02-10T00:44:00.000",
        "block": "002XX W 47TH ST",
        "iucr": "0484",
        "primary_type": "BATTERY",
        "arrest": True,
        "domestic": False,
        "beat": "0925",
        "district": "009",
        "ward": "20",
        "community_area": "37",
        "fbi_code": "08B",
        "x_coordinate": "1175476",
        "y_coordinate": "1873816",
        "year": "2024",
        "updated_on": "2025-05-17T15:40:52.000",
        "latitude": "41.809125265",
        "longitude": "-87.631906508",
        "location": {"type": "Point", "coordinates": [-87.631906508, 41.809125265]},
        ":id": "row-abcd",
        ":updated_at": "2025-05-17T20:40:52.000Z",
    }
    row.update(extra)
    return row


def test_codes_keep_leading_zeros_and_types_are_real() -> None:
    rec = normalize_row(_row())
    assert rec["beat"] == "0925" and rec["district"] == "009" and rec["iucr"] == "0484"
    assert rec["arrest"] is True and rec["domestic"] is False
    assert rec["year"] == 2024 and rec["x_coordinate"] == 1175476.0
    assert rec["latitude"] == pytest.approx(41.809125265)
    assert rec["flags"] == []


def test_floating_local_time_is_read_as_chicago() -> None:
    rec = normalize_row(_row())
    # 00:44 in Chicago in February (CST, UTC-6) is 06:44 UTC.
    assert rec["date"] == datetime(2024, 2, 10, 6, 44, tzinfo=UTC)
    # Summer time: UTC-5.
    assert parse_floating("2024-07-01T12:00:00.000") == datetime(2024, 7, 1, 17, 0, tzinfo=UTC)


def test_source_update_time_prefers_system_field_then_updated_on() -> None:
    assert normalize_row(_row())["source_updated_at"] == datetime(2025, 5, 17, 20, 40, 52, tzinfo=UTC)
    row = _row()
    del row[":updated_at"]
    assert normalize_row(row)["source_updated_at"] == datetime(2025, 5, 17, 20, 40, 52, tzinfo=UTC)


def test_omitted_fields_become_nulls() -> None:
    row = {"id": "1", "date": "2024-01-01T00:00:00.000", ":updated_at": "2025-01-01T00:00:00.000Z"}
    rec = normalize_row(row)
    assert rec["latitude"] is None and rec["beat"] is None and rec["arrest"] is None and rec["location"] is None


def test_coordinates_outside_chicago_are_nulled_and_flagged() -> None:
    rec = normalize_row(_row(latitude="36.619446395", longitude="-91.686565684"))
    assert rec["latitude"] is None and rec["longitude"] is None and rec["location"] is None
    assert rec["x_coordinate"] is None
    assert rec["flags"] == ["coordinates_out_of_bounds"]


def test_unparseable_coordinates_are_nulled_and_flagged() -> None:
    rec = normalize_row(_row(latitude="n/a"))
    assert rec["latitude"] is None and rec["flags"] == ["coordinates_unparseable"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": None}, "no 'id'"),
        ({"date": None}, "no 'date'"),
        ({"date": "yesterday"}, "not a timestamp"),
        ({"arrest": "maybe"}, "not a boolean"),
        ({":updated_at": None, "updated_on": None}, "neither"),
    ],
)
def test_rows_that_cannot_be_valid_raise_with_a_reason(change: dict[str, object], reason: str) -> None:
    row = {k: v for k, v in {**_row(), **change}.items() if v is not None}
    with pytest.raises(ValidationError, match=reason):
        normalize_row(row)
