"""Schema-driven normalisation: any dataset spec's Avro schema, checked on the traffic-crashes dataset."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime
from typing import Any

import fastavro
import pytest

from crimestream.datasets import DATASETS
from crimestream.errors import ValidationError
from emulator.crashes import generate_crashes
from emulator.dataset import Dataset
from producers.normalize import Normalizer
from schemas import load_schema

CRASHES = DATASETS["chicago_traffic_crashes"]


def _crash(**extra: object) -> dict[str, Any]:
    row: dict[str, Any] = {
        ":id": "row-abcd-efgh-ijkm",
        ":updated_at": "2024-03-02T21:40:00.000Z",
        "crash_record_id": "f" * 128,
        "crash_date": "2024-03-01T17:05:00.000",
        "posted_speed_limit": "30",
        "damage": "OVER $1,500",
        "street_no": "0042",
        "beat_of_occurrence": "0421",
        "injuries_total": "2",
        "injuries_fatal": "0",
        "latitude": "41.88",
        "longitude": "-87.63",
        "location": {"type": "Point", "coordinates": [-87.63, 41.88]},
    }
    row.update(extra)
    return row


def _encodes(schema_name: str, record: dict[str, Any]) -> None:
    parsed = fastavro.parse_schema(load_schema(schema_name))
    fastavro.schemaless_writer(io.BytesIO(), parsed, record)


def test_crash_fields_are_converted_by_their_avro_type() -> None:
    rec = Normalizer(CRASHES)(_crash())
    assert rec["crash_record_id"] == "f" * 128
    assert rec["crash_date"] == datetime(2024, 3, 1, 23, 5, tzinfo=UTC)  # 17:05 CST
    assert rec["posted_speed_limit"] == 30 and rec["injuries_total"] == 2 and rec["injuries_fatal"] == 0
    assert rec["street_no"] == "0042" and rec["beat_of_occurrence"] == "0421"  # strings stay strings
    assert rec["latitude"] == pytest.approx(41.88)
    assert rec["location"] == '{"coordinates":[-87.63,41.88],"type":"Point"}'
    assert rec["source_updated_at"] == datetime(2024, 3, 2, 21, 40, tzinfo=UTC)
    assert rec["flags"] == [] and rec["weather_condition"] is None
    _encodes(CRASHES.schema, rec)


def test_crash_coordinates_outside_chicago_are_nulled_and_flagged() -> None:
    rec = Normalizer(CRASHES)(_crash(latitude="0", longitude="0", location={"type": "Point", "coordinates": [0, 0]}))
    assert rec["latitude"] is None and rec["longitude"] is None and rec["location"] is None
    assert rec["flags"] == ["coordinates_out_of_bounds"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"crash_record_id": None}, "no 'crash_record_id'"),
        ({"crash_date": None}, "no 'crash_date'"),
        ({":updated_at": None}, "no ':updated_at'"),
        ({"injuries_total": "two"}, "not an integer"),
    ],
)
def test_crash_rows_that_cannot_be_valid_raise_with_a_reason(change: dict[str, object], reason: str) -> None:
    row = {k: v for k, v in {**_crash(), **change}.items() if v is not None}
    with pytest.raises(ValidationError, match=reason):
        Normalizer(CRASHES)(row)


def test_json_values_in_string_fields_are_dumped_not_rejected() -> None:
    rec = Normalizer(CRASHES)(_crash(damage={"b": 1, "a": [2]}))
    assert rec["damage"] == '{"a":[2],"b":1}'


def test_unknown_fields_are_ignored_and_logged_once_per_name(caplog: pytest.LogCaptureFixture) -> None:
    normalize = Normalizer(CRASHES)
    with caplog.at_level(logging.INFO, logger="producers.normalize"):
        first = normalize(_crash(new_field="x"))
        normalize(_crash(new_field="y"))
        normalize(_crash(new_field="z", other_new="1"))
    assert "new_field" not in first
    assert first == Normalizer(CRASHES)(_crash())
    lines = [r.getMessage() for r in caplog.records if "not in schema" in r.getMessage()]
    assert len(lines) == 2 and "new_field" in lines[0] and "other_new" in lines[1] and "new_field" not in lines[1]


def test_every_emulated_row_of_both_datasets_becomes_a_valid_avro_record() -> None:
    raw = generate_crashes(3000, seed=2).current_rows()
    normalize = Normalizer(CRASHES)
    records = [normalize(r) for r in raw]
    for record in records:
        _encodes(CRASHES.schema, record)
    zeros = sum(r.get("latitude") == "0" for r in raw)
    assert sum(r["flags"] == ["coordinates_out_of_bounds"] for r in records) == zeros
    crimes = Dataset.generate(1500, seed=2)
    for record in map(Normalizer(DATASETS["chicago_crimes"]), crimes.current_rows()):
        _encodes("chicago_crime", record)
