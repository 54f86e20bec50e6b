"""Error bodies in both of the portal's shapes, throttling, and injected faults."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from emulator_support import RESOURCE, client_for, make_dataset

from emulator import EmulatorServer, Fault, FaultPlan
from emulator.server import error_body, parse_fault_list


def test_unknown_dataset_is_404_in_the_code_shape(http: httpx.Client) -> None:
    response = http.get("/resource/abcd-1234.json")
    assert response.status_code == 404
    body = response.json()
    assert set(body) == {"code", "error", "message", "data"}
    assert body["code"] == "not_found" and body["error"] is True and "abcd-1234" in body["message"]


def test_malformed_query_is_400_in_the_error_code_shape(http: httpx.Client) -> None:
    response = http.get(RESOURCE, params={"$where": "id >"})
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"message", "errorCode", "data"}
    assert body["errorCode"] == "query.compiler.malformed"
    assert body["data"]["query"] == "SELECT * WHERE id >"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"$limit": "50001"}, "req.row-limit-exceeded"),
        ({"$where": "nope = 1"}, "query.soql.no-such-column"),
        ({"$select": "nope"}, "query.soql.no-such-column"),
        ({"$where": "beat = 421"}, "query.soql.type-mismatch"),
        ({"$order": "location"}, "query.soql.un-orderable-order"),
        ({"$q": "theft"}, "query.compiler.malformed"),
    ],
)
def test_refused_queries(http: httpx.Client, params: dict[str, str], code: str) -> None:
    response = http.get(RESOURCE, params=params)
    assert response.status_code == 400
    assert response.json()["errorCode"] == code


def test_limit_cap_is_a_setting(server: EmulatorServer, http: httpx.Client) -> None:
    assert http.get(RESOURCE, params={"$limit": "50000"}).status_code == 200
    server.page_cap = 100
    assert http.get(RESOURCE, params={"$limit": "101"}).json()["data"] == {"limit": 100}
    server.page_cap = 0  # SODA 2.1: no cap
    assert len(http.get(RESOURCE, params={"$limit": "60000"}).json()) == 1500


def test_error_style_forces_one_shape(server: EmulatorServer, http: httpx.Client) -> None:
    http.post("/_emulator/config", json={"error_style": "code"})
    body = http.get(RESOURCE, params={"$where": "id >"}).json()
    assert set(body) == {"code", "error", "message", "data"} and body["code"] == "query.compiler.malformed"
    http.post("/_emulator/config", json={"error_style": "errorCode"})
    body = http.get("/resource/abcd-1234.json").json()
    assert set(body) == {"message", "errorCode", "data"} and body["errorCode"] == "not_found"
    assert error_body(429, "x", "m", {}, "auto") == {"code": "x", "error": True, "message": "m", "data": {}}
    assert error_body(400, "x", "m", {}, "auto") == {"message": "m", "errorCode": "x", "data": {}}


def test_token_required_throttles_anonymous_requests(server: EmulatorServer, http: httpx.Client) -> None:
    http.post("/_emulator/config", json={"require_app_token": True})
    anonymous = http.get(RESOURCE, params={"$limit": 1})
    assert anonymous.status_code == 429 and anonymous.headers["retry-after"] == "1"
    assert http.get(RESOURCE, params={"$limit": 1}, headers={"X-App-Token": "t0k"}).status_code == 200
    assert http.get(RESOURCE, params={"$limit": 1, "$$app_token": "t0k"}).status_code == 200
    http.post("/_emulator/config", json={"app_token": "right"})
    wrong = http.get(RESOURCE, params={"$limit": 1}, headers={"X-App-Token": "wrong"})
    assert wrong.status_code == 403 and wrong.json()["code"] == "permission_denied"
    assert http.get(RESOURCE, params={"$limit": 1}, headers={"X-App-Token": "right"}).status_code == 200
    assert http.get("/_emulator/stats").json()["throttled_without_token"] == 1


def test_queued_faults_hit_the_next_requests_in_order(server: EmulatorServer, http: httpx.Client) -> None:
    http.post("/_emulator/faults", json={"kind": "throttle", "count": 2, "retry_after": 3})
    http.post("/_emulator/faults", json={"kind": "error"})
    http.post("/_emulator/faults", json={"kind": "processing"})
    # The admin API is never faulted.
    assert len(http.get("/_emulator/stats").json()["faults_pending"]) == 4
    statuses = [http.get(RESOURCE, params={"$limit": 1}) for _ in range(5)]
    assert [r.status_code for r in statuses] == [429, 429, 500, 202, 200]
    assert statuses[0].headers["retry-after"] == "3"
    assert statuses[0].json()["code"] == "too_many_requests"
    assert statuses[2].json()["error"] is True
    assert statuses[3].json()["status"] == "processing"
    assert http.get("/_emulator/stats").json()["faults_served"] == {"throttle": 2, "error": 1, "processing": 1}


def test_slow_fault_delays_the_answer(server: EmulatorServer, http: httpx.Client) -> None:
    server.faults.add(Fault("slow", delay=0.4))
    started = time.monotonic()
    response = http.get(RESOURCE, params={"$limit": 1})
    assert response.status_code == 200 and time.monotonic() - started >= 0.4


def test_truncated_body_is_a_200_with_invalid_json(server: EmulatorServer, http: httpx.Client) -> None:
    server.faults.add(Fault("truncate"))
    response = http.get(RESOURCE, params={"$limit": 100})
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    assert response.text.startswith("[{") and response.text.count('"id":') >= 50
    assert len(http.get(RESOURCE, params={"$limit": 100}).json()) == 100  # the connection is still usable


def test_reset_drops_the_connection_mid_body(server: EmulatorServer, http: httpx.Client) -> None:
    server.faults.add(Fault("reset"))
    with pytest.raises(httpx.TransportError):
        http.get(RESOURCE, params={"$limit": 2000}).json()
    assert len(http.get(RESOURCE, params={"$limit": 10}).json()) == 10


def test_random_faults_are_deterministic_given_the_seed() -> None:
    def draws(seed: int) -> list[str | None]:
        plan = FaultPlan(seed=seed, rate=0.3, kinds=("throttle", "error", "truncate"))
        return [f.kind if (f := plan.next()) else None for _ in range(200)]

    first = draws(1)
    assert first == draws(1) and first != draws(2)
    assert 30 < sum(k is not None for k in first) < 90


def test_fault_list_setting_syntax() -> None:
    parsed = parse_fault_list("throttle:2, error ,reset")
    assert [(f.kind, n) for f, n in parsed] == [("throttle", 2), ("error", 1), ("reset", 1)]
    with pytest.raises(ValueError, match="unknown fault kind"):
        parse_fault_list("explode")


def test_random_rate_over_http() -> None:
    dataset = make_dataset(20, seed=4)
    plan = FaultPlan(seed=8, rate=1.0, kinds=("error",))
    with EmulatorServer(dataset, faults=plan) as server, client_for(server.url) as c:
        assert {c.get(RESOURCE).status_code for _ in range(5)} == {500}
        c.post("/_emulator/faults", json={"clear": True})
        assert c.get(RESOURCE).status_code == 200
