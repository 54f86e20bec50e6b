"""Time in the two forms SODA uses, as integer milliseconds.

* *floating* time: a wall-clock reading in Chicago without a zone (``date``,
  ``updated_on``), stored as milliseconds since 1970-01-01T00:00 on that wall
  clock, written ``2024-02-10T00:44:00.000``;
* *fixed* time: an instant (``:created_at``, ``:updated_at``), stored as Unix
  epoch milliseconds, written ``2025-05-17T20:40:52.000Z``.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = [
    "CHICAGO",
    "DAY_MS",
    "fixed_ms",
    "fixed_to_floating",
    "floating_ms",
    "floating_to_fixed",
    "format_fixed",
    "format_floating",
    "from_floating_ms",
    "parse_fixed_literal",
    "parse_floating_literal",
]

CHICAGO = ZoneInfo("America/Chicago")
DAY_MS = 86_400_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_NAIVE_EPOCH = datetime(1970, 1, 1)
_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_LITERAL = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)


@lru_cache(maxsize=65_536)
def _day_string(days: int) -> str:
    return date.fromordinal(_EPOCH_ORDINAL + days).isoformat()


_TIME_OF_DAY: dict[int, str] = {}


def _time_of_day(ms: int) -> str:
    text = _TIME_OF_DAY.get(ms)
    if text is None:
        hours, rem = divmod(ms, 3_600_000)
        minutes, rem = divmod(rem, 60_000)
        seconds, millis = divmod(rem, 1000)
        text = f"T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"
        if len(_TIME_OF_DAY) < 200_000:
            _TIME_OF_DAY[ms] = text
    return text


def format_floating(ms: int) -> str:
    """``2024-02-10T00:44:00.000`` for floating milliseconds."""
    days, rem = divmod(ms, DAY_MS)
    return _day_string(days) + _time_of_day(rem)


def format_fixed(ms: int) -> str:
    """``2025-05-17T20:40:52.000Z`` for epoch milliseconds."""
    return format_floating(ms) + "Z"


def floating_ms(value: datetime) -> int:
    """Floating milliseconds of a naive wall-clock datetime (aware ones are moved to Chicago first)."""
    if value.tzinfo is not None:
        value = value.astimezone(CHICAGO).replace(tzinfo=None)
    delta = value - _NAIVE_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_floating_ms(ms: int) -> datetime:
    """The naive Chicago wall-clock datetime of floating milliseconds."""
    return _NAIVE_EPOCH + timedelta(milliseconds=ms)


def fixed_ms(value: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    if value.tzinfo is None:
        raise ValueError("an instant needs an aware datetime (tzinfo set), got a naive one")
    delta = value - _UTC_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


@lru_cache(maxsize=65_536)
def fixed_to_floating(ms: int) -> int:
    """The Chicago wall-clock reading (floating ms) of an instant."""
    seconds, millis = divmod(ms, 1000)
    local = datetime.fromtimestamp(seconds, tz=UTC).astimezone(CHICAGO).replace(tzinfo=None)
    return floating_ms(local) + millis


@lru_cache(maxsize=65_536)
def floating_to_fixed(ms: int) -> int:
    """The instant (epoch ms) of a Chicago wall-clock reading; ambiguous times take the first."""
    return fixed_ms(from_floating_ms(ms).replace(tzinfo=CHICAGO))


def _parse(text: str) -> tuple[datetime, str | None] | None:
    match = _LITERAL.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micros = int((fraction or "0").ljust(6, "0")[:6])
    try:
        value = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0), micros)
    except ValueError:
        return None
    return value, zone


def parse_floating_literal(text: str) -> int | None:
    """Floating ms of a SoQL floating timestamp literal (no zone allowed), else None."""
    parsed = _parse(text)
    if parsed is None or parsed[1] is not None:
        return None
    return floating_ms(parsed[0])


def parse_fixed_literal(text: str) -> int | None:
    """Epoch ms of a fixed timestamp literal; without a zone it is read as UTC."""
    parsed = _parse(text)
    if parsed is None:
        return None
    value, zone = parsed
    if zone is None or zone == "Z":
        return fixed_ms(value.replace(tzinfo=UTC))
    sign = 1 if zone[0] == "+" else -1
    digits = zone[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return fixed_ms(value.replace(tzinfo=UTC) - sign * offset)
