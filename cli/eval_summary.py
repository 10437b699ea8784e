"""``rulecite eval --summary`` and ``--rates``, and the ``--fail-on`` values.

``fail_on_values`` reads ``--fail-on`` (given several times, or comma-separated);
``summary_amounts`` gives the amounts a summary prices with (the pack's, a user's rates
file first); ``SummarySink`` feeds every result, with the record it was made from, to
``reports.summary.MoneySummary`` and writes the summary as a table or JSON.
"""

from __future__ import annotations

import json

import click
from rulecite.interpreter.reports.summary import MoneySummary
from rulecite.policy_lang.amounts import Amounts, read_rates

FAIL_ON = ("deny", "warn", "reject")


def fail_on_values(ctx, param, values) -> tuple:
    """``--fail-on deny --fail-on reject`` or ``--fail-on deny,reject``: the kinds, sorted."""
    kinds = set()
    for value in values or ():
        for part in str(value).split(","):
            part = part.strip().lower()
            if part not in FAIL_ON:
                raise click.BadParameter(f"{part!r} is not one of {', '.join(FAIL_ON)} (give several with commas "
                                         "or by repeating the option)", ctx, param)
            kinds.add(part)
    return tuple(k for k in FAIL_ON if k in kinds)


def summary_amounts(model, rates_path: str | None):
    """The amounts the summary prices with: the pack's, with a rates file's rows first;
    a bad rates file raises ``RatesError`` (E507, every bad row with its line)."""
    amounts = getattr(model, "amounts", None)
    if rates_path is None:
        return amounts
    rows = read_rates(rates_path)
    if amounts is None:
        return Amounts.rates_only(rows, rates_path, None)
    return amounts.with_rates(rows, rates_path)


def rule_titles(model) -> dict:
    """rule id -> the title of its latest version."""
    return {r.id: r.title for r in model.rules}


class SummarySink:
    """Counts every result with its record; writes the money summary at the end."""

    def __init__(self, model, amounts):
        self.shape = model.shape
        self.money = MoneySummary(model.shape, amounts, rule_titles(model))

    def add(self, item, raw=None):
        """Count ``item``; ``raw``: the input it came from, read when the result keeps no
        record (a parallel run's results do not)."""
        record = getattr(item, "record", None)
        if record is None and item.kind == "result":
            record = _decode(raw)
        self.money.add(item, record)

    def write(self, out, fmt: str):
        if fmt == "json":
            out.write(json.dumps(self.money.to_dict(), ensure_ascii=False, indent=2) + "\n")
        else:
            out.write(self.money.text(self.shape.id, self.shape.period))


def _decode(raw):
    if isinstance(raw, dict):
        return raw
    try:
        return json.loads(raw)
    except (TypeError, ValueError, RecursionError):
        return None
