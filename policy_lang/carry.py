"""Carry a pack forward past the end of its coverage, to compare it with a later version.

Takes a checked ``Pack`` and a later last day; gives the same pack judging service dates
up to that day with what it had in force on its last covered date: its coverage ends on
the new day, and every dated item (rule version, code, suggestion, or any other item
with a ``window``) in force on the old last covered date stays in force, open-ended,
unless the pack says why it ends there (a ``retire`` or ``supersedes`` from the next day,
a code ``replaced_by`` another). Nothing else changes: an item that ended before the old
end stays ended, and a rule version keeps its cuts for the publication clock. A dated
parameter needs nothing: each value is in force until the next one starts, and every
``from`` date lies inside the coverage (E405), so the value in force on the old last covered
date stays in force after it (a rule reading the 99439 cap judges a later year by the
pack's last cap, and the decision impact shows the new version's value as the change).

``rulecite diff OLD NEW --facts`` evaluates OLD this way on the dates NEW covers and OLD
does not, so a year OLD never covered shows the verdicts that really change rather than
one rejection per record; the report says which lines were judged so.
"""

from __future__ import annotations

import datetime as _dt

import attrs

from rulecite.policy_lang.model import Pack, Window


def carry_forward(pack: Pack, until: _dt.date | None) -> Pack:
    """``pack`` with its coverage run on to ``until`` (``None``: open) and everything in
    force on its last covered date kept in force. The pack itself when its coverage is
    open-ended or already reaches ``until``."""
    last = pack.coverage.end
    if last is None or (until is not None and until <= last):
        return pack
    changes: dict = {"coverage": Window(pack.coverage.start, until)}
    for f in attrs.fields(Pack):
        items = getattr(pack, f.name)
        if f.name == "coverage" or not isinstance(items, tuple) or not items:
            continue
        if not all(isinstance(getattr(i, "window", None), Window) for i in items):
            continue
        carried = tuple(_open(i, last) for i in items)
        if any(a is not b for a, b in zip(carried, items)):
            changes[f.name] = carried
    return attrs.evolve(pack, **changes)


def _open(item, last: _dt.date):
    w = item.window
    if w.end is None or not w.contains(last) or _ends_known(item, w.end):
        return item
    changes = {"window": Window(w.start, None)}
    declared = getattr(item, "declared_window", None)
    if isinstance(declared, Window) and declared.end is not None and declared.contains(last):
        changes["declared_window"] = Window(declared.start, None)
    return attrs.evolve(item, **changes)


def _ends_known(item, end: _dt.date) -> bool:
    """Whether the pack itself says why ``item`` ends on ``end``: a rule version cut there
    (a ``retire`` or ``supersedes`` from the next day), or a code ``replaced_by`` another."""
    if end < _dt.date.max and any(c.start == end + _dt.timedelta(days=1) for c in getattr(item, "cuts", ())):
        return True
    return bool(getattr(item, "replaced_by", ()))
