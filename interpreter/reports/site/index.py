"""The pack's overview page: what it is, its coverage, and every rule by family.
"""

from __future__ import annotations

from rulecite.interpreter.reports.markup import md_code, md_text
from rulecite.interpreter.reports.site.common import (
    KV_CLOSE,
    KV_OPEN,
    anchor,
    cell,
    family,
    fence,
    front,
    generated_note,
    rule_page,
    severity_badge,
    window_text,
)
from rulecite.interpreter.reports.site.rules import source_snippet
from rulecite.policy_lang.authority import by_authority
from rulecite.policy_lang.model import Pack


def index_page(pack: Pack) -> str:
    out = front(pack.title)
    out += [generated_note(pack), "",
            *KV_OPEN,
            f"| Pack | {md_code(pack.name)} |",
            f"| Version | {md_text(pack.version)} |",
            f"| Lock (sha256) | {md_code(pack.lock or 'none')} |",
            f"| Service dates covered | {window_text(pack.coverage)} |",
            f"| Extends | {', '.join(md_code(e) for e in pack.extends) or '—'} |",
            f"| Language version | {md_text(pack.language)} |",
            f"| Unknown codes | {md_text(pack.unknown_codes)} |",
            *KV_CLOSE,
            f"{len(pack.rule_ids)} rules ({len(pack.rules)} versions), {len(pack.codes)} codes, "
            f"{len(pack.sets)} code sets, {len(pack.sources)} sources, {len(pack.tests)} pack tests. "
            "See the [code catalog](codes.md), the [sources](sources.md), "
            "[what changed](changes.md) and the [facts schema](schema.md).", ""]
    out += ["## Rules", ""]
    by_family: dict = {}
    for rid in pack.rule_ids:
        by_family.setdefault(family(rid), []).append(rid)
    for fam, ids in sorted(by_family.items()):
        out += [f"### {md_text(fam)}", "", "| Rule | Title | Severity | In force |", "|---|---|---|---|"]
        for rid in ids:
            versions = pack.rule_versions(rid)
            latest = versions[-1]
            force = "; ".join(window_text(v.window, pack) for v in versions)
            out.append(f"| [{md_text(rid)}]({rule_page(rid)}) | {md_text(latest.title)} | "
                       f"{severity_badge(latest.severity)} | {md_text(force)} |")
        out.append("")
    out += ["### Built-in rules", "",
            "Three rules come with every pack: `catalog.window` denies a line whose service date lies "
            "outside its code's effective window (citing the code's sources and suggesting its "
            "replacement); `catalog.unknown-code` reports a code the catalog lacks "
            f"(here: {md_text(pack.unknown_codes)}); and `coverage.outside` denies a line dated outside "
            f"the service dates the pack covers ({md_text(window_text(pack.coverage))}): no rule judges such "
            "a line, and the record's other lines keep their verdicts.", ""]
    if pack.suggestions:
        out += ["## Suggestions", "", "| Suggestion | Title | Code | In force | Cites |", "|---|---|---|---|---|"]
        for s in sorted(pack.suggestions, key=lambda s: s.id):
            cites = ", ".join(f"[{md_text(c.source.name)}](sources.md#{anchor('source', c.source.name)})"
                              for c in by_authority(s.citations)) or "—"
            out.append(f"| {md_code(s.id)} | {cell(s.title)} | "
                       f"[{md_text(s.code)}](codes.md#{anchor('code', s.code)}) | {window_text(s.window, pack)} | "
                       f"{cites} |")
        out.append("")
    if pack.derived:
        out += ["## Derived values", "",
                "Computed once per record from its facts (and history); rules and suggestions read them.", ""]
        for d in pack.derived:
            out += [f"### {md_text(d.name)}", "", f"Type: {md_text(str(d.type))}", ""]
            snippet = source_snippet(pack, d.span)
            if snippet:
                out += [fence(snippet), ""]
    return "\n".join(out).rstrip() + "\n"
