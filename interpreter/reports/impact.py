"""A decision ``Impact`` (``rulecite diff --facts``, ``tools.impact``) as text for a terminal
and as Markdown for a release note, every string from the packs and records escaped
through ``markup`` and every citation written by the one formatter (``citations``)."""

from __future__ import annotations

from rulecite.interpreter.reports.citations import citation_markdown, citation_text
from rulecite.interpreter.reports.markup import md_code, md_text, plain_text
from rulecite.interpreter.tools.impact import Impact

CARRIED = "carried forward from OLD's last covered date"


def _what(imp: Impact) -> str:
    if imp.date_a is not None:
        return f"each subject's latest record moved to {imp.date_a.isoformat()} and to {imp.date_b.isoformat()}"
    return "every record under the old and the new pack"


def _apart(imp: Impact) -> list:
    """What was judged with OLD carried forward, and what was not compared: sentences."""
    out = []
    if imp.carried_from is not None:
        out.append(f"OLD covers service dates until {imp.carried_from.isoformat()}: {imp.carried_lines:,} line(s) "
                   f"dated after it were judged by OLD's rules and values {CARRIED} "
                   f"({imp.carried_from.isoformat()}), marked [carried forward]")
    if imp.outside_both:
        out.append(f"{imp.outside_both:,} record(s) outside both packs' coverage: not compared")
    if imp.only_new_covers:
        out.append(f"{imp.only_new_covers:,} line(s) only NEW covers: not counted as changes")
    if imp.only_old_covers:
        out.append(f"{imp.only_old_covers:,} line(s) only OLD covers: not counted as changes")
    return out


def _example(e, arrow: str) -> str:
    mark = " [carried forward]" if e.carried else ""
    t = plain_text  # ids, periods, codes and reasons come from the records
    return f"{t(e.id)} {t(e.period)} line {t(e.line)} {t(e.code)}: {t(e.before)} {arrow} {t(e.after)}{mark}"


def _value(text) -> str:
    return "(absent)" if text is None else plain_text(text)


def _on(v) -> str:
    return f" on {plain_text(v.day)}" if v.day else ""


def _values_markdown(r) -> str:
    """Each dated parameter value the rule reads that differs between the sides, with the
    citations of both values, for the Cites cell."""
    e = md_text
    out = []
    for v in r.values:
        text = (f"reads {md_code(v.name)}: {e(v.before) if v.before is not None else '*absent*'} → "
                f"{e(v.after) if v.after is not None else '*absent*'}" + (f" on {e(v.day)}" if v.day else ""))
        bits = [f"old value: {'; '.join(citation_markdown(c) for c in v.cites_before)}" if v.cites_before else "",
                f"new value: {'; '.join(citation_markdown(c) for c in v.cites_after)}" if v.cites_after else ""]
        bits = [b for b in bits if b]
        out.append(text + (f" ({'; '.join(bits)})" if bits else ""))
    return "<br>".join(out)


def render_text(imp: Impact) -> str:
    out = ["", f"Decision impact ({_what(imp)}):",
           f"  {imp.records:,} records read, {imp.compared:,} compared, {imp.lines:,} claim lines; "
           f"{imp.changed:,} changed ({imp.allow_to_deny:,} allow -> deny, {imp.deny_to_allow:,} deny -> allow)"]
    out += [f"  {line}" for line in _apart(imp)]
    for r in imp.by_rule:
        codes = ", ".join(f"{plain_text(c)} x{n}" for c, n in r.codes)
        out.append(f"  {r.rule} {r.direction}: {r.count:,} line(s)  [{codes}]")
        for c in r.citations:
            out.append(f"      cites {plain_text(citation_text(c))}")
        for v in r.values:
            out.append(f"      reads {plain_text(v.name)}: {_value(v.before)} -> {_value(v.after)}{_on(v)}")
            out += [f"        old value cites {plain_text(citation_text(c))}" for c in v.cites_before]
            out += [f"        new value cites {plain_text(citation_text(c))}" for c in v.cites_after]
        for e in r.examples:
            out.append(f"      e.g. {_example(e, '->')}")
    if not imp.by_rule:
        out.append("  no verdict changed")
    return "\n".join(out) + "\n"


def render_markdown(imp: Impact) -> str:
    e = md_text

    out = ["## Decision impact", "", f"{e(_what(imp)).capitalize()}: {imp.records:,} records read, "
           f"{imp.compared:,} compared, {imp.lines:,} claim lines, **{imp.changed:,} changed** "
           f"({imp.allow_to_deny:,} allow → deny, {imp.deny_to_allow:,} deny → allow).", ""]
    apart = _apart(imp)
    if apart:
        out += [f"- {e(line)}" for line in apart] + [""]
    if not imp.by_rule:
        out += ["No verdict changed.", ""]
        return "\n".join(out)
    out += ["| Rule | Change | Lines | Codes | Cites | Example |", "|---|---|---:|---|---|---|"]
    for r in imp.by_rule:
        codes = ", ".join(f"{e(c)} ×{n}" for c, n in r.codes)
        cites = "; ".join(citation_markdown(c) for c in r.citations)
        values = _values_markdown(r)
        if values:
            cites = f"{cites}<br>{values}" if cites else values
        ex = r.examples[0] if r.examples else None
        example = e(_example(ex, "→")) if ex else ""
        out.append(f"| `{r.rule}` | {e(r.direction)} | {r.count:,} | {codes} | {cites} | {example} |")
    out.append("")
    return "\n".join(out)
