"""The sources page: every source with its citation and link, and every rule and code that cites it (the reverse index).
"""

from __future__ import annotations

from rulecite.interpreter.reports.markup import md_code, md_link, md_text
from rulecite.interpreter.reports.site.common import (
    KV_CLOSE,
    KV_OPEN,
    UNVERIFIED,
    anchor,
    cell,
    date_text,
    front,
    generated_note,
    rule_page,
    source_href,
    source_label,
    window_text,
)
from rulecite.interpreter.reports.sources import citation_report
from rulecite.policy_lang.authority import TIER_ORDER, tier_of
from rulecite.policy_lang.model import Pack, Source


TIER_TITLES = {"primary": "Primary sources", "contractor": "Contractor sources", "secondary": "Secondary sources",
               None: "Sources of a kind outside the fixed set"}
TIER_NOTES = {
    "primary": "Statutes, regulations, Final Rules and their corrections, the agency's manuals and guidance, "
               "code descriptors: what every rule must rest on.",
    "contractor": "Contractors applying the rules in their regions: articles and local coverage determinations.",
    "secondary": "Everyone else: proposed rules (not policy), trade bodies, law firms, vendors, other payers and "
                 "pages. Cited after the primary sources, where they add a quote or a disputed reading.",
    None: "",
}


def sources_page(pack: Pack) -> str:
    """Sources grouped by authority tier (Final Rules first), each listed by its title, with
    every rule, code and retirement that cites it; the order and totals are those of
    ``rulecite sources`` (``reports.sources``)."""
    report = citation_report(pack)
    t = report["totals"]
    out = front("Sources")
    out += [generated_note(pack), "",
            f"{t['sources']} sources. {t['rules_with_primary']} of {t['rules']} rules cite a primary source"
            + (f"; resting on secondary sources only: {', '.join(md_text(r) for r in t['rules_secondary_only'])}."
               if t["rules_secondary_only"] else "; none rests on secondary sources only."), ""]
    cited = _cited_by(pack)
    by_name = {s.name: s for s in pack.sources}
    ordered = [by_name[x["key"]] for x in report["sources"]]
    for tier in (*TIER_ORDER, None):
        group = [s for s in ordered if tier_of(s.kind) == tier]
        if not group:
            continue
        out += [f"## {TIER_TITLES[tier]}", ""]
        if TIER_NOTES[tier]:
            out += [TIER_NOTES[tier], ""]
        out += ["| Source | Kind | Citation | Published | Effective | Cited by |", "|---|---|---|---|---|---|"]
        for s in group:
            n = len({rid for rid, *_ in cited[s.name]["rules"]})
            out.append(f"| [{md_text(s.title)}](#{anchor('source', s.name)}) | {cell(s.kind)} | "
                       f"{cell(s.citation)} | {date_text(s.published) or '—'} | {date_text(s.effective) or '—'} | "
                       f"{n} rule{'s' if n != 1 else ''} |")
        out.append("")
        for s in group:
            out += _source_section(pack, s, cited[s.name])
    return "\n".join(out).rstrip() + "\n"


def _cited_by(pack: Pack) -> dict:
    cited = {s.name: {"rules": [], "codes": [], "retirements": [], "disputes": []} for s in pack.sources}
    for r in pack.rules:
        for c in r.citations:
            cited.setdefault(c.source.name, {"rules": [], "codes": [], "retirements": [], "disputes": []})
            cited[c.source.name]["rules"].append((r.id, r.version, r, c))
        for d in r.disputes:
            if d.source is not None and d.source.name in cited:
                cited[d.source.name]["disputes"].append((r.id, r.version, d))
    for code in pack.codes:
        for c in code.citations:
            if c.source.name in cited:
                cited[c.source.name]["codes"].append((code.name, c))
    for ret in pack.retirements:
        for c in ret.citations:
            if c.source.name in cited:
                cited[c.source.name]["retirements"].append((ret.rule_id, ret, c))
    return cited


def _source_section(pack: Pack, s: Source, cited: dict) -> list:
    href = source_href(s, pack)
    # The heading is the source's key (short, what rules write after `cite`); the index
    # table above and the first line here give its title.
    out = [f"### {md_text(s.name)} {{#{anchor('source', s.name)}}}", "", f"**{md_text(s.title)}**", "",
           *KV_OPEN]
    label = source_label(s)
    out.append(f"| Citation | {md_link(href, label) if href else md_text(label) + ' (no link in the pack)'} |")
    if s.document:
        out.append(f"| Document | {md_text(s.document)} |")
    out += [f"| Kind | {cell(s.kind)} ({md_text(tier_of(s.kind) or 'a kind outside the fixed set')}) |",
            f"| Published | {date_text(s.published) or '—'} |",
            f"| Effective | {date_text(s.effective) or '—'} |"]
    if s.url:
        out.append(f"| Address | {md_link(s.url, s.url)} |")
    if s.note:
        out.append(f"| Note | {md_text(s.note)} |")
    if s.pack != pack.name:
        out.append(f"| Declared in | {md_code(s.pack)} |")
    out += KV_CLOSE
    rules = sorted(cited["rules"], key=lambda x: (x[0], x[1]))
    if rules:
        out += ["#### Rules citing it", "", "| Rule | Version | In force | Section | Page |", "|---|---|---|---|---|"]
        for rid, ver, r, c in rules:
            out.append(f"| [{md_text(rid)}]({rule_page(rid)}) | {ver} | {window_text(r.window)} | "
                       f"{cell(c.section)} | {md_text(c.page) if c.page else UNVERIFIED} |")
        out.append("")
    else:
        out += ["No rule cites it.", ""]
    if cited["codes"]:
        out += ["Codes citing it: " + ", ".join(
            f"[{md_text(name)}](codes.md#{anchor('code', name)})" for name, _ in sorted(cited["codes"],
                                                                                        key=lambda x: x[0])), ""]
    if cited["retirements"]:
        out += ["Retirements citing it: " + ", ".join(
            f"[{md_text(rid)}]({rule_page(rid)}) from {date_text(ret.from_date)}"
            for rid, ret, _ in sorted(cited["retirements"], key=lambda x: x[0])), ""]
    if cited["disputes"]:
        out += ["Disputes resting on it: " + ", ".join(
            f"[{md_text(rid)}]({rule_page(rid)})" for rid, _, _ in sorted(cited["disputes"], key=lambda x: x[:2])),
            ""]
    return out
