"""The code catalog page: every code with its window, year-by-year timeline, replacements and the rules that name it.
"""

from __future__ import annotations

from rulecite.interpreter.reports.markup import md_code, md_text
from rulecite.interpreter.reports.site.common import (
    KV_CLOSE,
    KV_OPEN,
    anchor,
    bar,
    cell,
    citation_list,
    date_text,
    front,
    generated_note,
    pack_years,
    rule_page,
    year_cell,
)
from rulecite.policy_lang.model import Code, Pack


def codes_page(pack: Pack) -> str:
    years = pack_years(pack)
    out = front("Code catalog")
    out += [generated_note(pack), "",
            "Every code the pack knows, with the service dates it is valid for. A line billed outside its "
            "code's window is denied by `catalog.window`, which suggests the replacement.", ""]
    if years:
        out += ["## Timeline", "",
                "| Code | Description | " + " | ".join(str(y) for y in years) + " | Window | Replaced by |",
                "|---|---|" + "---|" * len(years) + "---|---|"]
        for c in sorted(pack.codes, key=lambda c: c.name):
            out.append(f"| [{md_text(c.name)}](#{anchor('code', c.name)}) | {md_text(c.description)} | "
                       + " | ".join(year_cell(c.window, y) for y in years)
                       + f" | {bar(c.window, years)} | {replacements(c) or '—'} |")
        out.append("")
    if pack.sets:
        out += ["## Code sets", "", "| Set | Codes |", "|---|---|"]
        for s in sorted(pack.sets, key=lambda s: s.name):
            members = ", ".join(f"[{md_text(m)}](#{anchor('code', m)})" for m in s.members)
            out.append(f"| {md_code(s.name)} | {members or '—'} |")
        out.append("")
    out += ["## Codes", ""]
    rules_by_code: dict = {}
    for r in pack.rules:
        for code in r.codes or ():
            rules_by_code.setdefault(code, set()).add(r.id)
    for c in sorted(pack.codes, key=lambda c: c.name):
        out += _code_section(pack, c, sorted(rules_by_code.get(c.name, ())))
    return "\n".join(out).rstrip() + "\n"


def replacements(c: Code) -> str:
    return ", ".join(f"[{md_text(x)}](#{anchor('code', x)})" for x in c.replaced_by)


def _code_section(pack: Pack, c: Code, rule_ids: list) -> list:
    out = [f"### {md_text(c.name)}: {md_text(c.description)} {{#{anchor('code', c.name)}}}", "",
           *KV_OPEN,
           f"| Program | {cell(c.program)} |",
           f"| Effective | {date_text(c.window.start) or 'since always'} |",
           f"| Until | {date_text(c.window.end) or 'open-ended'} |",
           f"| Replaced by | {replacements(c) or '—'} |"]
    if c.note:
        out.append(f"| Note | {md_text(c.note)} |")
    if c.pack != pack.name:
        out.append(f"| Declared in | {md_code(c.pack)} |")
    out += KV_CLOSE
    if c.citations:
        out += ["Cites:", ""] + citation_list(c.citations, "", pack) + [""]
    if rule_ids:
        out += ["Rules that apply to it: " + ", ".join(f"[{md_text(r)}]({rule_page(r)})" for r in rule_ids), ""]
    return out
