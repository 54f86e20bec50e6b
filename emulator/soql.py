"""SoQL as the emulator understands it: parse, type-check, evaluate.  Pure logic.

Supported (the subset a SODA client of this dataset needs):

* ``$select``: ``*``, ``:*``, ``:*,*``, a comma list of fields (system fields
  too), ``field AS alias``, and the aggregates ``count(*)``, ``count(f)``,
  ``min(f)``, ``max(f)`` (without ``$group``: one result row).
* ``$where``: ``= != <> < <= > >=`` between a field and a literal or two fields
  of one type; ``AND``, ``OR``, ``NOT``, parentheses; ``IS [NOT] NULL``;
  ``[NOT] IN (...)``; ``[NOT] BETWEEN a AND b``; ``[NOT] LIKE '%pat_'``.
  Literals: ``'text'`` (``''`` escapes a quote), numbers, ``true``/``false``,
  ``NULL``.  A text literal compared with a timestamp field is read as a
  timestamp (floating fields take no zone; ``:created_at``/``:updated_at`` take
  ``Z``/an offset, or none = UTC); with a number field, as a number.
  Three-valued logic: a comparison with a null is unknown, and unknown rows are
  not returned.
* ``$order``: comma list of fields with ``ASC``/``DESC``; nulls sort last
  ascending, first descending.  ``:id`` is always appended as the final tie
  breaker, so equal keys come back in a deterministic order.
* ``$limit`` (default 1000, capped by the caller's page cap), ``$offset``.
* Simple filters: ``?primary_type=THEFT`` means ``primary_type = 'THEFT'``.

Errors are :class:`~emulator.errors.SoqlError` with the portal's codes:
``query.compiler.malformed`` (syntax), ``query.soql.no-such-column``,
``query.soql.type-mismatch``, ``query.soql.no-such-function``,
``query.soql.un-orderable-order``, ``req.row-limit-exceeded``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from emulator import rowid
from emulator.errors import SoqlError
from emulator.schema import CRIMES_SCHEMA, Column, TableSchema
from emulator.timeutil import parse_fixed_literal, parse_floating_literal

__all__ = [
    "DEFAULT_LIMIT",
    "Aggregate",
    "BAnd",
    "BColCompare",
    "BCompare",
    "BConst",
    "BExpr",
    "BIn",
    "BLike",
    "BNot",
    "BNull",
    "BOr",
    "Getter",
    "OrderItem",
    "Query",
    "SelectColumn",
    "compile_predicate",
    "parse_order",
    "parse_query",
    "parse_select",
    "parse_where",
]

DEFAULT_LIMIT = 1000

Getter = Callable[[str], Callable[[int], Any]]
"""Field name -> (slot -> the field's value in its SoQL domain, None for null)."""

# ---------------------------------------------------------------------------
# Tokens

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
  | (?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
  | (?P<sysstar>:\*)
  | (?P<ident>:?[A-Za-z_@][A-Za-z0-9_]*|`[^`]+`)
  | (?P<op><>|!=|<=|>=|==|=|<|>|\(|\)|,|\*|-)
    """,
    re.VERBOSE,
)

_KEYWORDS = frozenset({"AND", "OR", "NOT", "IS", "NULL", "IN", "BETWEEN", "LIKE", "TRUE", "FALSE", "ASC", "DESC", "AS"})


class _Token(NamedTuple):
    kind: str  # string, number, ident, keyword, sysstar, op, eof
    text: str
    pos: int  # 0-based offset in the whole query text


class _Source:
    """The combined query text, for error messages with positions as the portal gives them."""

    def __init__(self, clauses: Mapping[str, str]) -> None:
        parts: list[str] = []
        self.offsets: dict[str, int] = {}
        length = 0
        for keyword, text in (
            ("SELECT", clauses.get("select", "*")),
            ("WHERE", clauses.get("where")),
            ("ORDER BY", clauses.get("order")),
            ("LIMIT", clauses.get("limit")),
            ("OFFSET", clauses.get("offset")),
        ):
            if text is None:
                continue
            prefix = f"{keyword} "
            if parts:
                prefix = " " + prefix
            self.offsets[keyword] = length + len(prefix)
            parts.append(prefix + text)
            length += len(prefix) + len(text)
        self.text = "".join(parts)

    def error(self, clause: str, pos: int, expected: str, got: str) -> SoqlError:
        column = self.offsets.get(clause, 0) + pos + 1
        return SoqlError(
            f'Could not parse SoQL query "{self.text}" at line 1 character {column}: '
            f"Expected {expected}, but got {got}",
            "query.compiler.malformed",
            {"query": self.text, "position": {"line": 1, "column": column}},
        )


def _tokenize(text: str, clause: str, source: _Source) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos] in "'\"":
                raise source.error(clause, pos, "a closing quote", "end of input (unterminated string)")
            raise source.error(clause, pos, "a token", f"`{text[pos]}'")
        kind = match.lastgroup or "ws"
        value = match.group()
        if kind == "ident" and value.upper() in _KEYWORDS:
            tokens.append(_Token("keyword", value.upper(), pos))
        elif kind == "ident" and value.startswith("`"):
            tokens.append(_Token("ident", value[1:-1], pos))
        elif kind != "ws":
            tokens.append(_Token(kind, value, pos))
        pos = match.end()
    tokens.append(_Token("eof", "", len(text)))
    return tokens


# ---------------------------------------------------------------------------
# Syntax tree (unbound)


@dataclass(frozen=True, slots=True)
class _Col:
    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class _Lit:
    value: str | int | float | bool | None
    kind: Literal["string", "number", "boolean", "null"]
    pos: int


@dataclass(frozen=True, slots=True)
class _Call:
    name: str
    args: tuple[_Node, ...]
    star: bool
    pos: int


@dataclass(frozen=True, slots=True)
class _Cmp:
    op: str
    left: _Node
    right: _Node
    pos: int


@dataclass(frozen=True, slots=True)
class _Logic:
    op: Literal["AND", "OR"]
    left: _Node
    right: _Node


@dataclass(frozen=True, slots=True)
class _Not:
    operand: _Node


@dataclass(frozen=True, slots=True)
class _IsNull:
    operand: _Node
    negated: bool
    pos: int


@dataclass(frozen=True, slots=True)
class _In:
    operand: _Node
    items: tuple[_Node, ...]
    negated: bool
    pos: int


@dataclass(frozen=True, slots=True)
class _Between:
    operand: _Node
    low: _Node
    high: _Node
    negated: bool
    pos: int


@dataclass(frozen=True, slots=True)
class _Like:
    operand: _Node
    pattern: _Node
    negated: bool
    pos: int


_Node = _Col | _Lit | _Call | _Cmp | _Logic | _Not | _IsNull | _In | _Between | _Like

_COMPARISONS = frozenset({"=", "==", "!=", "<>", "<", "<=", ">", ">="})


class _Parser:
    def __init__(self, text: str, clause: str, source: _Source) -> None:
        self.tokens = _tokenize(text, clause, source)
        self.i = 0
        self.clause = clause
        self.source = source

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def advance(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, expected: str) -> SoqlError:
        tok = self.tok
        got = "end of input" if tok.kind == "eof" else f"`{tok.text}'"
        return self.source.error(self.clause, tok.pos, expected, got)

    def accept(self, kind: str, text: str | None = None) -> _Token | None:
        tok = self.tok
        if tok.kind == kind and (text is None or tok.text == text):
            self.i += 1
            return tok
        return None

    def expect(self, kind: str, text: str | None, expected: str) -> _Token:
        tok = self.accept(kind, text)
        if tok is None:
            raise self.fail(expected)
        return tok

    def end(self) -> None:
        if self.tok.kind != "eof":
            raise self.fail("end of input")

    # expressions, lowest precedence first
    def expression(self) -> _Node:
        node = self.conjunction()
        while self.accept("keyword", "OR"):
            node = _Logic("OR", node, self.conjunction())
        return node

    def conjunction(self) -> _Node:
        node = self.negation()
        while self.accept("keyword", "AND"):
            node = _Logic("AND", node, self.negation())
        return node

    def negation(self) -> _Node:
        if self.accept("keyword", "NOT"):
            return _Not(self.negation())
        return self.predicate()

    def predicate(self) -> _Node:
        left = self.operand()
        tok = self.tok
        if tok.kind == "op" and tok.text in _COMPARISONS:
            self.advance()
            return _Cmp(tok.text, left, self.operand(), tok.pos)
        if self.accept("keyword", "IS"):
            negated = self.accept("keyword", "NOT") is not None
            self.expect("keyword", "NULL", "NULL")
            return _IsNull(left, negated, tok.pos)
        negated = self.accept("keyword", "NOT") is not None
        if self.accept("keyword", "IN"):
            self.expect("op", "(", "`('")
            items = [self.operand()]
            while self.accept("op", ","):
                items.append(self.operand())
            self.expect("op", ")", "`)'")
            return _In(left, tuple(items), negated, tok.pos)
        if self.accept("keyword", "BETWEEN"):
            low = self.operand()
            self.expect("keyword", "AND", "AND")
            return _Between(left, low, self.operand(), negated, tok.pos)
        if self.accept("keyword", "LIKE"):
            return _Like(left, self.operand(), negated, tok.pos)
        if negated:
            raise self.fail("IN, BETWEEN or LIKE")
        return left

    def operand(self) -> _Node:
        tok = self.tok
        if tok.kind == "op" and tok.text in ("(", "-"):
            return self.group() if tok.text == "(" else self.negative()
        if tok.kind in ("number", "string") or (tok.kind == "keyword" and tok.text in ("TRUE", "FALSE", "NULL")):
            return self.literal()
        if tok.kind == "ident":
            return self.identifier()
        raise self.fail("an expression")

    def group(self) -> _Node:
        self.expect("op", "(", "`('")
        node = self.expression()
        self.expect("op", ")", "`)'")
        return node

    def negative(self) -> _Node:
        tok = self.expect("op", "-", "`-'")
        number = self.expect("number", None, "a number")
        return _Lit(-_number(number.text), "number", tok.pos)

    def literal(self) -> _Lit:
        tok = self.advance()
        if tok.kind == "number":
            return _Lit(_number(tok.text), "number", tok.pos)
        if tok.kind == "string":
            quote = tok.text[0]
            return _Lit(tok.text[1:-1].replace(quote * 2, quote), "string", tok.pos)
        if tok.text == "NULL":
            return _Lit(None, "null", tok.pos)
        return _Lit(tok.text == "TRUE", "boolean", tok.pos)

    def identifier(self) -> _Node:
        tok = self.expect("ident", None, "a column")
        if not self.accept("op", "("):
            return _Col(tok.text, tok.pos)
        if self.accept("op", "*"):
            self.expect("op", ")", "`)'")
            return _Call(tok.text.lower(), (), True, tok.pos)
        args: list[_Node] = []
        if not self.accept("op", ")"):
            args.append(self.expression())
            while self.accept("op", ","):
                args.append(self.expression())
            self.expect("op", ")", "`)'")
        return _Call(tok.text.lower(), tuple(args), False, tok.pos)


def _number(text: str) -> int | float:
    if re.fullmatch(r"\d+", text):
        return int(text)
    return float(text)


# ---------------------------------------------------------------------------
# Bound (typed) expressions


@dataclass(frozen=True, slots=True)
class BCompare:
    """``field op value`` with ``value`` in the field's domain."""

    field: str
    op: str  # = != < <= > >=
    value: Any


@dataclass(frozen=True, slots=True)
class BColCompare:
    left: str
    op: str
    right: str


@dataclass(frozen=True, slots=True)
class BAnd:
    items: tuple[BExpr, ...]


@dataclass(frozen=True, slots=True)
class BOr:
    items: tuple[BExpr, ...]


@dataclass(frozen=True, slots=True)
class BNot:
    item: BExpr


@dataclass(frozen=True, slots=True)
class BNull:
    field: str
    negated: bool


@dataclass(frozen=True, slots=True)
class BIn:
    field: str
    values: frozenset[Any]
    negated: bool


@dataclass(frozen=True, slots=True)
class BLike:
    field: str
    pattern: re.Pattern[str]
    negated: bool


@dataclass(frozen=True, slots=True)
class BConst:
    value: bool | None


BExpr = BCompare | BColCompare | BAnd | BOr | BNot | BNull | BIn | BLike | BConst

_NUMERIC = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_FLIP = {"=": "=", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_NORMAL = {"==": "=", "<>": "!="}


def _column(name: str, pos: int, schema: TableSchema) -> Column:
    column = schema.by_name.get(name)
    if column is None:
        raise SoqlError(
            f"No such column: {name}; position: Map(row -> 1, column -> {pos + 1})",
            "query.soql.no-such-column",
            {"column": name, "position": {"line": 1, "column": pos + 1}},
        )
    return column


def _mismatch(column: Column, literal: _Lit) -> SoqlError:
    return SoqlError(
        f"Type mismatch for {column.name}: cannot compare {column.type} with {literal.kind} {literal.value!r}",
        "query.soql.type-mismatch",
        {"column": column.name, "expected": column.type, "found": literal.kind},
    )


def _as_text(literal: _Lit) -> Any:
    return literal.value if literal.kind == "string" else None


def _as_number(literal: _Lit) -> Any:
    if literal.kind == "number":
        return literal.value
    if literal.kind == "string" and isinstance(literal.value, str) and _NUMERIC.fullmatch(literal.value.strip()):
        text = literal.value.strip()
        return -_number(text[1:]) if text.startswith("-") else _number(text)
    return None


def _as_checkbox(literal: _Lit) -> Any:
    if literal.kind == "boolean":
        return literal.value
    if literal.kind == "string" and isinstance(literal.value, str) and literal.value.lower() in ("true", "false"):
        return literal.value.lower() == "true"
    return None


def _as_floating(literal: _Lit) -> Any:
    if literal.kind == "string" and isinstance(literal.value, str):
        return parse_floating_literal(literal.value)
    return None


def _as_fixed(literal: _Lit) -> Any:
    if literal.kind == "string" and isinstance(literal.value, str):
        return parse_fixed_literal(literal.value)
    return None


_COERCERS: dict[str, Callable[[_Lit], Any]] = {
    "text": _as_text,
    "number": _as_number,
    "checkbox": _as_checkbox,
    "floating_timestamp": _as_floating,
    "fixed_timestamp": _as_fixed,
    "row_identifier": _as_text,
}


def _coerce_literal(column: Column, literal: _Lit) -> Any:
    """The literal as a value of the column's domain, or a type-mismatch error."""
    coerce = _COERCERS.get(column.type)
    value = coerce(literal) if coerce is not None else None
    if value is None:
        raise _mismatch(column, literal)
    return value


def _row_id_compare(op: str, text: str) -> BExpr:
    """``:id op 'text'`` as an exact comparison of the 60-bit integers behind row ids."""
    exact = rowid.decode(text)
    below = rowid.rank(text)  # ids whose string < text
    through = below + (1 if exact is not None else 0)  # ids whose string <= text
    if op == "=":
        return BCompare(":id", "=", exact) if exact is not None else BConst(False)
    if op == "!=":
        return BCompare(":id", "!=", exact) if exact is not None else BConst(True)
    if op == "<":
        return BCompare(":id", "<", below)
    if op == "<=":
        return BCompare(":id", "<", through)
    if op == ">":
        return BCompare(":id", ">=", through)
    return BCompare(":id", ">=", below)  # >=


def _compare(column: Column, op: str, literal: _Lit) -> BExpr:
    if literal.kind == "null":
        return BConst(None)
    if column.type in ("point", "location"):
        raise _mismatch(column, literal)
    value = _coerce_literal(column, literal)
    if column.type == "row_identifier":
        return _row_id_compare(op, str(value))
    return BCompare(column.name, op, value)


def _like_regex(pattern: str) -> re.Pattern[str]:
    out = []
    for ch in pattern:
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return re.compile("".join(out), re.DOTALL)


def _bind_logic(node: _Logic, schema: TableSchema) -> BExpr:
    left, right = _bind(node.left, schema), _bind(node.right, schema)
    if node.op == "AND":
        return BAnd(_flatten(BAnd, left, right))
    return BOr(_flatten(BOr, left, right))


def _bind_not(node: _Not, schema: TableSchema) -> BExpr:
    return BNot(_bind(node.operand, schema))


def _bind_compare(node: _Cmp, schema: TableSchema) -> BExpr:
    op = _NORMAL.get(node.op, node.op)
    left, right = node.left, node.right
    if isinstance(left, _Lit) and isinstance(right, _Col):
        left, right, op = right, left, _FLIP[op]
    if isinstance(left, _Col) and isinstance(right, _Lit):
        return _compare(_column(left.name, left.pos, schema), op, right)
    if isinstance(left, _Col) and isinstance(right, _Col):
        a, b = _column(left.name, left.pos, schema), _column(right.name, right.pos, schema)
        if a.type != b.type or not a.orderable:
            raise SoqlError(
                f"Type mismatch: cannot compare {a.name} ({a.type}) with {b.name} ({b.type})",
                "query.soql.type-mismatch",
                {"left": a.name, "right": b.name},
            )
        return BColCompare(a.name, op, b.name)
    _reject_call(left)
    _reject_call(right)
    raise SoqlError("A comparison needs a column and a value", "query.soql.type-mismatch", {})


def _bind_is_null(node: _IsNull, schema: TableSchema) -> BExpr:
    return BNull(_operand_column(node.operand, schema).name, node.negated)


def _bind_in(node: _In, schema: TableSchema) -> BExpr:
    column = _operand_column(node.operand, schema)
    values = []
    for item in node.items:
        if not isinstance(item, _Lit):
            raise SoqlError("IN (...) takes literals", "query.soql.type-mismatch", {"column": column.name})
        if item.kind != "null":
            values.append(_coerce_literal(column, item))
    if column.type == "row_identifier":
        matches = BOr(tuple(_row_id_compare("=", str(v)) for v in values)) if values else BConst(False)
        return BNot(matches) if node.negated else matches
    return BIn(column.name, frozenset(values), node.negated)


def _bind_between(node: _Between, schema: TableSchema) -> BExpr:
    column = _operand_column(node.operand, schema)
    if not isinstance(node.low, _Lit) or not isinstance(node.high, _Lit):
        raise SoqlError("BETWEEN takes literals", "query.soql.type-mismatch", {"column": column.name})
    inner = BAnd((_compare(column, ">=", node.low), _compare(column, "<=", node.high)))
    return BNot(inner) if node.negated else inner


def _bind_like(node: _Like, schema: TableSchema) -> BExpr:
    column = _operand_column(node.operand, schema)
    if column.type != "text" or not isinstance(node.pattern, _Lit) or node.pattern.kind != "string":
        raise SoqlError("LIKE compares a text column with a text pattern", "query.soql.type-mismatch", {})
    return BLike(column.name, _like_regex(str(node.pattern.value)), node.negated)


def _bind_column(node: _Col, schema: TableSchema) -> BExpr:
    column = _column(node.name, node.pos, schema)
    if column.type != "checkbox":
        raise SoqlError(f"$where must be boolean, {column.name} is {column.type}", "query.soql.type-mismatch", {})
    return BCompare(column.name, "=", True)


def _bind_literal(node: _Lit, schema: TableSchema) -> BExpr:
    if node.kind == "boolean" and isinstance(node.value, bool):
        return BConst(node.value)
    raise SoqlError("$where must be boolean", "query.soql.type-mismatch", {})


def _bind_call(node: _Call, schema: TableSchema) -> BExpr:
    _reject_call(node)
    raise SoqlError("Unsupported expression", "query.compiler.malformed", {})


_BINDERS: dict[type, Callable[[Any, TableSchema], BExpr]] = {
    _Logic: _bind_logic,
    _Not: _bind_not,
    _Cmp: _bind_compare,
    _IsNull: _bind_is_null,
    _In: _bind_in,
    _Between: _bind_between,
    _Like: _bind_like,
    _Col: _bind_column,
    _Lit: _bind_literal,
    _Call: _bind_call,
}


def _bind(node: _Node, schema: TableSchema) -> BExpr:
    """Type-check a syntax tree against the schema and turn literals into domain values."""
    return _BINDERS[type(node)](node, schema)


def _reject_call(node: _Node) -> None:
    if isinstance(node, _Call):
        raise SoqlError(
            f"No such function '{node.name}' in $where; position: Map(row -> 1, column -> {node.pos + 1})",
            "query.soql.no-such-function",
            {"function": node.name},
        )


def _operand_column(node: _Node, schema: TableSchema) -> Column:
    if not isinstance(node, _Col):
        _reject_call(node)
        raise SoqlError("Expected a column", "query.soql.type-mismatch", {})
    return _column(node.name, node.pos, schema)


def _flatten(kind: type[BAnd] | type[BOr], *items: BExpr) -> tuple[BExpr, ...]:
    out: list[BExpr] = []
    for item in items:
        if isinstance(item, kind):
            out.extend(item.items)
        else:
            out.append(item)
    return tuple(out)


# ---------------------------------------------------------------------------
# Select / order / query


@dataclass(frozen=True, slots=True)
class SelectColumn:
    name: str
    alias: str

    @property
    def output(self) -> str:
        return self.alias


@dataclass(frozen=True, slots=True)
class Aggregate:
    function: Literal["count", "min", "max"]
    column: str | None  # None: count(*)
    alias: str

    @property
    def output(self) -> str:
        return self.alias


@dataclass(frozen=True, slots=True)
class OrderItem:
    name: str
    descending: bool = False


@dataclass(frozen=True)
class Query:
    """A parsed, type-checked SoQL query."""

    select: tuple[SelectColumn | Aggregate, ...]
    where: BExpr | None
    order: tuple[OrderItem, ...]
    limit: int
    offset: int
    explicit_order: bool

    @property
    def is_aggregate(self) -> bool:
        return any(isinstance(item, Aggregate) for item in self.select)


_AGGREGATES: dict[str, Literal["count", "min", "max"]] = {"count": "count", "min": "min", "max": "max"}


def parse_select(
    text: str, source: _Source | None = None, schema: TableSchema = CRIMES_SCHEMA
) -> tuple[SelectColumn | Aggregate, ...]:
    src = source or _Source({"select": text})
    p = _Parser(text, "SELECT", src)
    items: list[SelectColumn | Aggregate] = []
    while True:
        tok = p.tok
        if p.accept("op", "*"):
            items.extend(SelectColumn(n, n) for n in schema.user_names)
        elif p.accept("sysstar"):
            items.extend(SelectColumn(n, n) for n in schema.system_names)
        elif p.accept("ident"):
            if p.accept("op", "("):
                function = tok.text.lower()
                if function not in _AGGREGATES:
                    raise SoqlError(
                        f"No such function '{function}'", "query.soql.no-such-function", {"function": function}
                    )
                column: str | None = None
                if p.accept("op", "*"):
                    if function != "count":
                        raise p.fail("a column")
                else:
                    arg = p.expect("ident", None, "a column")
                    column = _column(arg.text, arg.pos, schema).name
                p.expect("op", ")", "`)'")
                default = "count" if column is None else f"{function}_{column.lstrip(':')}"
                alias = _alias(p) or default
                items.append(Aggregate(_AGGREGATES[function], column, alias))
            else:
                name = _column(tok.text, tok.pos, schema).name
                items.append(SelectColumn(name, _alias(p) or name))
        else:
            raise p.fail("a column, `*' or `:*'")
        if not p.accept("op", ","):
            break
    p.end()
    seen: set[str] = set()
    unique: list[SelectColumn | Aggregate] = []
    for item in items:
        if item.output in seen:
            if isinstance(item, SelectColumn) and item.alias == item.name:
                continue  # `:*,*,id` style repeats are harmless
            raise SoqlError(f"Duplicate alias {item.output}", "query.soql.duplicate-alias", {"alias": item.output})
        seen.add(item.output)
        unique.append(item)
    if any(isinstance(i, Aggregate) for i in unique) and any(isinstance(i, SelectColumn) for i in unique):
        raise SoqlError(
            "Column selected alongside an aggregate without $group",
            "query.soql.column-not-in-group-bys",
            {"column": next(i.name for i in unique if isinstance(i, SelectColumn))},
        )
    return tuple(unique)


def _alias(p: _Parser) -> str | None:
    if p.accept("keyword", "AS"):
        return p.expect("ident", None, "an alias").text
    return None


def parse_where(text: str, source: _Source | None = None, schema: TableSchema = CRIMES_SCHEMA) -> BExpr:
    src = source or _Source({"where": text})
    p = _Parser(text, "WHERE", src)
    node = p.expression()
    p.end()
    return _bind(node, schema)


def parse_order(text: str, source: _Source | None = None, schema: TableSchema = CRIMES_SCHEMA) -> tuple[OrderItem, ...]:
    src = source or _Source({"order": text})
    p = _Parser(text, "ORDER BY", src)
    items: list[OrderItem] = []
    while True:
        tok = p.expect("ident", None, "a column")
        column = _column(tok.text, tok.pos, schema)
        if not column.orderable:
            raise SoqlError(
                f"Cannot order by {column.name} ({column.type})",
                "query.soql.un-orderable-order",
                {"column": column.name},
            )
        descending = False
        if p.accept("keyword", "DESC"):
            descending = True
        else:
            p.accept("keyword", "ASC")
        items.append(OrderItem(column.name, descending))
        if not p.accept("op", ","):
            break
    p.end()
    return tuple(items)


def _integer(text: str, clause: str, source: _Source) -> int:
    if not re.fullmatch(r"\s*\d+\s*", text):
        raise source.error(clause, 0, "a non-negative integer", f"`{text}'")
    return int(text)


def parse_query(
    params: Mapping[str, str], *, page_cap: int | None = 50_000, schema: TableSchema = CRIMES_SCHEMA
) -> Query:
    """Parse SODA query parameters (``$select`` ...; other keys are simple equality filters).

    ``page_cap`` is the largest ``$limit`` allowed (SODA 2.0: 50,000); None = no cap.
    ``schema`` is the dataset's columns (default: the crimes dataset).
    ``$$app_token`` is ignored here (the server reads it).
    """
    clauses: dict[str, str] = {}
    filters: list[tuple[str, str]] = []
    for key, value in params.items():
        if key.startswith("$$"):
            continue
        if key.startswith("$"):
            name = key[1:]
            if name not in ("select", "where", "order", "limit", "offset"):
                raise SoqlError(f"Unrecognized arguments [{key}]", "query.compiler.malformed", {"parameter": key})
            clauses[name] = value
        else:
            filters.append((key, value))
    source = _Source(clauses)
    select = parse_select(clauses.get("select", "*"), source, schema)
    where: BExpr | None = parse_where(clauses["where"], source, schema) if "where" in clauses else None
    simple: list[BExpr] = []
    for key, value in filters:
        column = _column(key, 0, schema)
        simple.append(_compare(column, "=", _Lit(value, "string", 0)))
    if simple:
        where = BAnd(tuple(([where] if where is not None else []) + simple))
    order = parse_order(clauses["order"], source, schema) if "order" in clauses else ()
    limit = _integer(clauses["limit"], "LIMIT", source) if "limit" in clauses else DEFAULT_LIMIT
    if page_cap is not None and limit > page_cap:
        raise SoqlError(
            f"Row limit exceeded: $limit {limit} is more than the maximum of {page_cap}",
            "req.row-limit-exceeded",
            {"limit": page_cap},
        )
    offset = _integer(clauses["offset"], "OFFSET", source) if "offset" in clauses else 0
    explicit = bool(order)
    if not any(item.name == ":id" for item in order):
        order = (*order, OrderItem(":id"))
    return Query(select=select, where=where, order=order, limit=limit, offset=offset, explicit_order=explicit)


# ---------------------------------------------------------------------------
# Evaluation

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

Predicate = Callable[[int], "bool | None"]


def _compile_compare(expr: BCompare, getter: Getter) -> Predicate:
    get = getter(expr.field)
    op = _OPS[expr.op]
    value = expr.value

    def compare(s: int) -> bool | None:
        x = get(s)
        return None if x is None else op(x, value)

    return compare


def _compile_column_compare(expr: BColCompare, getter: Getter) -> Predicate:
    get_a, get_b = getter(expr.left), getter(expr.right)
    op = _OPS[expr.op]

    def compare_columns(s: int) -> bool | None:
        a, b = get_a(s), get_b(s)
        return None if a is None or b is None else op(a, b)

    return compare_columns


def _compile_and(expr: BAnd, getter: Getter) -> Predicate:
    parts = [compile_predicate(i, getter) for i in expr.items]

    def conjunction(s: int) -> bool | None:
        unknown = False
        for part in parts:
            r = part(s)
            if r is False:
                return False
            if r is None:
                unknown = True
        return None if unknown else True

    return conjunction


def _compile_or(expr: BOr, getter: Getter) -> Predicate:
    parts = [compile_predicate(i, getter) for i in expr.items]

    def disjunction(s: int) -> bool | None:
        unknown = False
        for part in parts:
            r = part(s)
            if r is True:
                return True
            if r is None:
                unknown = True
        return None if unknown else False

    return disjunction


def _compile_not(expr: BNot, getter: Getter) -> Predicate:
    inner = compile_predicate(expr.item, getter)

    def negation(s: int) -> bool | None:
        r = inner(s)
        return None if r is None else not r

    return negation


def _compile_null(expr: BNull, getter: Getter) -> Predicate:
    get = getter(expr.field)
    if expr.negated:
        return lambda s: get(s) is not None
    return lambda s: get(s) is None


def _compile_in(expr: BIn, getter: Getter) -> Predicate:
    get = getter(expr.field)
    values = expr.values
    negated = expr.negated

    def member(s: int) -> bool | None:
        x = get(s)
        return None if x is None else (x in values) != negated

    return member


def _compile_like(expr: BLike, getter: Getter) -> Predicate:
    get = getter(expr.field)
    match = expr.pattern.fullmatch
    negated = expr.negated

    def like(s: int) -> bool | None:
        x = get(s)
        return None if x is None else (match(x) is not None) != negated

    return like


def _compile_const(expr: BConst, getter: Getter) -> Predicate:
    constant = expr.value
    return lambda s: constant


_COMPILERS: dict[type, Callable[[Any, Getter], Predicate]] = {
    BCompare: _compile_compare,
    BColCompare: _compile_column_compare,
    BAnd: _compile_and,
    BOr: _compile_or,
    BNot: _compile_not,
    BNull: _compile_null,
    BIn: _compile_in,
    BLike: _compile_like,
    BConst: _compile_const,
}


def compile_predicate(expr: BExpr, getter: Getter) -> Predicate:
    """slot -> True / False / None (unknown), by SQL's three-valued logic."""
    return _COMPILERS[type(expr)](expr, getter)
