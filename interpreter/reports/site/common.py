"""Shared pieces of every page of a pack's reference: dates and windows, anchors and page names, the facts table, source links and citation lines (through ``reports.citations`` and ``reports.markup``).
"""

from __future__ import annotations

import datetime as _dt
import re
import urllib.parse
from pathlib import Path
from typing import Iterable

from rulecite.interpreter.reports.citations import UNVERIFIED as UNVERIFIED_TEXT
from rulecite.interpreter.reports.markup import fence as md_fence
from rulecite.interpreter.reports.markup import md_code, md_link, md_text, safe_url
from rulecite.policy_lang.model import Citation, Pack, Source, Window


def fence(text: str, lang: str = "policy") -> str:
    """A fenced code block of pack text (``markup.fence``, with the policy lexer)."""
    return md_fence(text, lang)


def cell(value) -> str:
    return md_text(value) if value not in (None, "") else "—"


def date_text(d: _dt.date | None) -> str:
    return d.isoformat() if d else ""


def window_text(w: Window, pack: Pack | None = None) -> str:
    """A window as dates. With ``pack``, the window as the pack applies it: clipped to the
    service dates the pack covers, so a rule without its own dates reads "2025-01-01 to
    2026-12-31", never "always", inside a dated pack."""
    if pack is not None and pack.coverage is not None:
        cov = pack.coverage
        start = max((d for d in (w.start, cov.start) if d), default=None)
        end = min((d for d in (w.end, cov.end) if d), default=None)
        w = Window(start, end)
    if w.start and w.end:
        return f"{date_text(w.start)} to {date_text(w.end)}"
    if w.start:
        return f"from {date_text(w.start)}"
    if w.end:
        return f"until {date_text(w.end)}"
    return "always"


def pack_years(pack: Pack) -> list:
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


def bar(w: Window, years: list) -> str:
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


def rule_page(rule_id: str) -> str:
    """The page of a rule id, relative to the pack's reference folder."""
    return f"rules/{slug(rule_id)}.md"


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)


def anchor(kind: str, name: str) -> str:
    return f"{kind}-{slug(name)}"


def rel_file(pack: Pack, file: str) -> str:
    """A pack file path without the machine's folders: relative to the pack root for the
    pack's own files, the bare file name for files of an extended pack."""
    p = Path(file)
    if pack.root:
        try:
            return p.relative_to(pack.root).as_posix()
        except ValueError:
            pass
    return p.name


def family(rule_id: str) -> str:
    return rule_id.split(".", 1)[0]


def severity_badge(sev: str) -> str:
    sev = sev if sev in ("deny", "warn", "info") else "info"
    return f'<span class="rc-badge rc-{sev}">{sev}</span>'


# a two-column table of facts about one thing (its header row is hidden by the site's CSS)
KV_OPEN = ('<div class="rc-facts" markdown>', "", "| | |", "|---|---|")


KV_CLOSE = ["", "</div>", ""]


UNVERIFIED = f'<span class="rc-unverified">{UNVERIFIED_TEXT}</span>'


def source_href(source: Source, pack: Pack | None = None) -> str | None:
    """Where a reader can open the source: its ``url``, else (for a source with a
    ``document`` number, when the pack's ``[docs] document_url`` says how such documents
    are linked) that link."""
    if safe_url(source.url):
        return source.url
    template = pack.document_url if pack is not None else None
    if source.document and template and _DOCUMENT.match(source.document):
        return template.replace("{document}", source.document)
    return None


# what a document number may hold to be put into a link template
_DOCUMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def source_label(s: Source) -> str:
    """What a link to the source says: its citation, document number, or the site's name."""
    if s.citation or s.document:
        return s.citation or s.document
    host = urllib.parse.urlsplit(s.url or "").netloc if safe_url(s.url) else ""
    return host.removeprefix("www.") or "source document"


def citation_line(c: Citation, up: str, pack: Pack | None = None) -> str:
    """One citation: source title, the Federal Register citation linked to the document,
    section, page (or a visible "page unverified"). ``up`` leads back to the pack's
    reference folder from the page being written."""
    s = c.source
    label = source_label(s)
    href = source_href(s, pack)
    parts = [f"**{md_text(s.title)}**",
             md_link(href, label) if href else f"{md_text(label)} (no link in the pack)"]
    if c.section:
        parts.append(f"section {md_text(c.section)}")
    parts.append(f"page {md_text(c.page)}" if c.page else UNVERIFIED)
    parts.append(f"[{md_text(s.name)}]({up}sources.md#{anchor('source', s.name)})")
    return " · ".join(parts)


def citation_list(cites: Iterable[Citation], up: str, pack: Pack | None = None) -> list:
    out = []
    for c in cites:
        out.append(f"1. {citation_line(c, up, pack)}")
        if c.quote:
            out.append(f"\n    > {md_text(c.quote)}\n")
    return out or ["No citation."]


def front(title: str) -> list:
    return [f"# {md_text(title)}", ""]


def generated_note(pack: Pack) -> str:
    return (f"*Generated from pack {md_code(pack.name)} version {md_text(pack.version)} "
            f"(lock {md_code(pack.lock[:12] or 'none')}). Do not edit: change the pack and rebuild.*")
