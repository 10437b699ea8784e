"""The documentation site: a strict mkdocs build, its search index, and a rule page in a
real browser (Debian's headless Chromium), with a screenshot to look at.

The site is built once per test session in a temporary copy of ``docs/`` (so the
developer's ``docs/reference/generated`` is left alone), for the bundled packs plus the
library example packs. ``make test`` installs Chromium first; without it the browser test
fails.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rulecite.policy_lang import bundled_names, load
from rulecite.interpreter.reports.site import rule_page

from .conftest import BRANCH, LIBRARY, ROOT

PACKS = [str(LIBRARY), str(BRANCH), *bundled_names()]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("docs-site")
    shutil.copy(ROOT / "mkdocs.yml", work / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", work / "docs",
                    ignore=shutil.ignore_patterns("generated", "__pycache__"))
    env = dict(os.environ, RULECITE_DOCS_PACKS=os.pathsep.join(PACKS), NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(work / "mkdocs.yml"),
                           "-d", str(work / "site")], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    assert "WARNING" not in proc.stderr, proc.stderr
    return work / "site"


def _models():
    out = []
    for p in PACKS:
        loaded = load(p)
        assert loaded.ok, p
        out.append(loaded.pack)
    return out


def _url(model, rule_id: str) -> str:
    return f"reference/generated/{model.name}/{rule_page(rule_id)[:-3]}/"


def test_strict_build_has_a_page_per_rule_and_the_generated_references(site):
    for model in _models():
        for rid in model.rule_ids:
            assert (site / _url(model, rid) / "index.html").is_file(), rid
        for page in ("codes", "sources", "changes", "schema"):
            assert (site / f"reference/generated/{model.name}/{page}/index.html").is_file()
    cli = (site / "reference/cli/index.html").read_text()
    assert "rulecite eval" in cli and "--fail-on" in cli
    codes = (site / "reference/error-codes/index.html").read_text()
    from rulecite.policy_lang import CODES

    assert all(f"<code>{c}</code>" in codes for c in CODES)
    api = (site / "reference/api/index.html").read_text()
    assert "load_pack" in api and "Parse, check and compile a pack once." in api
    language = (site / "language/index.html").read_text()
    assert '<span class="kd">rule</span>' in language  # the .policy lexer highlights the guide


def test_search_index_finds_rules_by_id_and_code(site):
    index = json.loads((site / "search/search_index.json").read_text())
    docs = index["docs"]
    for model in _models():
        for rid in model.rule_ids:
            base = _url(model, rid)
            entries = [d for d in docs if d["location"].startswith(base)]
            assert any(d["title"] == rid for d in entries), f"{rid} is not a search title"
            for code in model.rule_versions(rid)[-1].codes or ():
                assert any(re.search(rf"\b{re.escape(code)}\b", d["text"]) for d in entries), \
                    f"searching {code} would not find {rid}"


def test_searching_a_code_or_a_rule_id_finds_its_rule_pages(site):
    """Runs the queries through lunr (the Python port of the engine the site's search uses),
    on the site's own index, with the site's own separator."""
    lunr = pytest.importorskip("lunr")
    index = json.loads((site / "search/search_index.json").read_text())
    assert index["config"]["separator"] == r"[\s\-]+", "the site's search splits words like lunr's default"
    docs = index["docs"]
    engine = lunr.lunr(ref="id", fields=[{"field_name": "title", "boost": 1000}, {"field_name": "text", "boost": 1}],
                       documents=[{"id": str(i), "title": d["title"], "text": d["text"]} for i, d in enumerate(docs)])

    def search(query) -> list:
        return [docs[int(hit["ref"])]["location"] for hit in engine.search(query)]

    for model in _models():
        prefix = f"reference/generated/{model.name}/"
        for rid in model.rule_ids:
            hits = search(rid)[:5]  # an extending pack has a page for the same rule too
            assert any(h.startswith(prefix + rule_page(rid)[:-3]) for h in hits), f"searching {rid}: {hits}"
        by_code: dict = {}
        for r in model.rules:
            for code in r.codes or ():
                by_code.setdefault(code, set()).add(prefix + rule_page(r.id)[:-3])
        for code, pages in sorted(by_code.items()):
            hits = search(code)
            # the code's catalog entry (which lists its rules) comes first, its rule pages follow
            assert any(h == f"{prefix}codes/#code-{code}" for h in hits[:6]), f"searching {code}: {hits[:6]}"
            assert any(h.startswith(tuple(pages)) for h in hits), f"searching {code} finds none of its rules"
            if code == "G0570":
                assert any(h.startswith(tuple(pages)) for h in hits[:10]), hits[:10]


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _rule_to_open():
    """A CMS rule page about G0570 when the CMS pack has one; else the library's media.age."""
    for model in _models():
        if model.name == "cms-care-management":
            rules = [r for r in model.rules if r.codes and "G0570" in r.codes]
            if rules:
                return model, rules[0].id
    return load(LIBRARY).pack, "media.age"


@pytest.mark.browser
def test_rule_page_in_headless_chromium(site, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.fail("chromium is missing: `make chromium` installs it (make test does)")
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        model, rid = _rule_to_open()
        url = f"http://127.0.0.1:{server.server_address[1]}/{_url(model, rid)}"
        flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1600"]
        shot = tmp_path / "rule.png"
        subprocess.run(flags + [f"--screenshot={shot}", url], capture_output=True, timeout=120)
        dom = subprocess.run(flags + ["--virtual-time-budget=3000", "--dump-dom", url],
                             capture_output=True, text=True, timeout=120).stdout
    finally:
        server.shutdown()
        server.server_close()
    print(f"\nscreenshot of {rid}: {shot}")
    assert shot.is_file() and shot.stat().st_size > 20_000, "no screenshot"
    assert re.search(rf"<h1[^>]*>{re.escape(rid)}<", dom), "the rule page did not render"
    rule = model.rule_versions(rid)[-1]
    urls = {c.source.url for c in rule.citations if c.source.url}
    links = re.findall(r'<a class="rc-source-link" href="([^"]+)"', dom)
    assert urls & set(links), f"no link to the rule's source ({urls}) in {links}"
    assert re.search(r'<div class="language-policy highlight">.*?<span class="kd">rule</span>', dom, re.S), \
        "the rule source is not highlighted"
    assert "md-header" in dom and "md-nav" in dom  # the material theme, not bare HTML


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


# ---------------------------------------------------------------- hostile pack text on the built site

HOSTILE = Path(__file__).parent / "hostile" / "packs"


class _Markup:
    """Every element, attribute and script body of one HTML page (html.parser, as a
    browser tokenizes it)."""

    def __init__(self, text: str):
        from html.parser import HTMLParser

        self.tags, self.scripts, self.texts = [], [], []
        outer = self

        class P(HTMLParser):
            in_script = False

            def handle_starttag(self, tag, attrs):
                outer.tags.append((tag, attrs))
                self.in_script = tag == "script"

            def handle_endtag(self, tag):
                self.in_script = False

            def handle_data(self, data):
                (outer.scripts if self.in_script else outer.texts).append(data)

        P(convert_charrefs=True).feed(text)


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory) -> Path:
    """The site built for the hostile corpus packs whose text must reach pages escaped:
    every free-text field of pack.toml (``pack-toml-title``) and of the .policy files
    (``hostile-strings``)."""
    work = tmp_path_factory.mktemp("hostile-site")
    shutil.copytree(LIBRARY, work / "packs" / "library")
    marker = work / "MARKER"
    for name in ("pack-toml-title", "hostile-strings"):
        dst = work / "hostile" / "packs" / name
        shutil.copytree(HOSTILE / name, dst)
        for f in dst.rglob("*"):
            if f.is_file() and b"@MARKER@" in f.read_bytes():
                f.write_bytes(f.read_bytes().replace(b"@MARKER@", str(marker).encode()))
    shutil.copy(ROOT / "mkdocs.yml", work / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", work / "docs", ignore=shutil.ignore_patterns("generated", "__pycache__"))
    packs = [str(work / "hostile" / "packs" / n) for n in ("pack-toml-title", "hostile-strings")]
    env = dict(os.environ, RULECITE_DOCS_PACKS=os.pathsep.join(packs), NO_MKDOCS_2_WARNING="1")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(work / "mkdocs.yml"),
                           "-d", str(work / "site")], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    assert not marker.exists(), "code in a pack ran while the site was built"
    return work / "site"


def test_no_pack_text_reaches_a_built_page_as_markup(hostile_site):
    title = " ".join(load(HOSTILE / "pack-toml-title").pack.title.split()).split("@MARKER@")[0]
    pages = sorted(hostile_site.rglob("*.html"))
    assert len(pages) > 10
    shown = 0
    for page in pages:
        m = _Markup(page.read_text(encoding="utf-8"))
        for tag, attrs in m.tags:
            for k, v in attrs:
                assert not k.startswith("on"), (page, tag, k, v)  # no event handler at all
                if k in ("href", "src", "action", "formaction"):
                    assert not (v or "").strip().lower().startswith(("javascript:", "data:", "vbscript:")), (page, v)
                # pack text in an attribute only as a heading's slug or plain text attributes
                assert ("rc-xss" not in (v or "") or k in ("id", "title", "aria-label", "alt", "content", "value")
                        or (k == "href" and v.startswith("#"))), (page, k, v)
            assert not (tag == "img" and dict(attrs).get("src") == "x"), page
        for body in m.scripts:
            assert "rc-xss" not in body and "MARKER" not in body and "alert(" not in body, (page, body[:200])
        shown += any(title in " ".join(t.split()) for t in m.texts)
    assert shown > 10, "the title shows as plain text in the navigation of every page"
    index = json.loads((hostile_site / "search" / "search_index.json").read_text(encoding="utf-8"))
    for doc in index["docs"]:
        for value in (doc.get("title", ""), doc.get("text", "")):
            assert "<script" not in value.lower() and "<img" not in value.lower(), doc["location"]


def test_nothing_internal_reaches_the_published_site(site):
    """The site shows the packs and their sources, never the team's research notes, plan
    files or the file names of the articles read while writing the pack."""
    internal = re.compile(r"DOMAIN\.md|DOMAIN §|\bDOMAIN\b|RULES-PLAN|docs-dev/|\bseeds?/|\bS00[0-4]\b|"
                          r"[0-9a-f]{3}_[0-9a-f]{16}")
    hits = []
    for page in sorted(site.rglob("*.html")) + [site / "search" / "search_index.json"]:
        for m in internal.finditer(page.read_text(encoding="utf-8")):
            hits.append(f"{page.relative_to(site)}: {m.group(0)}")
    assert not hits, hits[:20]
