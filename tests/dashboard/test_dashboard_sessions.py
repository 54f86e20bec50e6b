"""Whole sessions built ahead: handed to the next plain page request, up to date, never stale."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any

from bokeh.server.server import Server
from bokeh.util.token import get_session_id
from dashboard_lake_builder import SampleLake, add_rows, crime_row, settings_for
from tornado.httpclient import AsyncHTTPClient

from dashboard.activity import Activity
from dashboard.app import Dashboard, dashboard_of
from dashboard.prepared import PreparedPage
from dashboard.server import build_server
from dashboard.sessions import SessionAhead


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _page_session_id(port: int, query: str = "") -> str:
    """The session id in the token of the page the server sends for ``/`` + ``query``."""
    response = await AsyncHTTPClient().fetch(f"http://127.0.0.1:{port}/{query}")
    match = re.search(r'"token":"([^"]+)"', response.body.decode("utf-8"))
    assert match, "no session token in the page"
    return str(get_session_id(match.group(1)))


Check = Callable[[Server, SessionAhead, PreparedPage[Dashboard], int], Awaitable[None]]


def _serve(sample_lake: SampleLake, check: Check, **overrides: Any) -> None:
    """Serve the dashboard over the sample lake, as ``serve`` builds it, and run ``check`` against it."""
    port = _free_port()
    settings = settings_for(sample_lake.data_dir, dashboard_port=port, dashboard_host="127.0.0.1", **overrides)

    async def main() -> None:
        prepared: PreparedPage[Dashboard] = PreparedPage(lambda: Dashboard(settings))
        server, ahead = build_server(settings, prepared, Activity())
        assert ahead is not None
        server.start()
        try:
            await check(server, ahead, prepared, port)
        finally:
            server.stop()

    asyncio.run(main())


def test_a_plain_page_is_handed_the_session_built_ahead_up_to_date(sample_lake: SampleLake) -> None:
    async def check(server: Server, ahead: SessionAhead, prepared: PreparedPage[Dashboard], port: int) -> None:
        prepared.prepare()
        page = prepared._ready
        await ahead.prepare()
        assert ahead.ready and not prepared.ready  # the session took the page state prepared ahead
        (waiting,) = server.get_sessions("/")
        assert page is not None and dashboard_of(waiting.document) is page
        assert page.window == (date(2024, 2, 18), date(2024, 3, 18))
        assert waiting.expiration_blocked  # Bokeh would otherwise discard it before anyone connects

        # A URL carrying filters builds its own session; the one built ahead keeps waiting.
        own = await _page_session_id(port, "?start=2024-01-01&end=2024-01-07")
        assert own != waiting.id
        assert ahead.ready and ahead.taken == 0

        # Data arrives; the next plain page is the session built ahead, brought up to date.
        add_rows(sample_lake.lake_dir, [crime_row("late", datetime(2024, 3, 20, 10))])
        assert await _page_session_id(port) == waiting.id
        assert ahead.taken == 1 and not ahead.ready
        assert page.window == (date(2024, 2, 20), date(2024, 3, 20))  # follows the newest day

        # Nothing is waiting now: the next page builds its own.
        assert await _page_session_id(port) not in {waiting.id, own}

    _serve(sample_lake, check)


def test_a_session_whose_token_would_expire_is_replaced_not_handed_out(sample_lake: SampleLake) -> None:
    async def check(server: Server, ahead: SessionAhead, _prepared: PreparedPage[Dashboard], port: int) -> None:
        ahead.max_age_seconds = 0.3  # its token's time, less the margin, is up in 0.3 s
        await ahead.prepare()
        (first,) = server.get_sessions("/")
        ahead.max_age_seconds = 60.0  # not for its replacement
        for _ in range(100):  # replaced once the server is quiet
            await asyncio.sleep(0.1)
            if ahead.built == 2 and ahead.ready:
                break
        assert ahead.built == 2 and ahead.ready
        assert not first.expiration_blocked  # left for Bokeh to discard, as any unused session
        (replacement,) = {s.id for s in server.get_sessions("/")} - {first.id}

        assert await _page_session_id(port) == replacement

    _serve(sample_lake, check)


def test_a_handed_out_session_never_opened_is_left_to_expire(sample_lake: SampleLake) -> None:
    async def check(server: Server, _ahead: SessionAhead, _prepared: PreparedPage[Dashboard], port: int) -> None:
        ahead = SessionAhead(server, grace_seconds=0.1)  # the test does not wait a minute
        await ahead.prepare()
        (waiting,) = server.get_sessions("/")
        assert await _page_session_id(port) == waiting.id  # a health check: no browser follows
        assert waiting.expiration_blocked
        await asyncio.sleep(0.3)
        assert not waiting.expiration_blocked

    _serve(sample_lake, check)
