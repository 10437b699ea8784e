"""The one escaper and the one citation formatter: every format says the same words, and no
pack text becomes markup or a link it should not be."""

from __future__ import annotations

import pytest

from rulecite.interpreter.reports.citations import UNVERIFIED, citation_html, citation_markdown, citation_text
from rulecite.interpreter.reports.markup import html_link, md_text, nav_text, safe_url

HOSTILE = {"source": "S", "citation": "<script>alert(1)</script>", "title": "[x](javascript:alert(2))",
           "section": "\" onmouseover=\"alert(3)", "page": "unverified", "quote": "</q><img src=x onerror=alert(4)>",
           "url": "javascript:alert(5)"}


@pytest.mark.parametrize("fmt", [citation_text, citation_markdown, citation_html])
def test_every_format_says_page_unverified_the_same_way(fmt):
    assert f", {UNVERIFIED}" in fmt({"source": "S", "citation": "90 FR 49266", "page": "unverified"})
    assert ", page 49411" in fmt({"source": "S", "citation": "90 FR 49266", "page": "49411"})


def test_hostile_citation_text_never_becomes_markup_or_a_link():
    html = citation_html(HOSTILE)
    assert "<script" not in html and "<img" not in html and "href" not in html and "</q><" not in html
    md = citation_markdown(HOSTILE)
    assert "<script" not in md and "](javascript" not in md and "href" not in md
    linked = citation_html({**HOSTILE, "url": "https://example.org/a?b=<c>"})
    assert 'href="https://example.org/a?b=%3Cc%3E"' in linked


@pytest.mark.parametrize("url", ["javascript:alert(1)", "data:text/html,x", "//evil.example", "/relative", "",
                                 "http://", "vbscript:x", " JAVASCRIPT:alert(1)"])
def test_only_http_and_https_urls_are_linked(url):
    assert safe_url(url) is None
    assert "href" not in html_link(url, "label")


def test_nav_text_and_md_text_escape_markup():
    assert nav_text("<b>x</b>\n y") == "&lt;b&gt;x&lt;/b&gt; y"
    assert "<" not in md_text("<img src=x>") and "\\[" in md_text("[a](b)")
