"""The second dataset: Chicago traffic crashes (85ca-t3if) beside the crimes, with the same SoQL and admin API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from emulator_support import client_for, make_dataset

from emulator import EmulatorServer
from emulator.crashes import CRASHES_DATASET_ID, generate_crashes
from emulator.records import RecordDataset
from emulator.server import _server_from
from emulator.settings import EmulatorSettings

CRASHES = f"/resource/{CRASHES_DATASET_ID}.json"


def _clock() -> datetime:
    return datetime(2024, 7, 20, tzinfo=UTC)


def _crashes(n: int = 1200, seed: int = 4) -> RecordDataset:
    return generate_crashes(n, seed, start="2024-01-01", end="2024-07-01", clock=_clock)


@pytest.fixture
def crashes() -> RecordDataset:
    return _crashes()


@pytest.fixture
def both(crashes: RecordDataset) -> Iterator[tuple[EmulatorServer, httpx.Client]]:
    server = EmulatorServer(make_dataset(300), extra_datasets={CRASHES_DATASET_ID: crashes})
    with server, client_for(server.start().url) as http:
        yield server, http


def _keyset(http: httpx.Client, limit: int) -> list[dict[str, str]]:
    """Every row by keyset paging over (:updated_at, :id), as the poller pages."""
    rows: list[dict[str, str]] = []
    where = "crash_date >= '2000-01-01T00:00:00.000'"
    while True:
        params = {"$select": ":*,*", "$where": where, "$order": ":updated_at, :id", "$limit": str(limit)}
        page = http.get(CRASHES, params=params).raise_for_status().json()
        rows += page
        if len(page) < limit:
            return rows
        ts, rid = page[-1][":updated_at"].rstrip("Z"), page[-1][":id"]
        where = (
            "crash_date >= '2000-01-01T00:00:00.000' AND "
            f"(:updated_at > '{ts}' OR (:updated_at = '{ts}' AND :id > '{rid}'))"
        )


def test_same_seed_same_rows_and_fields_as_the_portal_writes_them() -> None:
    a, b = _crashes(300, 9), _crashes(300, 9)
    assert a.current_rows() == b.current_rows()
    assert a.current_rows() != _crashes(300, 10).current_rows()
    row = next(r for r in a.current_rows() if "latitude" in r and r["latitude"] != "0")
    assert len(row["crash_record_id"]) == 128
    assert set(row) >= {":id", ":created_at", ":updated_at", "crash_date", "posted_speed_limit", "damage"}
    assert isinstance(row["posted_speed_limit"], str) and row["posted_speed_limit"].isdigit()  # numbers as text
    assert len(row["crash_date"]) == 23 and not row["crash_date"].endswith("Z")  # floating timestamp
    assert row["location"] == {"type": "Point", "coordinates": [float(row["longitude"]), float(row["latitude"])]}
    rows = a.current_rows()
    missing = sum("latitude" not in r for r in rows)
    assert 0 < missing < len(rows) * 0.05  # nulls are omitted, about 1% of rows
    assert all(r[":updated_at"] >= r[":created_at"] for r in rows)
    assert all(r[":created_at"][:10] > r["crash_date"][:10] for r in rows)  # published days after the crash


def test_served_beside_the_crimes_with_keyset_paging_exactly_once(
    both: tuple[EmulatorServer, httpx.Client], crashes: RecordDataset
) -> None:
    _, http = both
    crimes = http.get("/resource/ijzp-q8t2.json", params={"$limit": "5"}).json()
    assert len(crimes) == 5 and "primary_type" in crimes[0]
    crashes.restamp(at="2024-07-05T12:00:00Z")  # every row ties on the update time
    rows = _keyset(http, limit=170)
    keys = [r["crash_record_id"] for r in rows]
    assert len(keys) == len(set(keys)) == len(crashes)
    assert sorted(rows, key=lambda r: r["crash_record_id"]) == sorted(
        crashes.current_rows(), key=lambda r: r["crash_record_id"]
    )
    response = http.get(CRASHES, params={"$limit": "1"})
    assert "crash_record_id" in response.headers["X-SODA2-Fields"]
    assert http.get("/resource/zzzz-0000.json").status_code == 404


def test_soql_filters_aggregates_and_errors_use_the_crash_columns(
    both: tuple[EmulatorServer, httpx.Client], crashes: RecordDataset
) -> None:
    _, http = both
    truth = crashes.current_rows()
    rows = http.get(CRASHES, params={"$where": "injuries_total >= 2 AND damage = 'OVER $1,500'", "$limit": "5000"})
    expected = [r for r in truth if int(r["injuries_total"]) >= 2 and r["damage"] == "OVER $1,500"]
    assert rows.json() and len(rows.json()) == len(expected)
    count = http.get(CRASHES, params={"$select": "count(*) AS n", "$where": "injuries_total > 0"}).json()
    assert int(count[0]["n"]) == sum(1 for r in truth if r["injuries_total"] != "0") > 0
    newest = http.get(CRASHES, params={"$select": "max(crash_date)"}).json()[0]["max_crash_date"]
    assert newest < "2024-07-01"
    wrong = http.get(CRASHES, params={"$where": "primary_type = 'THEFT'"})  # a crimes column
    assert wrong.status_code == 400 and wrong.json()["errorCode"] == "query.soql.no-such-column"
    simple = http.get(CRASHES, params={"weather_condition": "SNOW", "$limit": "5000"}).json()
    assert simple and {r["weather_condition"] for r in simple} == {"SNOW"}


def test_admin_mutations_and_truth_name_the_dataset(
    both: tuple[EmulatorServer, httpx.Client], crashes: RecordDataset
) -> None:
    server, http = both
    key = crashes.ids()[0]
    changed = http.post(
        "/_emulator/correct",
        json={
            "dataset": CRASHES_DATASET_ID,
            "id": key,
            "changes": {"injuries_total": "4"},
            "at": "2024-08-01T00:00:00Z",
        },
    ).json()["row"]
    assert changed["injuries_total"] == "4" and changed[":updated_at"] == "2024-08-01T00:00:00.000Z"
    inserted = http.post("/_emulator/insert", json={"dataset": CRASHES_DATASET_ID, "count": 3}).json()["ids"]
    assert len(inserted) == 3 and all(len(k) == 128 for k in inserted)
    gone = crashes.ids()[1]
    assert http.post("/_emulator/delete", json={"dataset": CRASHES_DATASET_ID, "ids": [gone]}).json() == {"deleted": 1}
    restamped = http.post(
        "/_emulator/restamp", json={"dataset": CRASHES_DATASET_ID, "where": "injuries_fatal > 0"}
    ).json()
    assert restamped["restamped"] == sum(1 for r in crashes.current_rows() if r.get("injuries_fatal", "0") != "0")
    load = http.post(
        "/_emulator/load", json={"dataset": CRASHES_DATASET_ID, "rows": 7, "corrections": 2, "deletions": 1}
    ).json()
    assert len(load["inserted"]) == 7 and len(load["deleted"]) == 1
    truth = http.get("/_emulator/truth", params={"dataset": CRASHES_DATASET_ID}).text.splitlines()
    keys = {json.loads(line)["crash_record_id"] for line in truth}
    assert keys == set(crashes.ids())
    assert key in keys and gone not in keys and set(inserted) <= keys
    assert len(server.dataset) == 300  # the crimes were not touched
    assert http.post("/_emulator/delete", json={"dataset": "nope-nope", "ids": [key]}).status_code == 400


def test_corrections_keep_the_location_consistent(crashes: RecordDataset) -> None:
    key = next(r["crash_record_id"] for r in crashes.current_rows() if "latitude" in r)
    row = crashes.correct(key, latitude="41.9", longitude="-87.7")
    assert row["location"] == {"type": "Point", "coordinates": [-87.7, 41.9]}
    row = crashes.correct(key, latitude=None)
    assert "latitude" not in row and "longitude" not in row and "location" not in row
    with pytest.raises(ValueError, match="unknown field"):
        crashes.correct(key, primary_type="THEFT")


def test_settings_serve_the_crashes_and_the_drift_knob_adds_a_column_to_every_row() -> None:
    settings = EmulatorSettings(emulator_rows=200, emulator_crash_rows=150, emulator_extra_fields={"new_field": "x"})
    server = _server_from(settings, make_dataset(200))
    assert (
        list(server.datasets) == ["ijzp-q8t2", CRASHES_DATASET_ID] and len(server.datasets[CRASHES_DATASET_ID]) == 150
    )
    with server, client_for(server.url) as http:
        for resource in ("/resource/ijzp-q8t2.json", CRASHES):
            response = http.get(resource, params={"$select": ":*,*", "$limit": "50"})
            rows = response.json()  # still valid JSON
            assert len(rows) == 50 and all(r["new_field"] == "x" for r in rows)
            assert "new_field" in response.headers["X-SODA2-Fields"]
        count = http.get(CRASHES, params={"$select": "count(*) AS n"}).json()
        assert count == [{"n": "150"}]  # aggregates are not rows: no drift there
        assert http.post("/_emulator/config", json={"extra_fields": {}}).json()["extra_fields"] == {}
        assert "new_field" not in http.get(CRASHES, params={"$limit": "1"}).json()[0]
        assert http.post("/_emulator/config", json={"extra_fields": ["x"]}).status_code == 400
    assert _server_from(EmulatorSettings(emulator_crash_rows=0), make_dataset(10)).datasets.keys() == {"ijzp-q8t2"}


def test_sodapy_style_system_fields_flag_selects_them() -> None:
    with EmulatorServer(make_dataset(30)) as server, client_for(server.url) as http:
        plain = http.get("/resource/ijzp-q8t2.json", params={"$limit": "1"}).json()[0]
        full = http.get("/resource/ijzp-q8t2.json", params={"$limit": "1", "$$exclude_system_fields": "false"}).json()[
            0
        ]
    assert ":id" not in plain and ":id" in full and full["id"] == plain["id"]
