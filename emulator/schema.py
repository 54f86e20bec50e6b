"""The columns of dataset ``ijzp-q8t2`` as SODA describes them.

Each column has a SoQL type, which decides how literals are coerced, how values
compare and sort, and how they are written in JSON (``number`` as a string,
``checkbox`` as a JSON boolean, ``floating_timestamp`` without a zone, ...).
System fields (``:id``, ``:created_at``, ``:updated_at``) come first when
selected with ``:*``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "COLUMNS",
    "COLUMNS_BY_NAME",
    "COLUMN_NAMES",
    "CRIMES_SCHEMA",
    "SYSTEM_COLUMNS",
    "SYSTEM_COLUMN_NAMES",
    "USER_COLUMNS",
    "USER_COLUMN_NAMES",
    "Column",
    "SoqlType",
    "TableSchema",
]

SoqlType = Literal[
    "text",
    "number",
    "checkbox",
    "floating_timestamp",
    "fixed_timestamp",
    "point",
    "location",
    "row_identifier",
]


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its field name and SoQL type."""

    name: str
    type: SoqlType

    @property
    def is_system(self) -> bool:
        return self.name.startswith(":")

    @property
    def orderable(self) -> bool:
        return self.type not in ("point", "location")


SYSTEM_COLUMNS: tuple[Column, ...] = (
    Column(":id", "row_identifier"),
    Column(":created_at", "fixed_timestamp"),
    Column(":updated_at", "fixed_timestamp"),
)

USER_COLUMNS: tuple[Column, ...] = (
    Column("id", "number"),
    Column("case_number", "text"),
    Column("date", "floating_timestamp"),
    Column("block", "text"),
    Column("iucr", "text"),
    Column("primary_type", "text"),
    Column("description", "text"),
    Column("location_description", "text"),
    Column("arrest", "checkbox"),
    Column("domestic", "checkbox"),
    Column("beat", "text"),
    Column("district", "text"),
    Column("ward", "number"),
    Column("community_area", "text"),
    Column("fbi_code", "text"),
    Column("x_coordinate", "number"),
    Column("y_coordinate", "number"),
    Column("year", "number"),
    Column("updated_on", "floating_timestamp"),
    Column("latitude", "number"),
    Column("longitude", "number"),
    Column("location", "point"),
)

COLUMNS: tuple[Column, ...] = SYSTEM_COLUMNS + USER_COLUMNS
COLUMNS_BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)
SYSTEM_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in SYSTEM_COLUMNS)
USER_COLUMN_NAMES: tuple[str, ...] = tuple(c.name for c in USER_COLUMNS)


class TableSchema:
    """The columns of one dataset: system columns first, then the dataset's own."""

    def __init__(self, user_columns: tuple[Column, ...], system_columns: tuple[Column, ...] = SYSTEM_COLUMNS) -> None:
        self.columns: tuple[Column, ...] = system_columns + user_columns
        self.by_name: dict[str, Column] = {c.name: c for c in self.columns}
        self.names: tuple[str, ...] = tuple(c.name for c in self.columns)
        self.system_names: tuple[str, ...] = tuple(c.name for c in system_columns)
        self.user_names: tuple[str, ...] = tuple(c.name for c in user_columns)


CRIMES_SCHEMA = TableSchema(USER_COLUMNS)
