"""Money at stake in a run: billed, allowed and at-risk amounts by code, by rule and per
record, and the top denial reasons (``rulecite eval --summary``).

Takes results and rejections in input order (``add``) with the record each result was
made from, the pack's ``RecordShape`` and an ``Amounts`` table (``policy_lang.amounts``:
the pack's own, maybe overridden by a user's rates; or None); gives a dict
(``to_dict``, amounts as decimal strings) and a table for people (``text``).

What is counted, for every line of an evaluated record: the amount of its code on its
date of service (the line's date, else the period's default day) times its units (the
line field ``[amounts] units`` names; 1 when there is none). ``billed`` sums every priced
line, ``allowed`` the allowed ones, ``at_risk`` the denied ones. A line whose code has no
amount on that date is *unpriced*: counted and listed by code, never priced at zero. A
denied line counts under each rule that denied it, so the rules' at-risk amounts may add
up to more than the total, which counts each line once. A rejected record was judged by
nobody: it is counted, not priced. ``per_record`` divides by the records evaluated (in a
pack whose record is one subject's month, per subject per month).

The core knows no currency and no domain: the table's ``label`` and ``currency`` come
from the pack, and the words "record", "line" and "code" from the Results contract.
"""

from __future__ import annotations

import calendar
import datetime as _dt
from decimal import ROUND_HALF_UP, Decimal

from attrs import frozen

from rulecite.interpreter.reports.markup import plain_text

CENT = Decimal("0.01")
ZERO = Decimal("0")
TOP_REASONS = 10


def _money(d: Decimal) -> str:
    return str(d.quantize(CENT, rounding=ROUND_HALF_UP))


def _shown(d: Decimal, currency: str) -> str:
    q = d.quantize(CENT, rounding=ROUND_HALF_UP)
    sign = "$" if currency == "USD" else ""
    return f"{sign}{q:,.2f}"


def _period_day(period, default_day: str) -> _dt.date | None:
    try:
        year, month = int(str(period)[:4]), int(str(period)[5:7])
        day = 1 if default_day == "first" else calendar.monthrange(year, month)[1]
        return _dt.date(year, month, day)
    except (ValueError, TypeError):
        return None


class _Money:
    __slots__ = ("lines", "units", "billed", "allowed", "at_risk", "unpriced")

    def __init__(self):
        self.lines = self.units = self.unpriced = 0
        self.billed = self.allowed = self.at_risk = ZERO


class MoneySummary:
    """Accumulates a run's money (see the module docstring)."""

    def __init__(self, shape, amounts, titles: dict | None = None):
        """``titles``: rule id -> its title, for the denial reasons (the pack's rules)."""
        self.shape = shape
        self.amounts = amounts
        self.records = self.rejections = 0
        self.total = _Money()
        self.by_code: dict = {}
        self.by_rule: dict = {}  # rule -> [denied lines, at risk]
        self.titles: dict = dict(titles or {})
        self.unpriced: dict = {}  # code -> lines
        self.unverified_lines = 0
        self.unverified_amount = ZERO
        self.unverified_codes: set = set()
        self.rates_lines = 0

    # ---------------------------------------------------------------- counting

    def add(self, item, record=None):
        """Count one result (with the record it was made from) or rejection."""
        if item.kind == "rejection":
            self.rejections += 1
            return
        self.records += 1
        for p in priced_lines(item, record, self.shape, self.amounts):
            v, units, row, amount = p.line, p.units, p.row, p.amount
            code = str(v.code)
            m = self.by_code.setdefault(code, _Money())
            for acc in (m, self.total):
                acc.lines += 1
                acc.units += units
            if row is None:
                self.unpriced[code] = self.unpriced.get(code, 0) + 1
                m.unpriced += 1
                self.total.unpriced += 1
            else:
                if not row.verified:
                    self.unverified_lines += 1
                    self.unverified_amount += amount
                    self.unverified_codes.add(code)
                if self.amounts.override_file and row.origin == self.amounts.override_file:
                    self.rates_lines += 1
                for acc in (m, self.total):
                    acc.billed += amount
                    if v.verdict == "deny":
                        acc.at_risk += amount
                    else:
                        acc.allowed += amount
            if v.verdict == "deny":
                for rule in v.rules:
                    r = self.by_rule.setdefault(rule, [0, ZERO, 0])
                    r[0] += 1
                    if amount is not None:
                        r[1] += amount
                    else:
                        r[2] += 1

    # ---------------------------------------------------------------- output

    def reasons(self) -> list:
        """Denying rules by amount at risk, then lines denied, then id."""
        return sorted(self.by_rule.items(), key=lambda kv: (-kv[1][1], -kv[1][0], kv[0]))

    def _per_record(self, d: Decimal) -> Decimal:
        return d / self.records if self.records else ZERO

    def to_dict(self) -> dict:
        a = self.amounts
        t = self.total
        return {
            "label": a.label if a is not None else None,
            "currency": (a.currency or None) if a is not None else None,
            "rates_file": a.override_file if a is not None else None,
            "records": self.records,
            "rejections": self.rejections,
            "lines": {"total": t.lines, "units": t.units, "priced": t.lines - t.unpriced, "unpriced": t.unpriced},
            "totals": {"billed": _money(t.billed), "allowed": _money(t.allowed), "at_risk": _money(t.at_risk)},
            "per_record": {"billed": _money(self._per_record(t.billed)),
                           "allowed": _money(self._per_record(t.allowed)),
                           "at_risk": _money(self._per_record(t.at_risk))},
            "by_code": [{"code": c, "lines": m.lines, "units": m.units, "unpriced_lines": m.unpriced,
                         "billed": _money(m.billed), "allowed": _money(m.allowed), "at_risk": _money(m.at_risk)}
                        for c, m in sorted(self.by_code.items())],
            "by_rule": [{"rule": r, "title": self.titles.get(r, ""), "denied_lines": n, "at_risk": _money(amt),
                         "unpriced_lines": u} for r, (n, amt, u) in self.reasons()],
            "unpriced": dict(sorted(self.unpriced.items())),
            "unverified": {"lines": self.unverified_lines, "amount": _money(self.unverified_amount),
                           "codes": sorted(self.unverified_codes)},
            "rates_lines": self.rates_lines,
        }

    def text(self, id_name: str = "", period_name: str = "") -> str:
        """The summary as a table for people (plain text, no colour)."""
        a, t = self.amounts, self.total
        cur = a.currency if a is not None else ""
        per = f"{id_name or 'record'}-{period_name}" if period_name else "record"
        out = []
        if a is None:
            out.append("Amounts: none (the pack declares no [amounts]; give --rates FILE): lines are counted, "
                       "not priced")
        else:
            out.append(f"Amounts: {a.label}" + (f" ({a.currency})" if a.currency else ""))
            if a.override_file:
                out.append(f"  with the rates of {a.override_file} first ({self.rates_lines:,} line(s) priced "
                           "from it)")
        out.append(f"  {self.records:,} record(s) evaluated, {self.rejections:,} rejected (not priced); "
                   f"{t.lines:,} line(s), {t.lines - t.unpriced:,} priced")
        out.append("")
        w = max(16, len(per) + 4)
        out.append(f"  {'':<{w}}{'billed':>14}{'allowed':>14}{'at risk':>14}")
        out.append(f"  {'total':<{w}}{_shown(t.billed, cur):>14}{_shown(t.allowed, cur):>14}"
                   f"{_shown(t.at_risk, cur):>14}")
        out.append(f"  {'per ' + per:<{w}}{_shown(self._per_record(t.billed), cur):>14}"
                   f"{_shown(self._per_record(t.allowed), cur):>14}{_shown(self._per_record(t.at_risk), cur):>14}")
        if self.by_code:
            out.append("")
            out.append(f"  {'by code':<16}{'lines':>7}{'units':>7}{'billed':>14}{'allowed':>14}{'at risk':>14}")
            for c, m in sorted(self.by_code.items()):
                note = f"  ({m.unpriced} unpriced)" if m.unpriced else ""
                out.append(f"  {c[:16]:<16}{m.lines:>7,}{m.units:>7,}{_shown(m.billed, cur):>14}"
                           f"{_shown(m.allowed, cur):>14}{_shown(m.at_risk, cur):>14}{note}")
        reasons = self.reasons()
        if reasons:
            out.append("")
            out.append("  top denial reasons (a line denied by several rules counts under each)")
            width = max(16, max(len(r) for r, _ in reasons[:TOP_REASONS]))
            out.append(f"  {'rule':<{width}}{'lines':>7}{'at risk':>14}  title")
            for r, (n, amt, _) in reasons[:TOP_REASONS]:
                out.append(f"  {r:<{width}}{n:>7,}{_shown(amt, cur):>14}  {self.titles.get(r, '')}")
            if len(reasons) > TOP_REASONS:
                out.append(f"  ... and {len(reasons) - TOP_REASONS} more rule(s) (--summary-format json lists all)")
        if self.unpriced:
            out.append("")
            out.append("  unpriced (no amount for the code on the line's date): "
                       + ", ".join(f"{c} x{n}" for c, n in sorted(self.unpriced.items())))
        if self.unverified_lines:
            out.append(f"  unverified amounts (no primary source) priced {self.unverified_lines:,} line(s), "
                       f"{_shown(self.unverified_amount, cur)}: " + ", ".join(sorted(self.unverified_codes)))
        # each line holds pack and record text (a label, a code): nothing a terminal acts on
        return "\n".join(plain_text(x) for x in out) + "\n"


@frozen
class PricedLine:
    """One line of a result with its money: the ``LineVerdict``, its units, the amounts row
    that prices it (None: unpriced) and ``amount`` (row amount x units, or None)."""

    line: object
    units: int
    date: _dt.date | None
    row: object
    amount: Decimal | None


def priced_lines(result, record, shape, amounts) -> list:
    """The lines of ``result`` with their amounts, as the summary counts them: each line's
    date of service (its date, else the period's default day) and units (the line field
    ``amounts.units_field``, else 1) read from ``record``, the record the result was made
    from (the evidence packet shows "the amount at stake" per line with this)."""
    facts = _line_facts(record, shape, amounts.units_field if amounts is not None else None)
    out = []
    for v in result.lines:
        date, units = facts.get(_key(v.line), (None, 1))
        date = date or _period_day(result.period, shape.default_day)
        row = amounts.row_for(v.code, date) if (amounts is not None and date) else None
        out.append(PricedLine(v, units, date, row, row.amount * units if row is not None else None))
    return out


def _line_facts(record, shape, units_field) -> dict:
    """line id -> (date of service or None, units), read from the record."""
    out: dict = {}
    lines = record.get(shape.lines) if isinstance(record, dict) else None
    if not isinstance(lines, list):
        return out
    for line in lines:
        if not isinstance(line, dict):
            continue
        date = None
        raw = line.get(shape.line_date)
        if isinstance(raw, str):
            try:
                date = _dt.date.fromisoformat(raw[:10])
            except ValueError:
                date = None
        units = line.get(units_field, 1) if units_field else 1
        if not isinstance(units, int) or isinstance(units, bool) or units < 0:
            units = 1
        out[_key(line.get(shape.line_id))] = (date, units)
    return out


def _key(line_id) -> str:
    return repr(line_id)
