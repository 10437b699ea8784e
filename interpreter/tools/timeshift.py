"""Move a record in time: every date and month in it, by the same number of months
(or every date by the same number of days, and every month by a number of months).

Takes a record, the pack's facts schema and an offset; gives a new record whose
fields with ``"format": "date"`` or ``"format": "month"`` in the schema are shifted.
By months, a day past the end of the target month becomes its last day; by days
(``days=``), every date moves by exactly that many days, so every gap between two
dates of the record is kept to the day, and month fields move by the months given.
Nothing else changes, so the record's inner timeline (consent before service, care
plan before the month) is kept. Used for synthetic data, for the decision impact of
one pack between two service dates, and to place test records on both sides of a
date (``boundaries``).
"""

from __future__ import annotations

import calendar
import datetime as _dt
import re

_DATE = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})\Z")
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})\Z")


def month_index(month: str) -> int:
    """``"2026-03"`` (or a date) -> months since year 0."""
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def shift_month(month: str, n: int) -> str:
    m = _MONTH.match(month)
    if not m:
        return month
    i = int(m.group(1)) * 12 + int(m.group(2)) - 1 + n
    if not 0 <= i < 120000:
        return month
    return f"{i // 12:04d}-{i % 12 + 1:02d}"


def shift_date(date: str, n: int) -> str:
    m = _DATE.match(date)
    if not m:
        return date
    i = int(m.group(1)) * 12 + int(m.group(2)) - 1 + n
    if not 12 <= i < 120000:
        return date
    y, mo = i // 12, i % 12 + 1
    d = min(int(m.group(3)), calendar.monthrange(y, mo)[1])
    return f"{y:04d}-{mo:02d}-{d:02d}"


def shift_days(date: str, days: int) -> str:
    """``date`` moved by ``days`` days (a text that is not a date, or a result outside
    years 1-9999, is given back unchanged)."""
    if not _DATE.match(date):
        return date
    try:
        return (_dt.date.fromisoformat(date) + _dt.timedelta(days=days)).isoformat()
    except (ValueError, OverflowError):
        return date


class Shifter:
    """Shifts records of one schema; resolves local ``$ref`` once per node."""

    def __init__(self, schema: dict):
        self.root = schema if isinstance(schema, dict) else {}

    def _node(self, node):
        seen = 0
        while isinstance(node, dict) and isinstance(node.get("$ref"), str) and seen < 16:
            node = self._resolve(node["$ref"])
            seen += 1
        return node if isinstance(node, dict) else {}

    def _resolve(self, ref: str):
        if not ref.startswith("#/"):
            return {}
        cur = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(cur, dict) or part not in cur:
                return {}
            cur = cur[part]
        return cur

    def shift(self, value, n: int, node=None, days: int | None = None):
        """``value`` with its months moved by ``n`` months, and its dates by ``n`` months
        too, or by ``days`` days when given."""
        node = self._node(self.root if node is None else node)
        if n == 0 and not days:
            return value
        if isinstance(value, str):
            fmt = node.get("format")
            if fmt == "date":
                return shift_date(value, n) if days is None else shift_days(value, days)
            if fmt == "month":
                return shift_month(value, n)
            return value
        if isinstance(value, dict):
            props = node.get("properties") or {}
            return {k: (self.shift(v, n, props[k], days) if k in props else v) for k, v in value.items()}
        if isinstance(value, list):
            items = node.get("items")
            if isinstance(items, dict):
                return [self.shift(v, n, items, days) for v in value]
            return list(value)
        return value


def shift_record(record: dict, schema: dict, months: int, days: int | None = None) -> dict:
    """A copy of ``record`` with every schema date and month moved by ``months`` (with
    ``days``: every date moved by ``days`` days instead)."""
    return Shifter(schema).shift(record, months, days=days)
