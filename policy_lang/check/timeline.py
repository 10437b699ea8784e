"""The timeline stages: when each rule version is in force.

``retirements`` checks the ``retire`` declarations; ``versions`` takes every rule
version the ``rules`` stage stored and makes its window final: a ``supersedes`` ends
the old rule the day before the new one starts, a ``retire`` ends a rule the day
before its date, and two versions of one rule may not be in force on the same day.
Each version keeps its cuts (``Rule.cuts``: what ended it, from when, on which
citations), so the compiler can tell which of them the publication clock knows. It
stores the final, numbered versions as ``ck.rules``. Reads no file.
"""

from __future__ import annotations

import datetime as _dt

import attrs

from rulecite.policy_lang.errors import did_you_mean
from rulecite.policy_lang.model import Cut, Retirement, Rule, Window
from rulecite.policy_lang.syntax import nodes as ast


def retirements(ck) -> None:
    out = list(ck.parent.retirements) if ck.parent else []
    for m, d in ck.decls(ast.RetireDecl):
        if d.from_date is None:
            ck.err("E108", f"retire `{d.rule_id}` needs `from DATE`", d.span)
            continue
        if not d.citations:
            ck.err("E108", f"retire `{d.rule_id}` needs a `cite`", d.span,
                   ["say which source ended the rule"])
        out.append(Retirement(d.rule_id, d.from_date, ck.citations(d.citations, d.span), d.reason, d.span))
    ck.retirements = out


def versions(ck) -> None:
    rules, built = ck.inherited_rules, ck.own_rules
    all_ids = {r.id for r in rules} | {r.id for r in built if r}
    by_id: dict = {}
    for r in rules + [r for r in built if r]:
        by_id.setdefault(r.id, []).append(r)
    # supersede: the old rule ends the day before the new one starts
    for r in [r for r in built if r and r.supersedes]:
        if r.supersedes not in all_ids:
            ck.err("E205", f"rule `{r.id}` supersedes unknown rule `{r.supersedes}`", r.span,
                   did_you_mean(r.supersedes, all_ids))
            continue
        start = r.window.start
        if start is None:
            ck.err("E108", f"rule `{r.id}` supersedes `{r.supersedes}` and needs an `effective` date",
                   r.span)
            continue
        by_id[r.supersedes] = [clip(ck, o, start, r.span, superseded_by=r.id, citations=r.citations)
                               for o in by_id[r.supersedes]]
    for ret in ck.retirements:
        if ret.rule_id not in by_id:
            ck.err("E205", f"retire of unknown rule `{ret.rule_id}`", ret.span,
                   did_you_mean(ret.rule_id, all_ids))
            continue
        by_id[ret.rule_id] = [clip(ck, o, ret.from_date, ret.span, retired=ret, citations=ret.citations)
                              for o in by_id[ret.rule_id]]
    out = []
    for rid in sorted(by_id):
        ordered = sorted(by_id[rid], key=lambda r: (r.window.start or _dt.date.min))
        for a, b in zip(ordered, ordered[1:]):
            if a.window.overlaps(b.window):
                ck.err("E401", f"two versions of rule `{rid}` are both in force "
                       f"({a.window} and {b.window})", b.span,
                       ["give the earlier version an `until` date, or use `supersedes`"])
        out.extend(attrs.evolve(r, version=i + 1) for i, r in enumerate(ordered))
    ck.rules = out


def clip(ck, rule: Rule, start: _dt.date, span, superseded_by=None, retired=None, citations=()) -> Rule:
    """``rule`` ended the day before ``start`` (by the rule ``superseded_by``, or by the
    retire ``retired``). The cut is kept on the rule, binding or not, with the citations
    that make it known: the compiler ends the version only from the day the publication
    clock knows of them (``Rule.as_of``)."""
    if start == _dt.date.min:  # no day before it: nothing can be in force before the cut
        ck.err("E403", f"rule `{rule.id}` is ended from {start}, the first day a date can name", span,
               ["the ending date must come after the rule's `effective` date"])
        return rule
    end = start - _dt.timedelta(days=1)
    cut = Cut(start, superseded_by, tuple(citations))
    if rule.window.end is not None and rule.window.end <= end:
        return attrs.evolve(rule, cuts=rule.cuts + (cut,))
    if rule.window.start is not None and rule.window.start > end:
        ck.err("E403", f"rule `{rule.id}` starts {rule.window.start}, on or after the date that ends it "
               f"({start})", span, ["the ending date must come after the rule's `effective` date"])
        return rule
    changes = {"window": Window(rule.window.start, end), "cuts": rule.cuts + (cut,)}
    if superseded_by:
        changes["superseded_by"] = superseded_by
    if retired:
        changes["retired"] = retired
    return attrs.evolve(rule, **changes)
