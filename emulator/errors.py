"""Errors of the emulator (a test tool: these are not part of crimestream's tree).

EmulatorError            root
├── SoqlError            a query the portal would refuse (HTTP 400 with an errorCode)
└── RowNotFoundError     a mutation named an id that is not in the dataset
"""

from __future__ import annotations

from typing import Any

__all__ = ["EmulatorError", "RowNotFoundError", "SoqlError"]


class EmulatorError(Exception):
    """Root of the emulator's errors."""


class SoqlError(EmulatorError):
    """A query the portal refuses: ``code`` is SODA's error code, ``data`` its details."""

    def __init__(
        self, message: str, code: str = "query.compiler.malformed", data: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.data: dict[str, Any] = dict(data or {})


class RowNotFoundError(EmulatorError, KeyError):
    """No live row has this id."""

    def __init__(self, row_id: str) -> None:
        super().__init__(row_id)
        self.row_id = row_id

    def __str__(self) -> str:
        return f"no row with id {self.row_id!r}"
