"""The citation report of a pack (``rulecite sources``): every source grouped by authority
tier, the rules citing each, each rule's citations in authority order, and the totals a
consultant checks first (rules with a primary citation; rules resting on secondary
sources only).

Takes a checked ``Pack``; gives plain data (``citation_report``, JSON-ready, the shape
``rulecite sources --format json`` prints) and its text rendering. The site's sources page
reads the same data, so the report and the page cannot disagree.
"""

from __future__ import annotations

import datetime as _dt

from rulecite.interpreter.reports.citations import citation_text
from rulecite.policy_lang.authority import KINDS, TIER_ORDER, by_authority, has_primary, rank, tier_of
from rulecite.policy_lang.model import Pack


def _date(d) -> str | None:
    return d.isoformat() if d else None


def _citation(c) -> dict:
    out = {"source": c.source.name, "kind": c.source.kind, "tier": tier_of(c.source.kind),
           "page": c.page if c.page else "unverified"}
    if c.section:
        out["section"] = c.section
    if c.quote:
        out["quote"] = c.quote
    if getattr(c, "restates", False):
        out["restates"] = True
    return out


def _rule_citations(pack: Pack, rule_id: str) -> list:
    """Every citation of every version of the rule, each once, in authority order."""
    seen, out = set(), []
    for r in pack.rule_versions(rule_id):
        for c in r.citations:
            key = (c.source.name, c.section, c.page, c.quote)
            if key not in seen:
                seen.add(key)
                out.append(c)
    return by_authority(out)


def source_sort_key(s) -> tuple:
    """Authority tier; within primary the Final Rules and their corrections first (the
    pack's promise is that every rule traces to one), then the other kinds in the table's
    order; then oldest first (a history reads forward); then key."""
    kinds = ["final_rule", "correction"] + [k for k in KINDS if k not in ("final_rule", "correction")]
    kind_index = kinds.index(s.kind) if s.kind in kinds else len(kinds)
    return (rank(s.kind), kind_index, s.published or s.effective or _dt.date.max, s.name)


def citation_report(pack: Pack) -> dict:
    """The report as plain data (see the module docstring)."""
    cited_by: dict = {}
    rules = []
    for rid in pack.rule_ids:
        cites = _rule_citations(pack, rid)
        for c in cites:
            cited_by.setdefault(c.source.name, []).append(rid)
        rules.append({"id": rid, "title": pack.rule_versions(rid)[-1].title,
                      "primary": has_primary(cites), "citations": [_citation(c) for c in cites]})
    used_by = _other_uses(pack)
    sources = []
    for s in sorted(pack.sources, key=source_sort_key):
        sources.append({
            "key": s.name, "kind": s.kind, "tier": tier_of(s.kind), "title": s.title, "citation": s.citation,
            "document": s.document, "published": _date(s.published), "effective": _date(s.effective),
            "url": s.url, "note": s.note, "cited_by": sorted(set(cited_by.get(s.name, []))),
            "also_cited_by": used_by.get(s.name, {}),
        })
    by_tier = {t: sum(1 for s in sources if s["tier"] == t) for t in TIER_ORDER}
    by_tier["unknown kind"] = sum(1 for s in sources if s["tier"] is None)
    secondary_only = [r["id"] for r in rules if r["citations"] and not r["primary"]]
    return {
        "pack": {"name": pack.name, "version": pack.version, "lock": pack.lock},
        "rules": rules,
        "sources": sources,
        "totals": {
            "rules": len(rules),
            "rules_with_primary": sum(1 for r in rules if r["primary"]),
            "rules_secondary_only": secondary_only,
            "rules_without_citation": [r["id"] for r in rules if not r["citations"]],
            "sources": len(sources),
            "sources_by_tier": by_tier,
            "sources_cited_by_no_rule": [s["key"] for s in sources if not s["cited_by"]],
            "sources_cited_by_nothing": [s["key"] for s in sources
                                         if not s["cited_by"] and not s["also_cited_by"]],
        },
    }


def _other_uses(pack: Pack) -> dict:
    """Source name -> {kind: count} for what cites it besides rules: codes, dated parameter
    values, suggestions, retirements and the pack's amounts table."""
    uses: dict = {}

    def add(names, kind):
        for name in set(names):
            counts = uses.setdefault(name, {})
            counts[kind] = counts.get(kind, 0) + 1

    for code in pack.codes:
        add((c.source.name for c in code.citations), "code")
    for param in getattr(pack, "parameters", ()) or ():
        for value in param.values:
            add((c.source.name for c in value.citations), "parameter value")
    for sug in pack.suggestions:
        add((c.source.name for c in sug.citations), "suggestion")
    for ret in getattr(pack, "retirements", ()) or ():
        add((c.source.name for c in getattr(ret, "citations", ())), "retirement")
    amounts = getattr(pack, "amounts", None)
    for row in getattr(amounts, "rows", ()) if amounts is not None else ():
        add(row.sources, "amount row")
    return {name: dict(sorted(counts.items())) for name, counts in uses.items()}


def render_text(report: dict) -> str:
    """The report for a terminal: sources by tier, then each rule's citations, then the
    totals."""
    pk, t = report["pack"], report["totals"]
    tiers = ", ".join(f"{n} {tier}" for tier, n in t["sources_by_tier"].items() if n)
    out = [f"Sources of {pk['name']} {pk['version']}: {t['sources']} ({tiers})", ""]
    current = object()
    for s in report["sources"]:
        tier = s["tier"] or "unknown kind"
        if tier != current:
            current = tier
            out += [tier.upper(), ""]
        out.append(f"  {s['key']}  [{s['kind'] or 'no kind'}]  {s['title']}")
        facts = [x for x in (s["citation"], s["document"] and f"document {s['document']}",
                             s["published"] and f"published {s['published']}",
                             s["effective"] and f"effective {s['effective']}", s["url"]) if x]
        if facts:
            out.append("      " + " · ".join(facts))
        cited = s["cited_by"]
        out.append(f"      cited by {len(cited)} rule(s)" + (": " + ", ".join(cited) if cited else ""))
        if s["also_cited_by"]:
            out.append("      also cited by " + ", ".join(f"{n} {kind}{'' if n == 1 else 's'}"
                                                       for kind, n in s["also_cited_by"].items()))
        out.append("")
    out += ["RULES (citations in authority order)", ""]
    for r in report["rules"]:
        mark = "" if r["primary"] else "   << no primary source"
        out.append(f"  {r['id']}{mark}")
        for c in r["citations"]:
            source = next((s for s in report["sources"] if s["key"] == c["source"]), {})
            text = citation_text({**c, "citation": source.get("citation") or source.get("title") or c["source"]})
            out.append(f"      {c['tier'] or 'unknown kind'}: {c['source']}, {text}"
                       + (" (restates)" if c.get("restates") else ""))
    out.append("")
    n, p = t["rules"], t["rules_with_primary"]
    out.append(f"Rules with a primary citation: {p} of {n}" + (f" ({100 * p // n}%)" if n else ""))
    only = t["rules_secondary_only"]
    out.append("Rules resting on secondary sources only: " + (", ".join(only) if only else "none"))
    if t["rules_without_citation"]:
        out.append("Rules citing nothing: " + ", ".join(t["rules_without_citation"]))
    only_data = [k for k in t["sources_cited_by_no_rule"] if k not in t["sources_cited_by_nothing"]]
    if only_data:
        out.append("Sources no rule cites (cited by codes, values or amounts only): " + ", ".join(only_data))
    if t["sources_cited_by_nothing"]:
        out.append("Sources nothing cites: " + ", ".join(t["sources_cited_by_nothing"]))
    return "\n".join(out) + "\n"
