"""A decision ``Impact`` (``rulecite diff --facts``, ``tools.impact``) as text for a terminal
and as Markdown for a release note, every string from the packs and records escaped
through ``markup``."""

from __future__ import annotations

from rulecite.interpreter.reports.markup import md_text
from rulecite.interpreter.tools.impact import Impact


def _what(imp: Impact) -> str:
    if imp.date_a is not None:
        return f"each subject's latest record moved to {imp.date_a.isoformat()} and to {imp.date_b.isoformat()}"
    return "every record under the old and the new pack"


def render_text(imp: Impact) -> str:
    out = ["", f"Decision impact ({_what(imp)}):",
           f"  {imp.records:,} records read, {imp.compared:,} compared, {imp.lines:,} claim lines; "
           f"{imp.changed:,} changed ({imp.allow_to_deny:,} allow -> deny, {imp.deny_to_allow:,} deny -> allow)"]
    for r in imp.by_rule:
        codes = ", ".join(f"{c} x{n}" for c, n in r.codes)
        out.append(f"  {r.rule} {r.direction}: {r.count:,} line(s)  [{codes}]")
        for e in r.examples:
            out.append(f"      e.g. {e.id} {e.period} line {e.line} {e.code}: {e.before} -> {e.after}")
    if not imp.by_rule:
        out.append("  no verdict changed")
    return "\n".join(out) + "\n"


def render_markdown(imp: Impact) -> str:
    e = md_text

    out = ["## Decision impact", "", f"{e(_what(imp)).capitalize()}: {imp.records:,} records read, "
           f"{imp.compared:,} compared, {imp.lines:,} claim lines, **{imp.changed:,} changed** "
           f"({imp.allow_to_deny:,} allow → deny, {imp.deny_to_allow:,} deny → allow).", ""]
    if not imp.by_rule:
        out += ["No verdict changed.", ""]
        return "\n".join(out)
    out += ["| Rule | Change | Lines | Codes | Example |", "|---|---|---:|---|---|"]
    for r in imp.by_rule:
        codes = ", ".join(f"{e(c)} ×{n}" for c, n in r.codes)
        ex = r.examples[0] if r.examples else None
        example = f"{e(ex.id)} {e(ex.period)} line {e(ex.line)}: {e(ex.before)} → {e(ex.after)}" if ex else ""
        out.append(f"| `{r.rule}` | {e(r.direction)} | {r.count:,} | {codes} | {example} |")
    out.append("")
    return "\n".join(out)
