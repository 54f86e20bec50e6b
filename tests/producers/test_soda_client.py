"""The SODA client against scripted HTTP answers (unit level; the emulator covers the real thing)."""

import json
import logging
import random

import httpx
import pytest

from crimestream.errors import RetryableSourceError, TerminalSourceError
from producers.soda import SodaClient, backoff_delay, describe_error_body


def _client(
    responses: list[httpx.Response], sleeps: list[float], **kw: object
) -> tuple[SodaClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return responses.pop(0)

    client = SodaClient(
        "http://soda.test",
        "ijzp-q8t2",
        transport=httpx.MockTransport(handler),
        sleep=sleeps.append,
        rng=random.Random(1),
        **kw,
    )  # type: ignore[arg-type]
    return client, seen


def test_retries_throttling_and_server_errors_then_succeeds() -> None:
    sleeps: list[float] = []
    client, seen = _client(
        [
            httpx.Response(429, headers={"Retry-After": "3"}, json={"message": "slow down"}),
            httpx.Response(202, json={"message": "being prepared"}),
            httpx.Response(503, text="upstream"),
            httpx.Response(200, content=b'[{"id": "1"'),  # truncated body
            httpx.Response(200, json=[{"id": "1"}]),
        ],
        sleeps,
    )
    assert client.get({"$limit": "1"}) == [{"id": "1"}]
    assert len(seen) == 5 and client.retries == 4
    assert sleeps[0] >= 3.0  # Retry-After is honoured as a floor


def test_gives_up_after_max_retries_with_the_last_reason() -> None:
    client, _ = _client([httpx.Response(500, json={"message": "boom"})] * 3, [], max_retries=2)
    with pytest.raises(RetryableSourceError, match=r"HTTP 500.*boom.*gave up after 2 retries"):
        client.get({})


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"code": "not_found", "error": True, "message": "Dataset not found", "data": {}},
            "Dataset not found (not_found)",
        ),
        (
            {"message": "No such column: foo", "errorCode": "query.soql.no-such-column", "data": {}},
            "No such column: foo (query.soql.no-such-column)",
        ),
    ],
)
def test_terminal_4xx_quotes_the_portal_in_both_error_shapes(body: dict[str, object], expected: str) -> None:
    client, seen = _client([httpx.Response(400, json=body)], [])
    with pytest.raises(TerminalSourceError) as info:
        client.get({})
    assert expected in str(info.value) and len(seen) == 1
    assert "\n" not in str(info.value)


def test_unknown_dataset_names_the_setting_to_check() -> None:
    client, _ = _client([httpx.Response(404, json={"code": "not_found", "error": True, "message": "nope"})], [])
    with pytest.raises(TerminalSourceError, match="SODA_DATASET_ID"):
        client.get({})


def test_app_token_is_sent_as_header_and_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cr3t-token-value"
    client, seen = _client(
        [httpx.Response(429, json={"message": "x"}), httpx.Response(401, json={"message": "bad token"})],
        [],
        app_token=secret,
    )
    with pytest.raises(TerminalSourceError) as info:
        client.get({})
    assert all(r.headers["X-App-Token"] == secret for r in seen)
    assert secret not in caplog.text and secret not in str(info.value)
    assert "SODA_APP_TOKEN" in str(info.value)


def test_backoff_grows_and_is_capped() -> None:
    rng = random.Random(0)
    delays = [max(backoff_delay(a, 1.0, 10.0, None, rng) for _ in range(200)) for a in range(8)]
    assert delays[0] <= 1.0 and delays[3] > 4.0 and max(delays) <= 10.0


def test_describe_error_body_handles_non_json() -> None:
    assert describe_error_body("<html>Bad Gateway</html>") == "<html>Bad Gateway</html>"
    assert describe_error_body(json.dumps([1, 2])) == "[1, 2]"
