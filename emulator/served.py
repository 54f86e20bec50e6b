"""What the server needs of an emulated dataset (the crimes ``Dataset`` and the generic ``RecordDataset``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from emulator.dataset import LoadReport, Page, RowFilter
from emulator.schema import TableSchema
from emulator.soql import Query

__all__ = ["ServedDataset"]


class ServedDataset(Protocol):
    """A dataset the emulator can serve at ``/resource/<id>.json`` and mutate through the admin API."""

    seed: int
    schema: TableSchema

    def execute(self, query: Query) -> Page: ...

    def insert(self, rows: int | Sequence[Mapping[str, Any]], *, at: datetime | str | None = None) -> list[str]: ...

    def correct(self, row_id: str | int, *, at: datetime | str | None = None, **changes: Any) -> dict[str, Any]: ...

    def delete(self, *row_ids: str | int) -> int: ...

    def restamp(
        self, target: RowFilter | None = None, *, where: str | None = None, at: datetime | str | None = None
    ) -> int: ...

    def daily_load(
        self, new_rows: int = 650, corrections: int = 5, deletions: int = 1, *, at: datetime | str | None = None
    ) -> LoadReport: ...

    def iter_truth_lines(self) -> Iterator[str]: ...

    def stats(self) -> dict[str, Any]: ...

    @property
    def last_updated_at(self) -> str | None: ...

    def __len__(self) -> int: ...
