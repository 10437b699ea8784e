"""One page per rule id: every version, what came before and after it, its citations, its text and the pack tests that exercise it.
"""

from __future__ import annotations

from typing import Mapping

from rulecite.interpreter.reports.markup import html_text, md_code, md_link, md_text
from rulecite.interpreter.reports.site.common import (
    KV_CLOSE,
    KV_OPEN,
    anchor,
    citation_list,
    date_text,
    fence,
    front,
    rel_file,
    severity_badge,
    slug,
    source_href,
    window_text,
)
from rulecite.policy_lang.model import Pack, Rule


def source_snippet(pack: Pack, span) -> str | None:
    """The source lines of a declaration, when it lives in the pack's own files."""
    rel = rel_file(pack, span.file)
    for name, text in pack.files:
        if name == rel and span.line >= 1:
            lines = text.replace("\r\n", "\n").split("\n")
            return "\n".join(lines[span.line - 1:span.end_line])
    return None


def _before(pack: Pack, versions: list, i: int) -> list:
    r = versions[i]
    out = []
    if i > 0:
        out.append(f"[version {versions[i - 1].version}](#version-{versions[i - 1].version}) "
                   f"({window_text(versions[i - 1].window, pack)})")
    if r.supersedes:
        out.append(f"supersedes [{md_text(r.supersedes)}]({slug(r.supersedes)}.md), which ends the day before")
    return out


def _after(pack: Pack, versions: list, i: int) -> list:
    r = versions[i]
    out = []
    if i + 1 < len(versions):
        out.append(f"[version {versions[i + 1].version}](#version-{versions[i + 1].version}) "
                   f"({window_text(versions[i + 1].window, pack)})")
    if r.superseded_by:
        out.append(f"superseded by [{md_text(r.superseded_by)}]({slug(r.superseded_by)}.md) "
                   f"after {date_text(r.window.end)}")
    if r.retired is not None:
        ret = r.retired
        text = f"retired from {date_text(ret.from_date)}"
        if ret.reason:
            text += f": {md_text(ret.reason)}"
        out.append(text)
    return out


def ending(r: Rule) -> str:
    if r.retired is not None:
        return f"retired from {date_text(r.retired.from_date)}"
    if r.superseded_by:
        return f"superseded by {md_text(r.superseded_by)}"
    if r.window.end:
        return f"ends {date_text(r.window.end)}"
    return "open-ended"


def _applies(pack: Pack, r: Rule) -> str:
    if r.scope == "record":
        base = "the record as a whole (a denial denies every line)"
    else:
        base = f"each {md_code(pack.shape.lines)} line"
    if r.codes:
        codes = ", ".join(f"[{md_text(c)}](../codes.md#{anchor('code', c)})" for c in r.codes)
        return f"{base} with code {codes}"
    return base + (" that matches its `where` clause" if r.where is not None else "")


def render_rule_page(pack: Pack, rule_id: str, exercised: Mapping) -> str:
    versions = pack.rule_versions(rule_id)
    latest = versions[-1]
    out = front(rule_id)
    # a raw HTML block: Markdown does not run inside it, so escape for HTML only
    out += [f'<p class="rc-lead">{html_text(" ".join(latest.title.split()))}</p>', ""]
    if latest.summary:
        out += [md_text(latest.summary), ""]
    out += [*KV_OPEN,
            f"| Severity | {severity_badge(latest.severity)} |",
            "| In force | " + "; ".join(f"{window_text(v.window, pack)}"
                                       + (f" (version {v.version})" if len(versions) > 1 else "")
                                       for v in versions) + " |",
            f"| Applies to | {_applies(pack, latest)} |"]
    if latest.tags:
        out.append(f"| Tags | {', '.join(md_code(t) for t in latest.tags)} |")
    owner = latest.pack
    out.append(f"| Pack | {md_code(owner)}" + ("" if owner == pack.name else f" (inherited by {md_code(pack.name)})")
               + " |")
    out += KV_CLOSE
    if len(versions) > 1:
        out += ["## Versions", "", "| Version | In force | Title | Ends |", "|---|---|---|---|"]
        for v in versions:
            out.append(f"| [{v.version}](#version-{v.version}) | {window_text(v.window, pack)} | {md_text(v.title)} | "
                       f"{ending(v)} |")
        out.append("")
    for i, v in enumerate(versions):
        out += _version_section(pack, versions, i, level=2 if len(versions) > 1 else 0)
    out += _tests_section(pack, rule_id, exercised)
    return "\n".join(out).rstrip() + "\n"


def _version_section(pack: Pack, versions: list, i: int, level: int) -> list:
    r = versions[i]
    h = "#" * (level + 1) if level else "##"
    out = []
    if level:
        out += [f"{'#' * level} Version {r.version}: {window_text(r.window, pack)} {{#version-{r.version}}}", ""]
        out += [f"**{md_text(r.title)}**", ""]
        if r.summary and i != len(versions) - 1:
            out += [md_text(r.summary), ""]
    else:
        out += [f'<a id="version-{r.version}"></a>', ""]
    facts = [f"- **Verdict**: {severity_badge(r.severity)} {'when' if r.mode == 'when' else 'unless'} its condition holds",
             f"- **Effective window**: {window_text(r.window, pack)}"]
    if r.declared_window != r.window:
        facts.append(f"- **Declared window**: {window_text(r.declared_window)} (shortened by what comes after)")
    before, after = _before(pack, versions, i), _after(pack, versions, i)
    facts.append(f"- **Before**: {'; '.join(before) if before else 'nothing: this is the first version'}")
    facts.append(f"- **After**: {'; '.join(after) if after else 'nothing yet: in force until changed'}")
    if r.message is not None:
        facts.append(f"- **Message**: {md_code(r.message.text)}")
    if r.suggest is not None:
        facts.append(f"- **Suggestion**: {md_text(r.suggest.text)}")
    out += facts + [""]
    out += [f"{h} Rule source", "", f"{md_code(rel_file(pack, r.file))}, line {r.span.line}"
            + ("" if r.pack == pack.name else f" of pack {md_code(r.pack)}"), "",
            fence(r.source_text), ""]
    out += [f"{h} Citations", ""] + citation_list(r.citations, "../", pack) + [""]
    if r.retired is not None and r.retired.citations:
        out += ["Retirement cites:", ""] + citation_list(r.retired.citations, "../", pack) + [""]
    for d in r.disputes:
        per = ""
        if d.source is not None:
            per = f" Per [{md_text(d.source.name)}](../sources.md#{anchor('source', d.source.name)})"
            href = source_href(d.source, pack)
            if href:
                per += f" ({md_link(href, d.source.title)})"
            per += "."
        text = md_text(d.text)
        text += "" if text.endswith(("\\.", "?", "\\!")) else "."
        out += ['!!! warning "Disputed fact"', "", f"    {text}{per}", ""]
    return out


def _expectation_text(x, rule_id: str) -> str | None:
    if rule_id not in x.rules:
        return None
    if x.kind in ("deny", "warn"):
        return f"line {x.line} {x.kind}"
    if x.kind == "finding":
        return "a finding"
    if x.kind == "no_finding":
        return "no finding"
    return x.kind


def _tests_section(pack: Pack, rule_id: str, exercised: Mapping) -> list:
    fired = set(exercised.get(rule_id, ()))
    rows = []
    for t in sorted(pack.tests, key=lambda t: (rel_file(pack, t.file), t.span.line, t.name)):
        expects = [e for e in (_expectation_text(x, rule_id) for x in t.expectations) if e]
        if not expects and t.name not in fired:
            continue
        row = (f"| {md_text(t.name)} | {md_code(rel_file(pack, t.file))}:{t.span.line} | "
               f"{md_text(', '.join(expects)) if expects else '—'} |")
        rows.append(row + (f" {'yes' if t.name in fired else 'no'} |" if exercised else ""))
    out = ["## Pack tests that exercise this rule", ""]
    if not rows:
        return out + ['!!! note "No pack test names this rule"', "",
                      "    `rulecite test --coverage` lists the rules that lack a deny or an allow case.", ""]
    head = ["| Test | Where | Expects | Rule fired |", "|---|---|---|---|"] if exercised else \
        ["| Test | Where | Expects |", "|---|---|---|"]
    return out + head + rows + [""]
