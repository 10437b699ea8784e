"""The one escaper: untrusted text (anything a pack or a record holds) as Markdown, HTML or
an mkdocs navigation title, and the one check of a URL before it becomes a link.

Every report in this package writes pack and record text through these functions, so
there is one set of rules to get right and to test (``tests/test_docs_docgen.py`` and the
hostile-site test hold them):

- ``md_text``: inline Markdown that renders as exactly the text: whitespace collapsed,
  Markdown punctuation backslash-escaped, ``& < >`` as entities (no tag, link, attribute
  list or table cell can open);
- ``html_text``: text for an HTML element or a quoted attribute;
- ``nav_text``: a navigation title (mkdocs puts those into pages unescaped);
- ``safe_url``: an ``http``/``https`` URL fit for ``href``, or None (``javascript:``,
  ``data:``, relative and malformed addresses are never linked);
- ``fence``: a fenced code block nothing inside can close;
- ``plain_text``: text for one line of a terminal report (control characters, line
  breaks and bidirectional overrides shown as ``\\uXXXX``, never acted on).
"""

from __future__ import annotations

import html
import re
import urllib.parse

# Characters that open inline Markdown anywhere in a line (emphasis, code, links, images,
# attribute lists, table cells, admonitions): always backslash-escaped.
_MD_INLINE = re.compile(r"([\\`*_{}\[\]()!|])")
# Characters that open a block only at the start of a line (a heading, a list item, a
# setext underline, a definition): escaped there only, so "2025-07" and "v1.2" stay
# readable in the Markdown source.
_MD_LEADING = re.compile(r"^(?:([#+\-])|([=:~])|([0-9]+)([.)]))")
_URL_SAFE = ":/?#[]@!$&'()*+,;=%-._~"


def md_text(value) -> str:
    """Untrusted text as inline Markdown that renders as exactly that text."""
    s = " ".join(str(value).split())
    s = _MD_INLINE.sub(r"\\\1", s)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_LEADING.sub(_leading, s, count=1)


def _leading(m) -> str:
    if m.group(1):  # Python-Markdown unescapes \# \+ \-
        return "\\" + m.group(1)
    if m.group(2):  # it does not unescape these: an entity renders the same character
        return f"&#{ord(m.group(2))};"
    return m.group(3) + "\\" + m.group(4)


def md_code(value) -> str:
    """Untrusted text as inline code."""
    return f"<code>{md_text(value)}</code>"


def html_text(value) -> str:
    """Untrusted text inside an HTML element or a quoted attribute (None is empty)."""
    return html.escape("" if value is None else str(value), quote=True)


def nav_text(value) -> str:
    """Untrusted text as an mkdocs navigation title. mkdocs and its themes put nav titles
    into the page (the menu, the tab, ``<title>``, the search index) without escaping
    them, so they are HTML-escaped here, whitespace collapsed: the title shows as text."""
    return html.escape(" ".join(str(value).split()), quote=True)


def safe_url(url) -> str | None:
    """An http(s) URL fit for an ``href`` attribute (already escaped), or None for
    anything else (``javascript:``, ``data:``, relative or malformed addresses)."""
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


def md_link(url, label) -> str:
    """An external link in a Markdown page, or the bare label when the URL is not safe."""
    href = safe_url(url)
    if href is None:
        return md_text(label)
    return f'<a class="rc-source-link" href="{href}">{md_text(label)}</a>'


def html_link(url, label=None) -> str:
    """An external link in an HTML page, or the escaped label (or nothing) when the URL
    is not safe."""
    href = safe_url(url)
    if href is None:
        return html_text(label) if label is not None else ""
    return f'<a href="{href}" rel="noreferrer noopener">{html_text(label if label is not None else url)}</a>'


def fence(text: str, lang: str = "") -> str:
    """A fenced code block that nothing in ``text`` can close early."""
    longest = max((len(m) for m in re.findall(r"`+|~+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


# Characters a terminal acts on rather than shows: C0 and C1 controls (line breaks, escape
# sequences), line and paragraph separators, zero-width and bidirectional formatting.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


def plain_text(value) -> str:
    """Untrusted text for one line of a terminal report: every character a terminal would
    act on (a line break, an escape sequence, a bidirectional override) written as
    ``\\uXXXX``, so a record or pack value can neither add report lines nor restyle them."""
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", "" if value is None else str(value))
