"""The options and arguments several commands share: PACK, FACTS, --as-of, --record/--month."""

from __future__ import annotations

import datetime as _dt

import click


class DateParam(click.ParamType):
    """``YYYY-MM-DD``; with ``months=True`` also ``YYYY-MM`` (its first day)."""

    name = "date"

    def __init__(self, months: bool = False):
        self.months = months

    def convert(self, value, param, ctx):
        if isinstance(value, _dt.date):
            return value
        text = str(value)
        try:
            if self.months and len(text) == 7:
                return _dt.date.fromisoformat(text + "-01")
            if len(text) != 10:
                raise ValueError
            return _dt.date.fromisoformat(text)
        except ValueError:
            want = "YYYY-MM-DD or YYYY-MM" if self.months else "YYYY-MM-DD"
            self.fail(f"{text!r} is not a date ({want})", param, ctx)


def as_of_option(f):
    return click.option(
        "--as-of", "as_of", type=DateParam(), default=None, metavar="DATE",
        help="Publication clock: use only sources published on or before DATE. Rules are still picked "
             "by each line's date of service.")(f)


def pack_argument(f):
    return click.argument("pack", metavar="PACK")(f)


def facts_argument(f):
    return click.argument("facts", metavar="FACTS")(f)


def record_options(f):
    """``--record ID`` and ``--month PERIOD``: one record of FACTS, the earlier ones its history."""
    f = click.option("--month", metavar="PERIOD", default=None,
                     help="Which period of that id (default: the latest in FACTS); earlier ones are its "
                          "history.")(f)
    return click.option("--record", "record_id", required=True, metavar="ID",
                        help="The record's id (the pack's [record] id).")(f)
