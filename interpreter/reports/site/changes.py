"""The 'what changed' page: the pack's rules, codes and sources compared between the dates where something changes.
"""

from __future__ import annotations

import datetime as _dt

from rulecite.interpreter.reports.diff import markdown_items
from rulecite.interpreter.reports.markup import md_code, md_text
from rulecite.interpreter.reports.site.codes import replacements
from rulecite.interpreter.reports.site.common import (
    anchor,
    date_text,
    front,
    generated_note,
    pack_years,
    rule_page,
)
from rulecite.interpreter.reports.site.rules import ending
from rulecite.policy_lang.authority import by_authority
from rulecite.policy_lang.model import Pack


def change_dates(pack: Pack) -> tuple:
    """The two service dates the what-changed page compares: the last day of the year
    before the pack's last year and the first day of that year (for a 2025-2026 pack,
    2025-12-31 and 2026-01-01)."""
    years = pack_years(pack)
    if len(years) < 2:
        return None
    return _dt.date(years[-2], 12, 31), _dt.date(years[-1], 1, 1)


_DIFF_TITLES = {"rules": "Rules", "parameters": "Dated parameters", "definitions": "Definitions", "codes": "Codes",
                "sets": "Code sets", "derived": "Derived values",
                "sources": "Sources"}


def _diff_link(pack: Pack, section: str, name: str) -> str:
    if section == "rules" and name in pack.rule_ids:
        return f"[{md_text(name)}]({rule_page(name)})"
    if section == "codes" and pack.code(name) is not None:
        return f"[{md_text(name)}](codes.md#{anchor('code', name)})"
    if section == "sources" and pack.source(name) is not None:
        return f"[{md_text(name)}](sources.md#{anchor('source', name)})"
    return md_code(name)


RULE_KINDS = ("final_rule", "correction")


def final_rules_behind(pack: Pack, citations) -> str:
    """Markdown naming the Final Rules (and corrections) among ``citations``, linked to the
    sources page, or empty."""
    seen, names = set(), []
    for c in by_authority(citations):
        s = c.source
        if s.kind in RULE_KINDS and s.name not in seen:
            seen.add(s.name)
            label = f"{s.title} ({s.citation})" if s.citation else s.title
            names.append(f"[{md_text(label)}](sources.md#{anchor('source', s.name)})")
    return ("Behind it: " + "; ".join(names)) if names else ""


def _behind(pack: Pack, section: str, name: str, day: _dt.date | None) -> str:
    if section == "rules":
        versions = pack.rule_versions(name)
        now = [v for v in versions if day is not None and v.window.contains(day)] if day else []
        chosen = now or versions[-1:]
        return final_rules_behind(pack, [c for v in chosen for c in v.citations])
    if section == "codes":
        code = pack.code(name)
        return final_rules_behind(pack, code.citations) if code is not None else ""
    return ""


def render_diff(pack: Pack, d, day: _dt.date | None = None) -> list:
    """A ``PackDiff`` (``rulecite diff``) as Markdown lines for the site, every string escaped
    and every rule, code and source linked to its page."""
    out = []
    if d.empty:
        return ["No differences."]
    for section in d.SECTIONS:
        items = getattr(d, section)
        if not items:
            continue
        counts: dict = {}
        for i in items:
            counts[i.kind] = counts.get(i.kind, 0) + 1
        out += [f"### {_DIFF_TITLES.get(section, md_text(section))}", "",
                ", ".join(f"{n} {md_text(k)}" for k, n in sorted(counts.items())) + ".", ""]
        out += markdown_items(items, md_text, lambda name, section=section: _diff_link(pack, section, name),
                              lambda name, section=section: _behind(pack, section, name, day))
        out.append("")
    return out


def _comparison(pack: Pack, a: _dt.date, b: _dt.date) -> list:
    from rulecite.policy_lang.diff import diff_dates

    out = [f"## Service dates {date_text(a)} versus {date_text(b)}", "",
           f"Which rules, codes and sources a claim meets on {date_text(a)} and on {date_text(b)} (rules are picked by "
           f"date of service): the output of "
           f"{md_code(f'rulecite diff {pack.name} --date-a {date_text(a)} --date-b {date_text(b)}')}.", ""]
    return out + render_diff(pack, diff_dates(pack, a, b), b)


def dated_changes(pack: Pack) -> list:
    """Every dated event of the pack, sorted: ``(date, kind, name, Markdown text)``."""
    events = []
    for r in pack.rules:
        page = f"[{md_text(r.id)}]({rule_page(r.id)})"
        if r.window.start:
            because = final_rules_behind(pack, r.citations)
            events.append((r.window.start, "rule", r.id, f"{page} version {r.version} takes effect"
                           + (f" ({because[0].lower()}{because[1:]})" if because else "")))
        if r.window.end and r.window.end < _dt.date.max:  # 9999-12-31 never ends
            events.append((r.window.end + _dt.timedelta(days=1), "rule", r.id,
                           f"{page} version {r.version} ends ({ending(r)})"))
    for c in pack.codes:
        page = f"[{md_text(c.name)}](codes.md#{anchor('code', c.name)})"
        if c.window.start:
            events.append((c.window.start, "code", c.name, f"{page} becomes valid"))
        if c.window.end and c.window.end < _dt.date.max:
            repl = f"; replaced by {replacements(c).replace('(#', '(codes.md#')}" if c.replaced_by else ""
            events.append((c.window.end + _dt.timedelta(days=1), "code", c.name, f"{page} ends{repl}"))
    return sorted(events, key=lambda e: (e[0], e[1], e[2], e[3]))


def changes_page(pack: Pack) -> str:
    out = front("What changed")
    out += [generated_note(pack), ""]
    dates = change_dates(pack)
    if dates:
        out += _comparison(pack, *dates)
    events = dated_changes(pack)
    out += ["## Every dated change", "",
            "Each date on which a rule or a code starts or stops applying (the first service date of the change).",
            ""]
    if events:
        out += ["| Service date | What |", "|---|---|"]
        out += [f"| {date_text(d)} | {text} |" for d, _, _, text in events]
    else:
        out.append("The pack has no dated changes.")
    return "\n".join(out).rstrip() + "\n"
