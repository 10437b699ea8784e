"""Generate the Markdown reference of one checked pack for the documentation site.

Takes a ``Pack`` (the checked model, the same one the interpreter runs); gives Markdown
pages: an index, one page per rule id (every version, with what came before and after
it), the code catalog with a year-by-year timeline, the sources with every rule that
cites each (the reverse index), the facts schema, and what changed between years.
Because the pages come from the model, the site cannot drift from the rules that run.

Output is pure and deterministic: sorted, no clock, no absolute paths. Pack text is
untrusted: every string from a pack or its schema goes through :func:`md_text` (HTML
and Markdown escaped), every link through :func:`safe_url` (http and https only), and
rule source sits in a code fence longer than any run of backticks inside it.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import re
import urllib.parse
from pathlib import Path
from typing import Iterable, Mapping

from rulecite.policy_lang.diff import markdown_items
from rulecite.policy_lang.model import Citation, Code, Pack, Rule, Source, Window

# ---------------------------------------------------------------- escaping

# The characters Python-Markdown (with its tables extension) lets a backslash escape.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|])")
_FR_DOC = re.compile(r"^[0-9]{4}-[0-9]{4,6}$")
_URL_SAFE = ":/?#[]@!$&'()*+,;=%-._~"


def md_text(value) -> str:
    """Untrusted text as inline Markdown that renders as exactly that text.

    Whitespace (newlines included) collapses to single spaces, Markdown punctuation is
    backslash-escaped and ``& < >`` become entities, so no pack string can open a tag,
    a link, an attribute list or a table cell.
    """
    s = " ".join(str(value).split())
    s = _MD_SPECIAL.sub(r"\\\1", s)
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def nav_text(value) -> str:
    """Untrusted text as an mkdocs navigation title. mkdocs and its themes put nav titles
    into the page (the menu, the tab, ``<title>``, the search index) without escaping
    them, so they are HTML-escaped here, whitespace collapsed: the title shows as text."""
    return html.escape(" ".join(str(value).split()), quote=True)


def md_code(value) -> str:
    """Untrusted text as inline code."""
    return f"<code>{md_text(value)}</code>"


def safe_url(url) -> str | None:
    """An http(s) URL fit for an ``href`` attribute, or None for anything else
    (``javascript:``, ``data:``, relative or malformed addresses)."""
    if not url:
        return None
    url = str(url).strip()
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return html.escape(urllib.parse.quote(url, safe=_URL_SAFE), quote=True)


def link(url, label) -> str:
    """An external link, or the bare label when the URL is not safe."""
    href = safe_url(url)
    if href is None:
        return md_text(label)
    return f'<a class="rc-source-link" href="{href}">{md_text(label)}</a>'


def fence(text: str, lang: str = "policy") -> str:
    """A fenced code block that nothing in ``text`` can close early."""
    runs = [len(m) for m in re.findall(r"`+", text)] or [0]
    ticks = "`" * max(3, max(runs) + 1)
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def _cell(value) -> str:
    return md_text(value) if value not in (None, "") else "—"


# ---------------------------------------------------------------- dates and windows


def _d(d: _dt.date | None) -> str:
    return d.isoformat() if d else ""


def window_text(w: Window) -> str:
    if w.start and w.end:
        return f"{_d(w.start)} to {_d(w.end)}"
    if w.start:
        return f"from {_d(w.start)}"
    if w.end:
        return f"until {_d(w.end)}"
    return "always"


def _years(pack: Pack) -> list:
    """The calendar years the pack judges, for the code timeline."""
    cov = pack.coverage
    marks = [d for d in (cov.start, cov.end) if d]
    if len(marks) < 2:
        for c in pack.codes:
            marks += [d for d in (c.window.start, c.window.end) if d]
        for r in pack.rules:
            marks += [d for d in (r.window.start, r.window.end) if d]
    if not marks:
        return []
    lo, hi = min(marks).year, max(marks).year
    return list(range(lo, hi + 1))[-6:]


def year_cell(w: Window, year: int) -> str:
    """How a window covers one calendar year: all of it, part of it, or none."""
    first, last = _dt.date(year, 1, 1), _dt.date(year, 12, 31)
    lo = max(w.start or _dt.date.min, first)
    hi = min(w.end or _dt.date.max, last)
    if lo > hi:
        return '<span class="rc-year rc-year-none">—</span>'
    if lo == first and hi == last:
        return '<span class="rc-year rc-year-all">all year</span>'
    if lo == first:
        return f'<span class="rc-year rc-year-part">until {hi.strftime("%b %d")}</span>'
    if hi == last:
        return f'<span class="rc-year rc-year-part">from {lo.strftime("%b %d")}</span>'
    return f'<span class="rc-year rc-year-part">{lo.strftime("%b %d")} to {hi.strftime("%b %d")}</span>'


def _bar(w: Window, years: list) -> str:
    """A small bar showing the window over the years of the timeline."""
    if not years:
        return ""
    first, last = _dt.date(years[0], 1, 1), _dt.date(years[-1], 12, 31)
    span = (last - first).days + 1
    lo = max(w.start or first, first)
    hi = min(w.end or last, last)
    if lo > hi:
        return '<span class="rc-bar" aria-hidden="true"></span>'
    left = round(100 * (lo - first).days / span, 1)
    width = max(1.0, round(100 * ((hi - lo).days + 1) / span, 1))
    return (f'<span class="rc-bar" aria-hidden="true"><span class="rc-bar-fill" '
            f'style="margin-left:{left}%;width:{width}%"></span></span>')


# ---------------------------------------------------------------- paths and names


def rule_page(rule_id: str) -> str:
    """The page of a rule id, relative to the pack's reference folder."""
    return f"rules/{_slug(rule_id)}.md"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)


def _anchor(kind: str, name: str) -> str:
    return f"{kind}-{_slug(name)}"


def _rel_file(pack: Pack, file: str) -> str:
    """A pack file path without the machine's folders: relative to the pack root for the
    pack's own files, the bare file name for files of an extended pack."""
    p = Path(file)
    if pack.root:
        try:
            return p.relative_to(pack.root).as_posix()
        except ValueError:
            pass
    return p.name


def _family(rule_id: str) -> str:
    return rule_id.split(".", 1)[0]


def _severity(sev: str) -> str:
    sev = sev if sev in ("deny", "warn", "info") else "info"
    return f'<span class="rc-badge rc-{sev}">{sev}</span>'


# a two-column table of facts about one thing (its header row is hidden by the site's CSS)
_KV_OPEN = ('<div class="rc-facts" markdown>', "", "| | |", "|---|---|")
_KV_CLOSE = ["", "</div>", ""]

UNVERIFIED = '<span class="rc-unverified">page not verified</span>'

# ---------------------------------------------------------------- citations


def source_href(source: Source) -> str | None:
    """Where a reader can open the source: its ``url``, else (for a Federal Register
    document number) the Federal Register's permanent link."""
    if safe_url(source.url):
        return source.url
    if source.document and _FR_DOC.match(source.document):
        return f"https://www.federalregister.gov/d/{source.document}"
    return None


def _source_label(s: Source) -> str:
    """What a link to the source says: its citation, document number, or the site's name."""
    if s.citation or s.document:
        return s.citation or s.document
    host = urllib.parse.urlsplit(s.url or "").netloc if safe_url(s.url) else ""
    return host.removeprefix("www.") or "source document"


def citation_line(c: Citation, up: str) -> str:
    """One citation: source title, the Federal Register citation linked to the document,
    section, page (or a visible "page not verified"). ``up`` leads back to the pack's
    reference folder from the page being written."""
    s = c.source
    label = _source_label(s)
    href = source_href(s)
    parts = [f"**{md_text(s.title)}**",
             link(href, label) if href else f"{md_text(label)} (no link in the pack)"]
    if c.section:
        parts.append(f"section {md_text(c.section)}")
    parts.append(f"page {md_text(c.page)}" if c.page else UNVERIFIED)
    parts.append(f"[{md_text(s.name)}]({up}sources.md#{_anchor('source', s.name)})")
    return " · ".join(parts)


def _citations(cites: Iterable[Citation], up: str) -> list:
    out = []
    for c in cites:
        out.append(f"1. {citation_line(c, up)}")
        if c.quote:
            out.append(f"\n    > {md_text(c.quote)}\n")
    return out or ["No citation."]


# ---------------------------------------------------------------- the pages


def render_pack_reference(pack: Pack, *, exercised: Mapping | None = None) -> dict:
    """Every page of the pack's reference as ``{relative path: Markdown}``.

    ``exercised`` optionally maps a rule id to the names of the pack tests in which it
    fired (the interpreter knows; the model alone only knows which tests name a rule).
    """
    pages = {
        "index.md": _index_page(pack),
        "codes.md": _codes_page(pack),
        "sources.md": _sources_page(pack),
        "schema.md": _schema_page(pack),
        "changes.md": _changes_page(pack),
    }
    for rule_id in pack.rule_ids:
        pages[rule_page(rule_id)] = _rule_page(pack, rule_id, exercised or {})
    return dict(sorted(pages.items()))


def write_pack_reference(pack: Pack, out_dir: Path, *, exercised: Mapping | None = None) -> list:
    """Write the pack's reference pages under ``out_dir``; return the paths written,
    sorted. Files are rewritten only when their content changed (so a live-reloading
    docs server does not loop)."""
    out_dir = Path(out_dir)
    written = []
    for rel, text in render_pack_reference(pack, exercised=exercised).items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return sorted(written)


def reference_nav(pack: Pack, prefix: str) -> list:
    """The mkdocs ``nav`` entries of a pack's reference, under ``prefix`` (the folder of
    the pages relative to ``docs/``), rules grouped by the first part of their id."""
    rules_by_family: dict = {}
    for rid in pack.rule_ids:
        rules_by_family.setdefault(_family(rid), []).append({nav_text(rid): f"{prefix}/{rule_page(rid)}"})
    return [
        {"Overview": f"{prefix}/index.md"},
        {"Rules": [{nav_text(fam): items} for fam, items in sorted(rules_by_family.items())]},
        {"Code catalog": f"{prefix}/codes.md"},
        {"Sources": f"{prefix}/sources.md"},
        {"What changed": f"{prefix}/changes.md"},
        {"Facts schema": f"{prefix}/schema.md"},
    ]


def _front(title: str) -> list:
    return [f"# {md_text(title)}", ""]


def _generated_note(pack: Pack) -> str:
    return (f"*Generated from pack {md_code(pack.name)} version {md_text(pack.version)} "
            f"(lock {md_code(pack.lock[:12] or 'none')}). Do not edit: change the pack and rebuild.*")


def _index_page(pack: Pack) -> str:
    out = _front(pack.title)
    out += [_generated_note(pack), "",
            *_KV_OPEN,
            f"| Pack | {md_code(pack.name)} |",
            f"| Version | {md_text(pack.version)} |",
            f"| Lock (sha256) | {md_code(pack.lock or 'none')} |",
            f"| Service dates covered | {window_text(pack.coverage)} |",
            f"| Extends | {', '.join(md_code(e) for e in pack.extends) or '—'} |",
            f"| Language version | {md_text(pack.language)} |",
            f"| Unknown codes | {md_text(pack.unknown_codes)} |",
            *_KV_CLOSE,
            f"{len(pack.rule_ids)} rules ({len(pack.rules)} versions), {len(pack.codes)} codes, "
            f"{len(pack.sets)} code sets, {len(pack.sources)} sources, {len(pack.tests)} pack tests. "
            "See the [code catalog](codes.md), the [sources](sources.md), "
            "[what changed](changes.md) and the [facts schema](schema.md).", ""]
    out += ["## Rules", ""]
    by_family: dict = {}
    for rid in pack.rule_ids:
        by_family.setdefault(_family(rid), []).append(rid)
    for fam, ids in sorted(by_family.items()):
        out += [f"### {md_text(fam)}", "", "| Rule | Title | Severity | In force |", "|---|---|---|---|"]
        for rid in ids:
            versions = pack.rule_versions(rid)
            latest = versions[-1]
            force = "; ".join(window_text(v.window) for v in versions)
            out.append(f"| [{md_text(rid)}]({rule_page(rid)}) | {md_text(latest.title)} | "
                       f"{_severity(latest.severity)} | {md_text(force)} |")
        out.append("")
    out += ["### Built-in rules", "",
            "Two rules come with every pack: `catalog.window` denies a line whose service date lies "
            "outside its code's effective window (citing the code's sources and suggesting its "
            "replacement), and `catalog.unknown-code` reports a code the catalog lacks "
            f"(here: {md_text(pack.unknown_codes)}).", ""]
    if pack.suggestions:
        out += ["## Suggestions", "", "| Suggestion | Title | Code | In force |", "|---|---|---|---|"]
        for s in sorted(pack.suggestions, key=lambda s: s.id):
            out.append(f"| {md_code(s.id)} | {_cell(s.title)} | "
                       f"[{md_text(s.code)}](codes.md#{_anchor('code', s.code)}) | {window_text(s.window)} |")
        out.append("")
    if pack.derived:
        out += ["## Derived values", "",
                "Computed once per record from its facts (and history); rules and suggestions read them.", ""]
        for d in pack.derived:
            out += [f"### {md_text(d.name)}", "", f"Type: {md_text(str(d.type))}", ""]
            snippet = _snippet(pack, d.span)
            if snippet:
                out += [fence(snippet), ""]
    return "\n".join(out).rstrip() + "\n"


def _snippet(pack: Pack, span) -> str | None:
    """The source lines of a declaration, when it lives in the pack's own files."""
    rel = _rel_file(pack, span.file)
    for name, text in pack.files:
        if name == rel and span.line >= 1:
            lines = text.replace("\r\n", "\n").split("\n")
            return "\n".join(lines[span.line - 1:span.end_line])
    return None


# ---------------------------------------------------------------- rule pages


def _before(pack: Pack, versions: list, i: int) -> list:
    r = versions[i]
    out = []
    if i > 0:
        out.append(f"[version {versions[i - 1].version}](#version-{versions[i - 1].version}) "
                   f"({window_text(versions[i - 1].window)})")
    if r.supersedes:
        out.append(f"supersedes [{md_text(r.supersedes)}]({_slug(r.supersedes)}.md), which ends the day before")
    return out


def _after(pack: Pack, versions: list, i: int) -> list:
    r = versions[i]
    out = []
    if i + 1 < len(versions):
        out.append(f"[version {versions[i + 1].version}](#version-{versions[i + 1].version}) "
                   f"({window_text(versions[i + 1].window)})")
    if r.superseded_by:
        out.append(f"superseded by [{md_text(r.superseded_by)}]({_slug(r.superseded_by)}.md) "
                   f"after {_d(r.window.end)}")
    if r.retired is not None:
        ret = r.retired
        text = f"retired from {_d(ret.from_date)}"
        if ret.reason:
            text += f": {md_text(ret.reason)}"
        out.append(text)
    return out


def _ending(r: Rule) -> str:
    if r.retired is not None:
        return f"retired from {_d(r.retired.from_date)}"
    if r.superseded_by:
        return f"superseded by {md_text(r.superseded_by)}"
    if r.window.end:
        return f"ends {_d(r.window.end)}"
    return "open-ended"


def _applies(pack: Pack, r: Rule) -> str:
    if r.scope == "record":
        base = "the record as a whole (a denial denies every line)"
    else:
        base = f"each {md_code(pack.shape.lines)} line"
    if r.codes:
        codes = ", ".join(f"[{md_text(c)}](../codes.md#{_anchor('code', c)})" for c in r.codes)
        return f"{base} with code {codes}"
    return base + (" that matches its `where` clause" if r.where is not None else "")


def _rule_page(pack: Pack, rule_id: str, exercised: Mapping) -> str:
    versions = pack.rule_versions(rule_id)
    latest = versions[-1]
    out = _front(rule_id)
    # a raw HTML block: Markdown does not run inside it, so escape for HTML only
    out += [f'<p class="rc-lead">{html.escape(" ".join(latest.title.split()))}</p>', ""]
    if latest.summary:
        out += [md_text(latest.summary), ""]
    out += [*_KV_OPEN,
            f"| Severity | {_severity(latest.severity)} |",
            "| In force | " + "; ".join(f"{window_text(v.window)}"
                                       + (f" (version {v.version})" if len(versions) > 1 else "")
                                       for v in versions) + " |",
            f"| Applies to | {_applies(pack, latest)} |"]
    if latest.tags:
        out.append(f"| Tags | {', '.join(md_code(t) for t in latest.tags)} |")
    owner = latest.pack
    out.append(f"| Pack | {md_code(owner)}" + ("" if owner == pack.name else f" (inherited by {md_code(pack.name)})")
               + " |")
    out += _KV_CLOSE
    if len(versions) > 1:
        out += ["## Versions", "", "| Version | In force | Title | Ends |", "|---|---|---|---|"]
        for v in versions:
            out.append(f"| [{v.version}](#version-{v.version}) | {window_text(v.window)} | {md_text(v.title)} | "
                       f"{_ending(v)} |")
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
        out += [f"{'#' * level} Version {r.version}: {window_text(r.window)} {{#version-{r.version}}}", ""]
        out += [f"**{md_text(r.title)}**", ""]
        if r.summary and i != len(versions) - 1:
            out += [md_text(r.summary), ""]
    else:
        out += [f'<a id="version-{r.version}"></a>', ""]
    facts = [f"- **Verdict**: {_severity(r.severity)} {'when' if r.mode == 'when' else 'unless'} its condition holds",
             f"- **Effective window**: {window_text(r.window)}"]
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
    out += [f"{h} Rule source", "", f"{md_code(_rel_file(pack, r.file))}, line {r.span.line}"
            + ("" if r.pack == pack.name else f" of pack {md_code(r.pack)}"), "",
            fence(r.source_text), ""]
    out += [f"{h} Citations", ""] + _citations(r.citations, "../") + [""]
    if r.retired is not None and r.retired.citations:
        out += [f"Retirement cites:", ""] + _citations(r.retired.citations, "../") + [""]
    for d in r.disputes:
        per = ""
        if d.source is not None:
            per = f" Per [{md_text(d.source.name)}](../sources.md#{_anchor('source', d.source.name)})"
            href = source_href(d.source)
            if href:
                per += f" ({link(href, d.source.title)})"
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
    for t in sorted(pack.tests, key=lambda t: (_rel_file(pack, t.file), t.span.line, t.name)):
        expects = [e for e in (_expectation_text(x, rule_id) for x in t.expectations) if e]
        if not expects and t.name not in fired:
            continue
        row = (f"| {md_text(t.name)} | {md_code(_rel_file(pack, t.file))}:{t.span.line} | "
               f"{md_text(', '.join(expects)) if expects else '—'} |")
        rows.append(row + (f" {'yes' if t.name in fired else 'no'} |" if exercised else ""))
    out = ["## Pack tests that exercise this rule", ""]
    if not rows:
        return out + ['!!! note "No pack test names this rule"', "",
                      "    `rulecite test --coverage` lists the rules that lack a deny or an allow case.", ""]
    head = ["| Test | Where | Expects | Rule fired |", "|---|---|---|---|"] if exercised else \
        ["| Test | Where | Expects |", "|---|---|---|"]
    return out + head + rows + [""]


# ---------------------------------------------------------------- codes


def _codes_page(pack: Pack) -> str:
    years = _years(pack)
    out = _front("Code catalog")
    out += [_generated_note(pack), "",
            "Every code the pack knows, with the service dates it is valid for. A line billed outside its "
            "code's window is denied by `catalog.window`, which suggests the replacement.", ""]
    if years:
        out += ["## Timeline", "",
                "| Code | Description | " + " | ".join(str(y) for y in years) + " | Window | Replaced by |",
                "|---|---|" + "---|" * len(years) + "---|---|"]
        for c in sorted(pack.codes, key=lambda c: c.name):
            out.append(f"| [{md_text(c.name)}](#{_anchor('code', c.name)}) | {md_text(c.description)} | "
                       + " | ".join(year_cell(c.window, y) for y in years)
                       + f" | {_bar(c.window, years)} | {_replacements(c) or '—'} |")
        out.append("")
    if pack.sets:
        out += ["## Code sets", "", "| Set | Codes |", "|---|---|"]
        for s in sorted(pack.sets, key=lambda s: s.name):
            members = ", ".join(f"[{md_text(m)}](#{_anchor('code', m)})" for m in s.members)
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


def _replacements(c: Code) -> str:
    return ", ".join(f"[{md_text(x)}](#{_anchor('code', x)})" for x in c.replaced_by)


def _code_section(pack: Pack, c: Code, rule_ids: list) -> list:
    out = [f"### {md_text(c.name)}: {md_text(c.description)} {{#{_anchor('code', c.name)}}}", "",
           *_KV_OPEN,
           f"| Program | {_cell(c.program)} |",
           f"| Effective | {_d(c.window.start) or 'since always'} |",
           f"| Until | {_d(c.window.end) or 'open-ended'} |",
           f"| Replaced by | {_replacements(c) or '—'} |"]
    if c.note:
        out.append(f"| Note | {md_text(c.note)} |")
    if c.pack != pack.name:
        out.append(f"| Declared in | {md_code(c.pack)} |")
    out += _KV_CLOSE
    if c.citations:
        out += ["Cites:", ""] + _citations(c.citations, "") + [""]
    if rule_ids:
        out += ["Rules that apply to it: " + ", ".join(f"[{md_text(r)}]({rule_page(r)})" for r in rule_ids), ""]
    return out


# ---------------------------------------------------------------- sources


def _sources_page(pack: Pack) -> str:
    out = _front("Sources")
    out += [_generated_note(pack), "",
            "Every source the pack cites, and every rule, code and retirement that cites it.", "",
            "| Source | Kind | Citation | Published | Effective | Cited by |", "|---|---|---|---|---|---|"]
    cited = _cited_by(pack)
    ordered = sorted(pack.sources, key=lambda s: (s.published or _dt.date.min, s.name))
    for s in ordered:
        n = len({rid for rid, *_ in cited[s.name]["rules"]})
        out.append(f"| [{md_text(s.name)}](#{_anchor('source', s.name)}) | {_cell(s.kind)} | "
                   f"{_cell(s.citation)} | {_d(s.published) or '—'} | {_d(s.effective) or '—'} | "
                   f"{n} rule{'s' if n != 1 else ''} |")
    out.append("")
    for s in ordered:
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
    href = source_href(s)
    out = [f"## {md_text(s.name)} {{#{_anchor('source', s.name)}}}", "", f"**{md_text(s.title)}**", "",
           *_KV_OPEN]
    label = _source_label(s)
    out.append(f"| Citation | {link(href, label) if href else md_text(label) + ' (no link in the pack)'} |")
    if s.document:
        out.append(f"| Document | {md_text(s.document)} |")
    out += [f"| Kind | {_cell(s.kind)} |",
            f"| Published | {_d(s.published) or '—'} |",
            f"| Effective | {_d(s.effective) or '—'} |"]
    if s.url:
        out.append(f"| Address | {link(s.url, s.url)} |")
    if s.note:
        out.append(f"| Note | {md_text(s.note)} |")
    if s.pack != pack.name:
        out.append(f"| Declared in | {md_code(s.pack)} |")
    out += _KV_CLOSE
    rules = sorted(cited["rules"], key=lambda x: (x[0], x[1]))
    if rules:
        out += ["### Rules citing it", "", "| Rule | Version | In force | Section | Page |", "|---|---|---|---|---|"]
        for rid, ver, r, c in rules:
            out.append(f"| [{md_text(rid)}]({rule_page(rid)}) | {ver} | {window_text(r.window)} | "
                       f"{_cell(c.section)} | {md_text(c.page) if c.page else UNVERIFIED} |")
        out.append("")
    else:
        out += ["No rule cites it.", ""]
    if cited["codes"]:
        out += ["Codes citing it: " + ", ".join(
            f"[{md_text(name)}](codes.md#{_anchor('code', name)})" for name, _ in sorted(cited["codes"],
                                                                                        key=lambda x: x[0])), ""]
    if cited["retirements"]:
        out += ["Retirements citing it: " + ", ".join(
            f"[{md_text(rid)}]({rule_page(rid)}) from {_d(ret.from_date)}"
            for rid, ret, _ in sorted(cited["retirements"], key=lambda x: x[0])), ""]
    if cited["disputes"]:
        out += ["Disputes resting on it: " + ", ".join(
            f"[{md_text(rid)}]({rule_page(rid)})" for rid, _, _ in sorted(cited["disputes"], key=lambda x: x[:2])),
            ""]
    return out


# ---------------------------------------------------------------- facts schema


def schema_fields(schema: dict) -> list:
    """Every field of a record schema, depth first, as ``(path, node, required)``;
    the fields of list items get ``[]`` in their path."""
    out: list = []

    def walk(node, path):
        props = node.get("properties")
        if not isinstance(props, dict):
            return
        req = set(node.get("required") or ())
        for name in sorted(props, key=str):
            child = props[name]
            if not isinstance(child, dict):
                continue
            sub = f"{path}.{name}" if path else str(name)
            out.append((sub, child, name in req))
            walk(child, sub)
            items = child.get("items")
            if isinstance(items, dict):
                walk(items, sub + "[]")

    if isinstance(schema, dict):
        walk(schema, "")
    return out


def _type_text(node: dict) -> str:
    t = node.get("type", "any")
    if isinstance(t, list):
        t = " or ".join(str(x) for x in t)
    t = str(t)
    if t == "array":
        items = node.get("items") if isinstance(node.get("items"), dict) else {}
        inner = items.get("type", "any")
        t = "list of " + ("records" if inner == "object" else str(inner))
        if items.get("enum"):
            t += " (" + ", ".join(str(v) for v in items["enum"]) + ")"
    elif t == "object":
        t = "record"
    if node.get("format"):
        t += f" ({node['format']})"
    parts = [md_text(t)]
    if node.get("enum"):
        parts.append("one of " + ", ".join(md_code(v) for v in node["enum"]))
    for key, word in (("minimum", "≥"), ("maximum", "≤")):
        if key in node:
            parts.append(f"{word} {md_text(node[key])}")
    if "default" in node:
        parts.append(f"default {md_code(json.dumps(node['default']))}")
    return "; ".join(parts)


def _schema_page(pack: Pack) -> str:
    schema = pack.schema if isinstance(pack.schema, dict) else {}
    out = _front("Facts schema")
    out += [_generated_note(pack), ""]
    if schema.get("title"):
        out += [f"**{md_text(schema['title'])}**", ""]
    if schema.get("description"):
        out += [md_text(schema["description"]), ""]
    out += ["One JSON object per record (JSON Lines for files), validated against the pack's "
            "`facts.schema.json` (JSON Schema 2020-12) before any rule runs: a record that fails is "
            "rejected with its JSON path, never judged. `[]` marks the items of a list.", "",
            "| Field | Type | Required | Description |", "|---|---|---|---|"]
    for path, node, required in schema_fields(schema):
        out.append(f"| {md_code(path)} | {_type_text(node)} | {'yes' if required else 'no'} | "
                   f"{_cell(node.get('description'))} |")
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------- what changed


def change_dates(pack: Pack) -> tuple:
    """The two service dates the what-changed page compares: the last day of the year
    before the pack's last year and the first day of that year (for a 2025-2026 pack,
    2025-12-31 and 2026-01-01)."""
    years = _years(pack)
    if len(years) < 2:
        return None
    return _dt.date(years[-2], 12, 31), _dt.date(years[-1], 1, 1)


_DIFF_TITLES = {"rules": "Rules", "codes": "Codes", "sets": "Code sets", "derived": "Derived values",
                "sources": "Sources"}


def _diff_link(pack: Pack, section: str, name: str) -> str:
    if section == "rules" and name in pack.rule_ids:
        return f"[{md_text(name)}]({rule_page(name)})"
    if section == "codes" and pack.code(name) is not None:
        return f"[{md_text(name)}](codes.md#{_anchor('code', name)})"
    if section == "sources" and pack.source(name) is not None:
        return f"[{md_text(name)}](sources.md#{_anchor('source', name)})"
    return md_code(name)


def render_diff(pack: Pack, d) -> list:
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
        out += markdown_items(items, md_text, lambda name, section=section: _diff_link(pack, section, name))
        out.append("")
    return out


def _comparison(pack: Pack, a: _dt.date, b: _dt.date) -> list:
    from rulecite.policy_lang.diff import diff_dates

    out = [f"## Service dates {_d(a)} versus {_d(b)}", "",
           f"Which rules, codes and sources a claim meets on {_d(a)} and on {_d(b)} (rules are picked by "
           f"date of service): the output of "
           f"{md_code(f'rulecite diff {pack.name} --date-a {_d(a)} --date-b {_d(b)}')}.", ""]
    return out + render_diff(pack, diff_dates(pack, a, b))


def dated_changes(pack: Pack) -> list:
    """Every dated event of the pack, sorted: ``(date, kind, name, Markdown text)``."""
    events = []
    for r in pack.rules:
        page = f"[{md_text(r.id)}]({rule_page(r.id)})"
        if r.window.start:
            events.append((r.window.start, "rule", r.id, f"{page} version {r.version} takes effect"))
        if r.window.end:
            events.append((r.window.end + _dt.timedelta(days=1), "rule", r.id,
                           f"{page} version {r.version} ends ({_ending(r)})"))
    for c in pack.codes:
        page = f"[{md_text(c.name)}](codes.md#{_anchor('code', c.name)})"
        if c.window.start:
            events.append((c.window.start, "code", c.name, f"{page} becomes valid"))
        if c.window.end:
            repl = f"; replaced by {_replacements(c).replace('(#', '(codes.md#')}" if c.replaced_by else ""
            events.append((c.window.end + _dt.timedelta(days=1), "code", c.name, f"{page} ends{repl}"))
    return sorted(events, key=lambda e: (e[0], e[1], e[2], e[3]))


def _changes_page(pack: Pack) -> str:
    out = _front("What changed")
    out += [_generated_note(pack), ""]
    dates = change_dates(pack)
    if dates:
        out += _comparison(pack, *dates)
    events = dated_changes(pack)
    out += ["## Every dated change", "",
            "Each date on which a rule or a code starts or stops applying (the first service date of the change).",
            ""]
    if events:
        out += ["| Service date | What |", "|---|---|"]
        out += [f"| {_d(d)} | {text} |" for d, _, _, text in events]
    else:
        out.append("The pack has no dated changes.")
    return "\n".join(out).rstrip() + "\n"


__all__ = ["change_dates", "dated_changes", "fence", "md_text", "reference_nav", "render_diff",
           "render_pack_reference", "rule_page", "safe_url", "schema_fields", "source_href", "write_pack_reference"]
