"""The one citation formatter: a citation as plain text, Markdown or HTML, with one
wording everywhere ("page unverified" when no page was read).

Takes a citation as the results contract writes it (``Citation.to_dict()``: ``source``,
``title``, ``citation``, ``section``, ``page`` (a page or ``"unverified"``), ``quote``,
``url``); every field is untrusted text and is escaped for the target format through
``markup``. The CLI, the evidence packet, the decision-log report and the documentation
site all render citations here, so a reader sees the same words in each.
"""

from __future__ import annotations

from .markup import html_link, html_text, md_text, safe_url

UNVERIFIED = "page unverified"


def _page(c: dict) -> str | None:
    page = c.get("page")
    return None if page in (None, "", "unverified") else str(page)


def citation_text(c: dict) -> str:
    """``90 FR 49266, section "...", page 49411`` or ``..., page unverified``."""
    text = str(c.get("citation") or c.get("title") or c.get("source") or "?")
    if c.get("section"):
        text += f', section "{c["section"]}"'
    page = _page(c)
    text += f", page {page}" if page else f", {UNVERIFIED}"
    return text


def _parts(c: dict, esc) -> tuple:
    """(section, page, title) of a citation, each escaped with ``esc``, as every format
    writes them after its label."""
    section = f", section “{esc(c['section'])}”" if c.get("section") else ""
    page = _page(c)
    page_text = f", page {esc(page)}" if page else f", {UNVERIFIED}"
    title = f" — {esc(c['title'])}" if c.get("title") else ""
    return section, page_text, title


def citation_markdown(c: dict) -> str:
    """One line of Markdown: the citation (linked when its URL is safe), section, page,
    title and quote, all escaped."""
    label = md_text(c.get("citation") or c.get("source") or "?")
    href = safe_url(c.get("url"))
    text = f'<a class="rc-source-link" href="{href}">{label}</a>' if href else label
    text += "".join(_parts(c, md_text))
    if c.get("quote"):
        text += f" — “{md_text(c['quote'])}”"
    return text


def citation_html(c: dict) -> str:
    """One citation as HTML (for a list item): escaped, linked only to an http(s) URL."""
    text = html_text(c.get("citation") or c.get("source") or "?") + "".join(_parts(c, html_text))
    link = html_link(c.get("url"))
    if link:
        text += f" {link}"
    elif c.get("url"):
        text += f" {html_text(c['url'])}"
    if c.get("quote"):
        text += f"<br><q>{html_text(c['quote'])}</q>"
    return text
