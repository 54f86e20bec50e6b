"""A small SODA (Socrata) client: one page per call, retries done right.

Retries with exponential backoff and full jitter on 429, 5xx, 202 ("being
prepared"), timeouts, dropped connections and truncated bodies, honouring
``Retry-After``.  A 4xx that retrying cannot fix raises
``TerminalSourceError`` quoting the portal's own message (both error-body
shapes).  The app token travels only in the ``X-App-Token`` header and never
appears in a log line or an error.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import httpx

from crimestream.errors import RetryableSourceError, TerminalSourceError

__all__ = ["SodaClient", "backoff_delay", "describe_error_body"]

log = logging.getLogger(__name__)

_RETRY_STATUS = {202, 408, 425, 429, 500, 502, 503, 504}


def describe_error_body(body: str) -> str:
    """The portal's message from either error-body shape, else the body's start."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body.strip()[:200] or "(empty body)"
    if isinstance(parsed, dict):
        message = parsed.get("message")
        code = parsed.get("errorCode") or parsed.get("code")
        if message:
            return f"{message} ({code})" if code else str(message)
    return body.strip()[:200]


def backoff_delay(attempt: int, base: float, cap: float, retry_after: float | None, rng: random.Random) -> float:
    """Full-jitter exponential backoff; ``Retry-After`` is a floor."""
    delay = rng.uniform(0, min(cap, base * (2**attempt)))
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return delay


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class SodaClient:
    """GETs pages of a dataset's JSON resource."""

    def __init__(
        self,
        base_url: str,
        dataset_id: str,
        *,
        app_token: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 8,
        backoff: float = 1.0,
        backoff_max: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"Accept": "application/json", "User-Agent": "crimestream/0.1"}
        if app_token:
            headers["X-App-Token"] = app_token
        self.dataset_id = dataset_id
        self.resource = f"{base_url.rstrip('/')}/resource/{dataset_id}.json"
        self._client = httpx.Client(headers=headers, timeout=timeout, transport=transport)
        self._max_retries = max_retries
        self._backoff = backoff
        self._backoff_max = backoff_max
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.retries = 0

    def close(self) -> None:
        self._client.close()

    def _once(self, params: dict[str, str]) -> list[dict[str, Any]]:
        try:
            response = self._client.get(self.resource, params=params)
        except httpx.TimeoutException as exc:
            raise RetryableSourceError(f"SODA request timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            raise RetryableSourceError(f"SODA connection failed: {type(exc).__name__}: {exc}") from None
        status = response.status_code
        if status in _RETRY_STATUS:
            raise RetryableSourceError(
                f"SODA answered HTTP {status}: {describe_error_body(response.text)}",
                retry_after=_retry_after(response),
            )
        if status >= 400:
            hint = ""
            if status in (401, 403):
                hint = " — check SODA_APP_TOKEN"
            elif status == 404:
                hint = f" — check SODA_DATASET_ID ({self.dataset_id}) and SODA_BASE_URL"
            raise TerminalSourceError(
                f"SODA rejected the request (HTTP {status}): {describe_error_body(response.text)}{hint}"
            )
        try:
            rows = json.loads(response.content)
        except ValueError:
            raise RetryableSourceError(
                f"SODA sent a truncated or malformed JSON body ({len(response.content)} bytes)"
            ) from None
        if not isinstance(rows, list):
            raise RetryableSourceError(f"SODA sent a {type(rows).__name__} where a JSON array was expected")
        return rows

    def get(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """One page; retries transient failures, raises the rest."""
        attempt = 0
        while True:
            try:
                return self._once(params)
            except RetryableSourceError as exc:
                if attempt >= self._max_retries:
                    raise RetryableSourceError(f"{exc} (gave up after {attempt} retries)") from None
                delay = backoff_delay(attempt, self._backoff, self._backoff_max, exc.retry_after, self._rng)
                log.warning("%s; retrying in %.1fs (retry %d/%d)", exc, delay, attempt + 1, self._max_retries)
                self.retries += 1
                self._sleep(delay)
                attempt += 1
