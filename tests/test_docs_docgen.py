"""The generated pack reference: content, determinism, escaping of hostile pack text,
and the Pygments lexer the site highlights ``.policy`` code with."""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import markdown
import pytest

from rulecite.policy_lang import bundled_names, load
from rulecite.interpreter.reports.markup import md_text, safe_url
from rulecite.interpreter.reports.site import (reference_nav, render_pack_reference, rule_page, schema_fields,
                                               write_pack_reference)

from .conftest import BRANCH, LIBRARY

# the Markdown extensions of mkdocs.yml that matter for what pack text can do
SITE_EXTENSIONS = ["admonition", "attr_list", "md_in_html", "tables", "def_list", "toc", "pymdownx.details",
                   "pymdownx.highlight", "pymdownx.inlinehilite", "pymdownx.superfences"]


def to_html(md_source: str) -> str:
    return markdown.Markdown(extensions=SITE_EXTENSIONS,
                             extension_configs={"pymdownx.highlight": {"pygments_lang_class": True}}
                             ).convert(md_source)


@pytest.fixture(scope="module")
def library():
    loaded = load(LIBRARY)
    assert loaded.ok, loaded.diagnostics
    return loaded.pack


@pytest.fixture(scope="module")
def pages(library):
    return render_pack_reference(library, exercised={"media.age": {"a child cannot borrow a DVD"}})


def test_one_page_per_rule_id_and_the_pack_pages(library, pages):
    expected = {"index.md", "codes.md", "sources.md", "schema.md", "changes.md"}
    expected |= {rule_page(r) for r in library.rule_ids}
    assert set(pages) == expected
    assert len([p for p in pages if p.startswith("rules/")]) == len(library.rule_ids)


def test_output_is_deterministic_and_machine_independent(library, pages, tmp_path):
    assert render_pack_reference(library, exercised={"media.age": {"a child cannot borrow a DVD"}}) == pages
    root = str(Path(library.root))
    for name, text in pages.items():
        assert root not in text, f"{name} leaks the machine's pack folder"
        assert "/work/" not in text and "/tmp/" not in text
    written = write_pack_reference(library, tmp_path / "out")
    assert written == sorted(written)
    assert {p.relative_to(tmp_path / "out").as_posix() for p in written} == set(pages)


def test_rule_page_with_versions_citations_and_tests(pages):
    page = pages["rules/loans.limit.md"]
    html = to_html(page)
    assert "Version 1: 2025-01-01 to 2025-12-31" in html and 'id="version-2"' in html
    assert '<a href="#version-2">version 2</a>' in html  # version 1 says what came after it
    assert 'href="https://library.example.org/bylaws/2026"' in html
    assert "page unverified" in html
    assert '<div class="language-policy highlight">' in html
    assert '<span class="kd">rule</span><span class="w"> </span><span class="nf">loans.limit</span>' in html
    assert "eleven items break the 2025 limit" in html


def test_rule_page_quote_dispute_and_before_after(pages):
    media = to_html(pages["rules/media.age.md"])
    assert "<blockquote>" in media and "Discs are lent to members aged thirteen and over." in media
    assert "Disputed fact" in media and "streaming has no age limit" in media
    assert 'href="https://library.example.org/memos/streaming"' in media
    assert "<td>yes</td>" in media  # the test in which the rule fired
    dvd = to_html(pages["rules/dvd.days.md"])
    assert "superseded by" in dvd and 'href="stream.days.md"' in dvd
    stream = to_html(pages["rules/stream.days.md"])
    assert "supersedes" in stream and 'href="dvd.days.md"' in stream
    magazine = to_html(pages["rules/magazine.same-month.md"])
    assert "retired from 2026-01-01" in magazine and "drop the one-magazine rule" in magazine


def test_codes_page_has_the_timeline_and_replacements(pages):
    html = to_html(pages["codes.md"])
    assert "<th>2025</th>" in html and "<th>2026</th>" in html
    row = re.search(r"<tr>\s*<td><a href=\"#code-DVD\">DVD</a>.*?</tr>", html, re.S).group(0)
    assert "all year" in row and "—" in row and 'href="#code-STREAM"' in row
    assert 'id="code-STREAM"' in html and "from Jan 01" not in row


def test_sources_page_is_a_reverse_index(pages):
    html = to_html(pages["sources.md"])
    section = html.split('id="source-BYLAWS2026"', 1)[1].split('<h2', 1)[0]
    for rid in ("loans.limit", "stream.days"):
        assert f'href="rules/{rid}.md"' in section
    assert 'href="codes.md#code-DVD"' in section  # a code citing it
    assert "magazine.same-month" in section  # a retirement citing it


def test_schema_page_lists_every_field(library, pages):
    html = to_html(pages["schema.md"])
    paths = [p for p, _, _ in schema_fields(library.schema)]
    assert "loans[].units" in paths and "member.age" in paths
    for p in paths:
        assert f"<code>{p}</code>" in html
    assert "Age in years." in html and "default <code>1</code>" in html


def test_changes_page_compares_the_last_two_years(pages):
    html = to_html(pages["changes.md"])
    assert "2025-12-31 versus 2026-01-01" in html
    assert "version 1 -&gt; 2 from 2026-01-01" in html  # loans.limit, from the pack diff
    assert 'href="rules/stream.days.md"' in html and 'href="codes.md#code-STREAM"' in html


def test_extending_pack_names_inherited_rules(tmp_path):
    branch = load(BRANCH).pack
    pages = render_pack_reference(branch)
    assert "rules/branch.ebook-cap.md" in pages and "rules/loans.limit.md" in pages
    assert "inherited by" in pages["rules/loans.limit.md"]
    assert str(LIBRARY) not in "".join(pages.values())
    nav = reference_nav(branch, "reference/generated/library-branch")
    assert {"Overview": "reference/generated/library-branch/index.md"} in nav


# ---------------------------------------------------------------- hostile pack text

HOSTILE = '<script>alert(1)</script> [x](javascript:alert(2)) {: onclick="alert(3)"} ``` </code> | & *'


def _hostile_pack(tmp_path) -> Path:
    root = tmp_path / "hostile"
    shutil.copytree(LIBRARY, root)
    text = (root / "sources.policy").read_text()
    text = text.replace('title "Riverside Library lending bylaws, 2025 edition"', f'title "{_q(HOSTILE)}"')
    text = text.replace('url "https://library.example.org/bylaws/2025"', 'url "javascript:alert(4)"')
    text = text.replace('citation "Bylaws 2025"', 'citation "<img src=x onerror=alert(5)>"')
    (root / "sources.policy").write_text(text)
    rules = (root / "rules.policy").read_text()
    rules = rules.replace('quote "Discs are lent to members aged thirteen and over."', f'quote "{_q(HOSTILE)}"')
    rules = rules.replace('message "{l.item} lent to a member aged {member.age}"',
                          'message "<iframe src=//evil> {{ {l.item}"')
    rules = rules.replace('title "DVDs go out for 7 days at most"', 'title "```\\n<script>x</script>\\n```"')
    # a changed title ends the what-changed list item: an attribute list there must stay text
    rules = rules.replace('title "At most 12 items a month"', 'title "twelve {: onclick=\\"alert(7)\\" }"')
    (root / "rules.policy").write_text(rules)
    catalog = (root / "catalog.policy").read_text()
    (root / "catalog.policy").write_text(catalog.replace('"Printed book"', '"<b onmouseover=alert(6)>book</b>"'))
    return root


def _q(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


class _Tags(HTMLParser):
    """Every element and attribute of an HTML fragment."""

    def __init__(self):
        super().__init__()
        self.tags, self.attrs = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]


def test_hostile_pack_text_cannot_inject_html(tmp_path):
    loaded = load(_hostile_pack(tmp_path))
    assert loaded.ok, loaded.diagnostics
    pages = render_pack_reference(loaded.pack)
    for name, page in pages.items():
        parsed = _Tags()
        parsed.feed(to_html(page))
        assert not {"script", "iframe", "img", "b", "object", "embed"} & set(parsed.tags), name
        assert not [a for a in parsed.attrs if a[1].startswith("on")], name
        assert not [a for a in parsed.attrs if a[1] in ("href", "src") and not
                    re.match(r"^(https?://|#|[a-z0-9_./-]+\.md(#|$)|\.\./)", a[2])], name
    lead = re.search(r'<p class="rc-lead">(.*?)</p>', to_html(pages["rules/dvd.days.md"])).group(1)
    assert lead == "``` &lt;script&gt;x&lt;/script&gt; ```"  # a raw HTML block: escaped for HTML only
    media = to_html(pages["rules/media.age.md"])
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in media  # shown, as text
    assert "[x](javascript:alert(2))" in media


@pytest.mark.parametrize("url,ok", [
    ("https://www.federalregister.gov/d/2025-19787", True),
    ("http://example.org/a?b=1&c=2", True),
    ("javascript:alert(1)", False),
    ("JAVASCRIPT:alert(1)", False),
    ("data:text/html,<script>", False),
    ("//evil.example", False),
    ("/relative", False),
    ('https://x.org/"><script>', True),
])
def test_safe_url(url, ok):
    out = safe_url(url)
    assert (out is not None) == ok
    if out:
        assert '"' not in out and "<" not in out and ">" not in out


def test_md_text_round_trips_to_the_same_text():
    for s in ["a.b-c_d *e* [f](g) `h` #i !j |k| {l} <m> & n\\o", "G0570", "apcm.addon.same-practitioner"]:
        html = to_html(md_text(s))
        text = re.sub(r"</?p>", "", html).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        assert text == " ".join(s.split())


# ---------------------------------------------------------------- the lexer


def test_pygments_finds_the_policy_lexer_by_alias_filename_and_entry_point():
    from importlib.metadata import entry_points

    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename

    from rulecite.policy_lang.syntax.pygments_lexer import PolicyLexer

    assert isinstance(get_lexer_by_name("policy"), PolicyLexer)
    assert isinstance(get_lexer_by_name("rulecite"), PolicyLexer)
    assert isinstance(get_lexer_for_filename("rules.policy"), PolicyLexer)
    eps = [e for e in entry_points(group="pygments.lexers") if e.name == "policy"]
    assert eps and eps[0].load() is PolicyLexer


def test_lexer_tokens_for_every_library_file():
    from pygments.token import Error, Keyword, Literal, Name, String

    from rulecite.policy_lang.syntax.pygments_lexer import PolicyLexer

    lexer = PolicyLexer()
    for f in sorted([*LIBRARY.rglob("*.policy"), *BRANCH.rglob("*.policy")]):
        text = f.read_text()
        tokens = list(lexer.get_tokens(text))
        assert "".join(v for _, v in tokens) == text if text.endswith("\n") else text + "\n"
        assert not [v for t, v in tokens if t in Error], f.name
    tokens = list(lexer.get_tokens('rule a.b-c {\n  effective 2026-01-01\n  message "{x.y} ok"\n'
                                   '  deny when line.code in APCM and program_of(line.code) == "CCM"\n}\n'))
    kinds = {v: t for t, v in tokens}
    assert kinds["rule"] in Keyword and kinds["a.b-c"] in Name.Function
    assert kinds["2026-01-01"] in Literal.Date and kinds["{x.y}"] in String.Interpol
    assert kinds["code"] in Name.Attribute  # a field after a dot is not the `code` keyword
    assert kinds["program_of"] in Name.Builtin


# ---------------------------------------------------------------- the CMS pack


def _cms():
    assert "cms-care-management" in bundled_names()
    loaded = load("cms-care-management")
    assert loaded.ok, [d.to_dict() for d in loaded.diagnostics if d.severity == "error"][:5]
    return loaded.pack


def test_every_cms_rule_has_a_page_with_a_link_to_its_source():
    """Every rule page links its sources. A rule whose every source lacks an address (a
    seed file, say) cannot link anything: the page says "no link in the pack". The CMS
    pack has none such: every rule cites at least one source with an address."""
    from rulecite.interpreter.reports.site import source_href

    pack = _cms()
    assert pack.rule_ids, "the CMS pack has no rules yet"
    pages = render_pack_reference(pack)
    unlinked, content_gaps = [], []
    for rid in pack.rule_ids:
        html = to_html(pages[rule_page(rid)])
        links = set(re.findall(r'<a class="rc-source-link" href="(https?://[^"]+)"', html))
        hrefs = {source_href(c.source, pack) for r in pack.rule_versions(rid) for c in r.citations} - {None}
        if hrefs:
            if not links:
                unlinked.append(rid)
        else:
            content_gaps.append(rid)
    assert not unlinked, f"rule pages missing the link to their source: {unlinked}"
    assert not content_gaps, f"CMS rules citing no source with an address, so their pages link nothing: {content_gaps}"


@pytest.mark.parametrize("path", [LIBRARY, BRANCH, "cms-care-management"], ids=["library", "library-branch", "cms"])
def test_no_markdown_escape_shows_on_a_page(path):
    """Escaping happens where Markdown undoes it: no `\\-` or `\\.` reaches a reader."""
    pack = _cms() if path == "cms-care-management" else load(path).pack
    for name, page in render_pack_reference(pack).items():
        html = re.sub(r'<div class="language-policy highlight">.*?</div>', "", to_html(page), flags=re.S)
        leftover = re.findall(r".{0,20}\\[-._*#()\[\]{}!|+`].{0,20}", html)
        assert not leftover, f"{name}: {leftover[:3]}"


def test_every_builtin_function_is_documented_and_highlighted():
    """The table of built-ins (``policy_lang.builtins``) is the one list: the language guide
    gives every entry's signature and doc line, and lists no function the table lacks; the
    Pygments lexer, the keyword table and both TextMate grammars name exactly its names."""
    import json

    from rulecite.policy_lang.builtins import BUILTINS, CALLS, NAMES
    from rulecite.policy_lang.keywords import BUILTIN_FUNCTIONS
    from rulecite.policy_lang.syntax.pygments_lexer import BUILTINS as LEXER_NAMES

    from .conftest import ROOT

    language = (ROOT / "docs" / "language.md").read_text()
    for b in BUILTINS:
        assert f"| `{b.signature}` | {b.doc} |" in language, f"docs/language.md does not list {b.signature}"
    listed = language.split("Built-in functions", 1)[1].split("\n\n", 2)[1]
    documented = re.findall(r"^\| `(\w+)\(", listed, flags=re.M)
    assert documented == list(CALLS), "docs/language.md's list of built-in functions is not the table's"
    assert tuple(BUILTIN_FUNCTIONS) == tuple(LEXER_NAMES) == NAMES
    for path in (ROOT / "editors" / "policy.tmLanguage.json",
                 ROOT / "editors" / "vscode" / "syntaxes" / "policy.tmLanguage.json"):
        grammar = json.loads(path.read_text())
        builtin = [p["match"] for p in grammar["repository"]["expression"]["patterns"]
                   if p.get("name") == "support.function.builtin.policy"]
        assert len(builtin) == 1, path
        words = re.fullmatch(r"\\b\(([\w|]+)\)\(\?=\\s\*\\\(\)", builtin[0])
        assert words and sorted(words.group(1).split("|")) == sorted(NAMES), f"{path.name} lists other built-ins"


def test_the_builtins_table_is_what_the_runtime_and_the_tracer_call():
    """One implementation per built-in call: compiled code calls ``runtime.FUNCTIONS`` (every call
    the compiler does not write in place), the tracing evaluator calls ``builtins.call``."""
    from rulecite.interpreter.codegen import runtime
    from rulecite.policy_lang import builtins

    plain = {n: b for n, b in builtins.CALLS.items() if b.codegen is None}
    assert runtime.FUNCTIONS.keys() == plain.keys()
    assert all(runtime.FUNCTIONS[n] is b.implementation for n, b in plain.items())
    assert {n for n, b in builtins.CALLS.items() if b.codegen == builtins.INLINE} == {"present", "default",
                                                                                        "program_of"}
    assert builtins.call("default", [None, 3], None) == 3 and builtins.call("present", [0], None) is True
    assert builtins.call("round", [2.5], None) == 3 and builtins.call("add_months", ["2026-01", -1], None) == "2025-12"
    for b in builtins.BUILTINS:
        assert callable(b.typing) and b.doc and b.signature.startswith(b.name + "(")
        if b.form == builtins.CALL:
            assert callable(b.implementation) and 1 <= b.arity[0] <= b.arity[1]



def test_a_document_number_is_linked_only_as_the_pack_says(library):
    """The core knows no Federal Register: a source with a document number and no url is
    linked through the pack's `[docs] document_url`, and not at all without one."""
    import attrs

    from rulecite.interpreter.reports.site import source_href

    src = attrs.evolve(library.sources[0], url=None, document="2024-25382")
    assert source_href(src, library) is None
    linked = attrs.evolve(library, document_url="https://example.org/doc/{document}")
    assert source_href(src, linked) == "https://example.org/doc/2024-25382"
    odd = attrs.evolve(src, document="x\"><script>")  # never pasted into a link
    assert source_href(odd, linked) is None
    cms = _cms()
    assert cms.document_url == "https://www.federalregister.gov/d/{document}"


def test_the_sources_page_groups_by_authority_final_rules_first_by_title():
    pack = _cms()
    page = render_pack_reference(pack)["sources.md"]
    heads = [ln for ln in page.split("\n") if ln.startswith("## ")]
    assert heads[:3] == ["## Primary sources", "## Contractor sources", "## Secondary sources"]
    primary = page[page.index("## Primary sources"):page.index("## Contractor sources")]
    first_row = next(ln for ln in primary.split("\n") if ln.startswith("| ["))
    assert "Final Rule" in first_row and "final\\_rule" in first_row  # a Final Rule leads, by title
    fr25 = pack.source("FR25")
    assert md_text(fr25.title) in primary  # titles, not source ids, name the sources


def test_a_rule_page_in_a_dated_pack_never_says_always():
    pack = _cms()
    pages = render_pack_reference(pack)
    for rid in pack.rule_ids:
        text = pages[rule_page(rid)]
        assert "always" not in text.split("## ")[0] + "".join(
            ln for ln in text.split("\n") if "In force" in ln or "Effective window" in ln), rid
    assert "2025-01-01 to 2026-12-31" in pages[rule_page("ccm.conditions")]


def test_what_changed_names_the_final_rule_behind_each_change():
    pack = _cms()
    page = render_pack_reference(pack)["changes.md"]
    comparison = page[:page.index("## Every dated change")]
    added = [ln for ln in comparison.split("\n") if ln.startswith("- **added**")]
    behind = [ln for ln in comparison.split("\n") if ln.strip().startswith("- Behind it:")]
    assert added and len(behind) >= len(added) - 2  # nearly every added rule names its Final Rule
    assert "90 FR 49266" in comparison  # the CY 2026 rule, behind the 2026 changes
