"""The SODA emulator's admin API, as the soak uses it (never faulted, never throttled)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx

from chaos.checker import TruthRow

__all__ = ["EmulatorAdmin", "parse_stamp", "soda_stamp", "truth_rows"]


def parse_stamp(text: str) -> datetime:
    """A SODA ``:updated_at`` ('2025-05-17T20:40:52.000Z') as an aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def soda_stamp(instant: datetime) -> str:
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


class EmulatorAdmin:
    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def _post(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self._client.post(f"/_emulator/{action}", json=body)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def healthy(self) -> bool:
        try:
            return self._client.get("/_emulator/health", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def stats(self) -> dict[str, Any]:
        response = self._client.get("/_emulator/stats")
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer

    def newest_stamp(self) -> datetime | None:
        """The newest ``:updated_at`` the source has stamped."""
        stamp = self.stats().get("last_updated_at")
        return parse_stamp(stamp) if stamp else None

    # -- changes at the source ---------------------------------------------

    def load(self, rows: int, corrections: int, deletions: int, at: datetime | None) -> dict[str, Any]:
        """One daily load (new rows, random corrections, deletions) stamped ``at`` (None: the emulator's
        live-mode clock, the day after its newest stamp)."""
        body: dict[str, Any] = {"rows": rows, "corrections": corrections, "deletions": deletions}
        if at is not None:
            body["at"] = soda_stamp(at)
        return self._post("load", body)

    def insert_one(self) -> tuple[str, datetime]:
        """A new row stamped by the source's clock; (its id, its ``:updated_at``)."""
        answer = self._post("insert", {"count": 1})
        return str(answer["ids"][0]), parse_stamp(str(answer["updated_at"]))

    def correct(self, record_id: str, changes: dict[str, Any]) -> dict[str, Any] | None:
        """The corrected row, or None when the id is gone (deleted meanwhile)."""
        response = self._client.post("/_emulator/correct", json={"id": record_id, "changes": changes})
        if response.status_code == 404:
            return None
        response.raise_for_status()
        row: dict[str, Any] = response.json()["row"]
        return row

    # -- faults --------------------------------------------------------------

    def queue_fault(self, kind: str, count: int, retry_after: int = 1) -> None:
        self._post("faults", {"kind": kind, "count": count, "retry_after": retry_after})

    def set_extra_fields(self, fields: dict[str, str]) -> None:
        self._post("config", {"extra_fields": fields})

    def clear_faults(self) -> None:
        self._post("faults", {"clear": True})
        self.set_extra_fields({})

    def faults_served(self) -> dict[str, int]:
        served: dict[str, int] = self.stats().get("faults_served", {})
        return served

    # -- ground truth ----------------------------------------------------------

    def truth_lines(self) -> list[dict[str, Any]]:
        """Every live row (``GET /_emulator/truth``), as parsed JSON objects."""
        response = self._client.get("/_emulator/truth", timeout=300.0)
        response.raise_for_status()
        return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def truth_rows(lines: list[dict[str, Any]]) -> list[TruthRow]:
    """The checker's view of the truth: id, ``:updated_at`` and the month of the floating local ``date``."""
    rows: list[TruthRow] = []
    for line in lines:
        local = datetime.fromisoformat(str(line["date"]))
        rows.append(TruthRow(str(line["id"]), parse_stamp(str(line[":updated_at"])), (local.year, local.month)))
    return rows
