"""The dated parameters page: each parameter's timeline of values, each value with its citations,
and the rules that read it.

A value is in force from its `from` date until the day before the next value's; the page shows
every value the pack holds (the publication clock of an evaluation may know fewer of them).
"""

from __future__ import annotations

import datetime as _dt

from rulecite.interpreter.reports.markup import md_code, md_text
from rulecite.interpreter.reports.site.common import (
    anchor, citation_list, date_text, front, generated_note, rule_page,
)
from rulecite.policy_lang.model import Pack, Parameter, params_read


def value_text(v) -> str:
    """A parameter value as a reader sees it: a list with commas, true/false, numbers plain."""
    if isinstance(v, tuple):
        return "[" + ", ".join(value_text(x) for x in v) + "]"
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, float) and v == int(v):
        return str(int(v))
    return str(v)


def parameters_page(pack: Pack) -> str:
    out = front("Dated parameters")
    out += [generated_note(pack), "",
            "Values the rules read by name that change by date of service: each value is in force from its "
            "date until the day before the next one, and a finding that used a value cites that value's "
            "sources along with the rule's.", ""]
    readers: dict = {}
    for r in pack.rules:
        for name in params_read(pack, r):
            readers.setdefault(name, set()).add(r.id)
    if not pack.parameters:
        out += ["This pack has no dated parameters.", ""]
    for p in sorted(pack.parameters, key=lambda p: p.name):
        out += _section(pack, p, sorted(readers.get(p.name, ())))
    return "\n".join(out).rstrip() + "\n"


def _section(pack: Pack, p: Parameter, rule_ids: list) -> list:
    # the heading holds the name only: a search for a code must find the code's own entry first
    out = [f"## {md_code(p.name)} {{#{anchor('parameter', p.name)}}}", ""]
    if p.title:
        out += [md_text(p.title), ""]
    out += ["| From | Until | Value |", "|---|---|---|"]
    for i, v in enumerate(p.values):
        nxt = p.values[i + 1].start - _dt.timedelta(days=1) if i + 1 < len(p.values) else None
        out.append(f"| {date_text(v.start)} | {date_text(nxt) or 'open-ended'} | {md_code(value_text(v.value))} |")
    out.append("")
    for v in p.values:
        out += [f"Value from {date_text(v.start)} cites:", ""] + citation_list(v.citations, "", pack) + [""]
    if rule_ids:
        out += ["Rules that read it: " + ", ".join(f"[{md_text(r)}]({rule_page(r)})" for r in rule_ids), ""]
    return out
