"""The JSON the emulator serves follows the portal's conventions."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
from emulator_support import RESOURCE, client_for, make_dataset

from emulator import Dataset, EmulatorServer

FLOATING = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}$")
FIXED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
ROW_ID = re.compile(r"^row-[2-9a-z]{4}-[2-9a-z]{4}-[2-9a-z]{4}$")
NUMERIC_FIELDS = ("id", "ward", "x_coordinate", "y_coordinate", "year", "latitude", "longitude")
CODE_FIELDS = ("beat", "district", "community_area", "iucr", "fbi_code")


def all_rows(client: httpx.Client) -> list[dict[str, object]]:
    response = client.get(RESOURCE, params={"$select": ":*,*", "$limit": 50000})
    assert response.status_code == 200
    rows: list[dict[str, object]] = response.json()
    return rows


def test_values_are_strings_booleans_and_floating_timestamps(client: httpx.Client) -> None:
    rows = all_rows(client)
    assert len(rows) == 4000
    for row in rows:
        for name in NUMERIC_FIELDS + CODE_FIELDS + ("case_number", "block", "primary_type", "description"):
            if name in row:
                assert isinstance(row[name], str), (name, row[name])
        for name in NUMERIC_FIELDS:
            if name in row:
                float(str(row[name]))
        assert isinstance(row["arrest"], bool) and isinstance(row["domestic"], bool)
        assert FLOATING.match(str(row["date"])) and FLOATING.match(str(row["updated_on"]))
        assert FIXED.match(str(row[":created_at"])) and FIXED.match(str(row[":updated_at"]))
        assert ROW_ID.match(str(row[":id"]))
        assert row["year"] == str(row["date"])[:4]
        assert None not in row.values()


def test_codes_keep_leading_zeros(client: httpx.Client) -> None:
    rows = all_rows(client)
    assert all(len(str(r["beat"])) == 4 and len(str(r["district"])) == 3 for r in rows)
    assert any(str(r["beat"]).startswith("0") for r in rows)
    assert any(str(r["district"]).startswith("00") for r in rows)
    assert any(str(r["iucr"]).startswith("0") for r in rows)


def test_rows_without_coordinates_omit_every_location_field(client: httpx.Client) -> None:
    rows = all_rows(client)
    missing = [r for r in rows if "latitude" not in r]
    share = len(missing) / len(rows)
    assert 0.01 <= share <= 0.03, share
    for row in missing:
        assert not {"longitude", "x_coordinate", "y_coordinate", "location"} & set(row)


def test_location_is_geojson_lon_lat_and_xy_follow_lat_lon(client: httpx.Client) -> None:
    rows = [r for r in all_rows(client) if "latitude" in r]
    for row in rows:
        location = row["location"]
        assert isinstance(location, dict)
        assert location["type"] == "Point"
        lon, lat = location["coordinates"]
        assert (lon, lat) == (float(str(row["longitude"])), float(str(row["latitude"])))
        assert 41.64 <= lat <= 42.03 and -87.94 <= lon <= -87.52
    # State plane feet grow eastward (x) and northward (y).
    east = max(rows, key=lambda r: float(str(r["longitude"])))
    west = min(rows, key=lambda r: float(str(r["longitude"])))
    north = max(rows, key=lambda r: float(str(r["latitude"])))
    south = min(rows, key=lambda r: float(str(r["latitude"])))
    assert int(str(east["x_coordinate"])) > int(str(west["x_coordinate"])) + 50_000
    assert int(str(north["y_coordinate"])) > int(str(south["y_coordinate"])) + 100_000


def test_updated_on_is_the_chicago_wall_clock_of_updated_at(client: httpx.Client) -> None:
    chicago = ZoneInfo("America/Chicago")
    for row in all_rows(client)[:500]:
        instant = datetime.fromisoformat(str(row[":updated_at"]).replace("Z", "+00:00"))
        local = instant.astimezone(chicago).replace(tzinfo=None)
        assert local.isoformat(timespec="milliseconds") == row["updated_on"]


def test_body_is_streamed_in_the_portal_layout(client: httpx.Client, shared_server: EmulatorServer) -> None:
    response = client.get(RESOURCE, params={"$limit": 3, "$order": "id"})
    assert response.headers["transfer-encoding"] == "chunked"
    assert response.headers["content-type"].startswith("application/json")
    assert response.text.startswith('[{"id":"') and response.text.count("\n,{") == 2
    fields = json.loads(response.headers["x-soda2-fields"])
    types = json.loads(response.headers["x-soda2-types"])
    assert fields[:3] == ["id", "case_number", "date"] and len(fields) == len(types) == 22
    assert dict(zip(fields, types, strict=True))["beat"] == "text"
    assert dict(zip(fields, types, strict=True))["date"] == "floating_timestamp"


def test_select_list_order_and_aliases(client: httpx.Client) -> None:
    response = client.get(RESOURCE, params={"$select": "date, :id, id AS record", "$limit": 2})
    rows = response.json()
    assert list(rows[0]) == ["date", ":id", "record"]
    assert json.loads(response.headers["x-soda2-fields"]) == ["date", ":id", "record"]


def test_default_limit_is_1000_and_offset_past_the_end_is_empty(client: httpx.Client) -> None:
    assert len(client.get(RESOURCE).json()) == 1000
    assert client.get(RESOURCE, params={"$offset": 10_000}).json() == []


def test_aggregates(client: httpx.Client, shared_dataset: Dataset) -> None:
    rows = client.get(
        RESOURCE, params={"$select": "count(*), max(:updated_at), min(date) AS first", "$where": "arrest = true"}
    ).json()
    truth = [r for r in shared_dataset.current_rows() if r["arrest"]]
    assert rows == [
        {
            "count": str(len(truth)),
            "max_updated_at": max(r[":updated_at"] for r in truth),
            "first": min(r["date"] for r in truth),
        }
    ]


def test_legacy_location_style() -> None:
    dataset = make_dataset(50, seed=9, location_style="legacy")
    with EmulatorServer(dataset) as server, client_for(server.url) as c:
        row = next(r for r in c.get(RESOURCE).json() if "latitude" in r)
        location = row["location"]
        assert location["latitude"] == row["latitude"] and location["longitude"] == row["longitude"]
        assert json.loads(location["human_address"]) == {"address": "", "city": "", "state": "", "zip": ""}


def test_current_rows_match_what_the_api_serves(client: httpx.Client, shared_dataset: Dataset) -> None:
    served = sorted(all_rows(client), key=lambda r: str(r[":id"]))
    truth = sorted(shared_dataset.current_rows(), key=lambda r: str(r[":id"]))
    assert served == truth


def test_stamps_are_whole_seconds_and_loads_happen_in_the_afternoon(shared_dataset: Dataset) -> None:
    for row in shared_dataset.current_rows()[:300]:
        assert str(row[":updated_at"]).endswith(".000Z")
        local = datetime.fromisoformat(str(row["updated_on"]))
        assert 15 <= local.hour <= 16
        assert datetime.fromisoformat(str(row[":created_at"]).replace("Z", "+00:00")) <= datetime.fromisoformat(
            str(row[":updated_at"]).replace("Z", "+00:00")
        )
    assert datetime(2024, 1, 1, tzinfo=UTC) < datetime.fromisoformat(
        str(shared_dataset.last_updated_at).replace("Z", "+00:00")
    )
