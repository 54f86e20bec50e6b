"""Mutations in process and through the admin API are what the data API serves next."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from emulator_support import RESOURCE

from emulator import Dataset, EmulatorServer, RowNotFoundError


def one(http: httpx.Client, row_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = http.get(RESOURCE, params={"$select": ":*,*", "id": row_id}).json()
    return rows


def test_correction_gets_a_later_stamp_and_consistent_offense(dataset: Dataset, http: httpx.Client) -> None:
    before = dataset.current_rows()[10]
    after = dataset.correct(before["id"], primary_type="HOMICIDE")
    served = one(http, before["id"])
    assert served == [after]
    assert after[":updated_at"] > before[":updated_at"] and after[":created_at"] == before[":created_at"]
    assert after[":id"] == before[":id"]
    assert (after["primary_type"], after["description"], after["iucr"], after["fbi_code"]) == (
        "HOMICIDE",
        "FIRST DEGREE MURDER",
        "0110",
        "01A",
    )
    assert after["updated_on"] > before["updated_on"]


def test_correction_can_move_a_row_in_time_and_space(dataset: Dataset, http: httpx.Client) -> None:
    row = next(r for r in dataset.current_rows() if r["date"].startswith("2024-03"))
    moved = dataset.correct(row["id"], date=datetime(2023, 12, 31, 23, 30), latitude=41.9, longitude=-87.7)
    assert moved["date"] == "2023-12-31T23:30:00.000" and moved["year"] == "2023"
    assert moved["location"] == {"type": "Point", "coordinates": [-87.7, 41.9]}
    assert (moved["latitude"], moved["longitude"]) == ("41.9", "-87.7")
    assert moved["x_coordinate"] != row.get("x_coordinate")
    assert one(http, row["id"])[0]["date"] == "2023-12-31T23:30:00.000"
    unlocated = dataset.correct(row["id"], latitude=None)
    assert not {"latitude", "longitude", "location", "x_coordinate", "y_coordinate"} & set(unlocated)


def test_correction_rejects_derived_and_unknown_fields(dataset: Dataset) -> None:
    row_id = dataset.ids()[0]
    with pytest.raises(ValueError, match="derived"):
        dataset.correct(row_id, year="1999")
    with pytest.raises(ValueError, match="unknown"):
        dataset.correct(row_id, colour="red")
    with pytest.raises(RowNotFoundError):
        dataset.correct("1", arrest=True)


def test_deleted_rows_vanish_without_a_trace(dataset: Dataset, http: httpx.Client) -> None:
    victims = dataset.ids()[:3]
    assert dataset.delete(*victims) == 3
    for row_id in victims:
        assert one(http, row_id) == []
    assert not set(victims) & set(dataset.ids())
    count = http.get(RESOURCE, params={"$select": "count(*)"}).json()[0]["count"]
    assert int(count) == len(dataset) == 1497
    with pytest.raises(RowNotFoundError):
        dataset.delete(victims[0])


def test_insert_assigns_new_increasing_ids_and_one_stamp(dataset: Dataset, http: httpx.Client) -> None:
    at = datetime(2024, 7, 25, 20, 41, tzinfo=UTC)
    before_max = max(int(i) for i in dataset.ids() if int(i) > 1_000_000)
    ids = dataset.insert(20, at=at)
    main = [int(i) for i in ids if int(i) > 1_000_000]
    assert main == sorted(main) and min(main) > before_max
    rows = http.get(RESOURCE, params={"$select": ":*,*", "$where": ":updated_at = '2024-07-25T20:41:00Z'"}).json()
    assert sorted(r["id"] for r in rows) == sorted(ids)
    assert {r["updated_on"] for r in rows} == {"2024-07-25T15:41:00.000"}
    assert {r[":created_at"] for r in rows} == {"2024-07-25T20:41:00.000Z"}
    # Published about a week after the incident (late reports are older).
    assert sum(r["date"].startswith("2024-07-17") for r in rows) >= 12


def test_insert_explicit_rows(dataset: Dataset) -> None:
    (row_id,) = dataset.insert(
        [{"id": "99999999", "primary_type": "THEFT", "date": "2024-06-30T12:00:00", "beat": "0421", "arrest": "true"}]
    )
    row = next(r for r in dataset.current_rows() if r["id"] == row_id)
    assert row_id == "99999999"
    assert (row["primary_type"], row["date"], row["beat"], row["district"], row["arrest"]) == (
        "THEFT",
        "2024-06-30T12:00:00.000",
        "0421",
        "004",
        True,
    )
    with pytest.raises(ValueError, match="already"):
        dataset.insert([{"id": row_id}])


def test_default_clock_is_monotonic_and_whole_seconds(dataset: Dataset) -> None:
    newest = dataset.last_updated_at
    ids = dataset.ids()
    first = dataset.correct(ids[0], arrest=True)[":updated_at"]
    second = dataset.correct(ids[1], arrest=True)[":updated_at"]
    assert newest is not None and newest < first < second
    assert first.endswith(".000Z") and second.endswith(".000Z")


def test_restamp_gives_every_target_the_same_updated_on(dataset: Dataset, http: httpx.Client) -> None:
    count = dataset.restamp(where="primary_type = 'THEFT'", at="2025-05-17T20:40:52.000Z")
    thefts = [r for r in dataset.current_rows() if r["primary_type"] == "THEFT"]
    assert count == len(thefts) > 100
    assert {r["updated_on"] for r in thefts} == {"2025-05-17T15:40:52.000"}
    newest = http.get(RESOURCE, params={"$order": ":updated_at DESC", "$limit": 1, "$select": "primary_type"}).json()
    assert newest == [{"primary_type": "THEFT"}]
    assert dataset.restamp(lambda r: r["arrest"] is True, at="2025-05-18T20:40:52Z") > 0


def test_daily_load_shares_one_stamp(dataset: Dataset) -> None:
    before = set(dataset.ids())
    report = dataset.daily_load(40, corrections=3, deletions=2)
    after = {r["id"]: r for r in dataset.current_rows()}
    assert len(report.inserted) == 40 and len(report.deleted) == 2
    assert not set(report.deleted) & set(after) and set(report.inserted) <= set(after)
    stamps = {after[i][":updated_at"] for i in report.inserted + [c for c in report.corrected if c in after]}
    assert stamps == {report.at}
    assert len(after) == len(before) + 40 - 2
    next_load = dataset.daily_load(1, 0, 0)
    assert next_load.at[:10] > report.at[:10]  # each load is the next day's


def test_vacuum_keeps_rows_and_order(dataset: Dataset) -> None:
    dataset.restamp(at="2024-08-01T00:00:00Z")
    before = dataset.current_rows()
    dataset.vacuum()
    assert dataset.current_rows() == before
    assert dataset.stats()["row_versions"] == len(dataset)


def test_admin_api_round_trip(server: EmulatorServer, http: httpx.Client) -> None:
    inserted = http.post("/_emulator/insert", json={"count": 5, "at": "2024-07-30T20:40:00Z"}).json()
    assert len(inserted["ids"]) == 5 and inserted["updated_at"] == "2024-07-30T20:40:00.000Z"
    target = inserted["ids"][0]
    corrected = http.post("/_emulator/correct", json={"id": target, "changes": {"arrest": True}}).json()["row"]
    assert corrected["arrest"] is True and one(http, target) == [corrected]
    assert http.post("/_emulator/delete", json={"ids": [target]}).json() == {"deleted": 1}
    assert one(http, target) == []
    restamped = http.post("/_emulator/restamp", json={"where": "beat = '0421'", "at": "2024-08-02T20:00:00Z"}).json()
    assert restamped["restamped"] > 0
    load = http.post("/_emulator/load", json={"rows": 7, "corrections": 1, "deletions": 1}).json()
    assert len(load["inserted"]) == 7
    truth = http.get("/_emulator/truth")
    lines = [line for line in truth.text.splitlines() if line]
    assert truth.headers["content-type"] == "application/x-ndjson"
    assert len(lines) == len(server.dataset) == server.dataset.stats()["rows"]
    stats = http.get("/_emulator/stats").json()
    assert stats["rows"] == len(server.dataset) and stats["url"] == server.url
    assert http.get("/_emulator/health").json() == {"ok": True}
    assert http.post("/_emulator/correct", json={"id": "1", "changes": {}}).status_code == 404
    assert http.post("/_emulator/nope", json={}).status_code == 400
    assert http.post("/_emulator/restamp", json={"where": "beat = 421"}).status_code == 400


def test_mutations_while_serving_are_safe(server: EmulatorServer, http: httpx.Client) -> None:
    import threading

    errors: list[BaseException] = []
    stop = threading.Event()

    def mutate() -> None:
        try:
            while not stop.wait(0.005):
                server.dataset.daily_load(20, 3, 1)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    worker = threading.Thread(target=mutate)
    worker.start()
    loads_before = server.dataset.stats()["daily_loads"]
    try:
        for _ in range(8):
            rows = http.get(RESOURCE, params={"$select": ":*,*", "$order": ":updated_at, :id", "$limit": 5000}).json()
            assert len({r["id"] for r in rows}) == len(rows)
    finally:
        stop.set()
        worker.join()
    assert not errors
    assert server.dataset.stats()["daily_loads"] > loads_before
