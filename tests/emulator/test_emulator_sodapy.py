"""A real SODA client, sodapy (PyPI), pages through the emulator: it speaks SODA, not only our dialect.

sodapy builds every URL as ``uri_prefix + domain + resource`` with ``uri_prefix``
fixed to ``https://``, unless a ``session_adapter`` is given: then its
``prefix`` becomes the URI prefix and its adapter is mounted on the session.
So ``session_adapter={"prefix": "http://", "adapter": HTTPAdapter()}`` with
the domain ``127.0.0.1:<port>`` is the supported way to reach a plain-HTTP
endpoint (a domain with a scheme would give ``https://http://...``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from sodapy import Socrata

from emulator.dataset import Dataset
from emulator.server import EmulatorServer


@pytest.mark.parametrize("order", [None, ":id"])
def test_sodapy_pages_through_every_row_exactly_once(order: str | None) -> None:
    """sodapy builds ``uri_prefix + domain + resource``; its ``session_adapter`` sets the prefix to http://."""
    crimes = Dataset.generate(2345, seed=12, days=90)
    with EmulatorServer(crimes) as emulator:
        adapter = {"prefix": "http://", "adapter": requests.adapters.HTTPAdapter()}
        with Socrata(f"127.0.0.1:{emulator.port}", None, session_adapter=adapter, timeout=30) as soda:
            options: dict[str, Any] = {"limit": 500, "exclude_system_fields": False}
            if order:
                options["order"] = order
            rows = list(soda.get_all("ijzp-q8t2", **options))
            first = soda.get("ijzp-q8t2", where="primary_type = 'THEFT'", limit=10)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == len(crimes)
    assert sorted(rows, key=lambda r: r[":id"]) == sorted(crimes.current_rows(), key=lambda r: r[":id"])
    assert first and all(r["primary_type"] == "THEFT" for r in first)
    assert datetime.now(UTC) > datetime.fromisoformat(rows[0][":updated_at"].replace("Z", "+00:00"))
