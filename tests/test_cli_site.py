"""``rulecite site PACK... --out DIR``: a published site for any pack, no environment variable."""

from __future__ import annotations

import re
import sys

import pytest

from rulecite.interpreter.reports.site import rule_page
from rulecite.interpreter.reports.site.publish import MARKER, SITE_CSS, SiteError, build_site
from rulecite.policy_lang import load

from tests.browser_support import dump_dom, serve
from tests.cli_support import BRANCH, LIBRARY, ROOT, assert_bad_input, run


def _page(site, model, rule_id):
    return site / "packs" / model.name / rule_page(rule_id)[:-3] / "index.html"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("published") / "site"
    r = run(["site", LIBRARY, BRANCH, "--out", out], env={"RULECITE_DOCS_PACKS": ""})
    assert r.exit_code == 0, r.output
    assert "built" in r.stderr
    return out


def test_every_rule_has_a_page_with_its_citations(site):
    for pack in (LIBRARY, BRANCH):
        model = load(pack).pack
        assert (site / "packs" / model.name / "index.html").is_file()
        for sub in ("codes", "sources", "changes", "schema"):
            assert (site / "packs" / model.name / sub / "index.html").is_file(), sub
        for rid in model.rule_ids:
            html = _page(site, model, rid).read_text(encoding="utf-8")
            assert re.search(rf"<h1[^>]*>{re.escape(rid)}<", html), rid
            rule = model.rule_versions(rid)[-1]
            for c in rule.citations:
                assert c.source.title.split()[0] in html, (rid, c.source.title)
                if c.source.url:
                    assert f'href="{c.source.url}"' in html, (rid, c.source.url)
    assert (site / MARKER).is_file()
    assert (site / "search" / "search_index.json").is_file()
    assert (site / "stylesheets" / "rulecite.css").read_text(encoding="utf-8") == SITE_CSS
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "library-loans" in home and "md-header" in home  # the material theme, links to each pack


def test_the_site_css_is_one_file_shipped_with_the_package():
    import tomllib

    css = ROOT / "interpreter" / "reports" / "site" / "rulecite.css"
    assert css.read_text(encoding="utf-8") == SITE_CSS
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "*.css" in data["rulecite.interpreter.reports.site"]
    # the project's docs build writes the same file into docs/ (never tracked there)
    assert "docs/stylesheets/rulecite.css" in (ROOT / ".gitignore").read_text().splitlines()


def test_every_file_a_bundled_pack_loads_from_is_package_data():
    """An installed wheel has only the package data: a bundled pack's file left out of it
    (its amounts table, say) would make the pack fail to load outside a checkout."""
    import tomllib

    from rulecite.policy_lang.newversion import pack_files

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    suffixes = {g.rsplit("*", 1)[1] for g in data["rulecite.packs"]}
    for pack in sorted(p.parent for p in (ROOT / "packs").glob("*/pack.toml")):
        kept, _ = pack_files(pack)
        missing = [f for f in kept if not any(f.endswith(x) for x in suffixes)]
        assert not missing, (pack.name, missing)


def test_rebuilding_replaces_an_earlier_site(tmp_path):
    out = tmp_path / "s"
    assert run(["site", LIBRARY, BRANCH, "--out", out]).exit_code == 0
    branch = out / "packs" / load(BRANCH).pack.name
    assert (branch / "index.html").is_file()
    r = run(["site", LIBRARY, "--out", out])  # pages of the earlier build that this one has not are removed
    assert r.exit_code == 0, r.output
    assert not branch.exists()
    assert (out / "index.html").is_file()


def test_a_folder_with_other_files_is_left_alone(tmp_path):
    keep = tmp_path / "notes.txt"
    keep.write_text("mine", encoding="utf-8")
    assert_bad_input(run(["site", LIBRARY, "--out", tmp_path]), "not empty", "rulecite site")
    assert keep.read_text(encoding="utf-8") == "mine"


def test_an_out_dir_that_cannot_be_written(tmp_path):
    f = tmp_path / "file"
    f.write_text("x", encoding="utf-8")
    assert_bad_input(run(["site", LIBRARY, "--out", f / "sub"]), "cannot write")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        import os

        if os.access(ro, os.W_OK):  # root writes anywhere: the read-only case cannot be made
            return
        assert_bad_input(run(["site", LIBRARY, "--out", ro / "site"]), "cannot write")
    finally:
        ro.chmod(0o700)


def test_mkdocs_missing_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mkdocs.commands.build", None)
    r = run(["site", LIBRARY, "--out", tmp_path / "s"])
    assert_bad_input(r, "mkdocs", "pip install 'rulecite[docs]'")
    assert not (tmp_path / "s").exists()
    with pytest.raises(SiteError):
        build_site([load(LIBRARY).pack], tmp_path / "t")


def test_a_pack_given_twice_and_a_missing_pack(tmp_path):
    assert_bad_input(run(["site", LIBRARY, LIBRARY, "--out", tmp_path / "s"]), "twice")
    assert_bad_input(run(["site", tmp_path / "nope", "--out", tmp_path / "s"]), "no pack")


@pytest.mark.browser
def test_published_rule_page_in_headless_chromium(site, tmp_path):
    model = load(LIBRARY).pack
    rid = "media.age"
    with serve(site) as base:
        dom = dump_dom(f"{base}/packs/{model.name}/{rule_page(rid)[:-3]}/", tmp_path / "profile")
    assert re.search(rf"<h1[^>]*>{re.escape(rid)}<", dom), "the rule page did not render"
    urls = {c.source.url for c in model.rule_versions(rid)[-1].citations if c.source.url}
    assert urls & set(re.findall(r'<a class="rc-source-link" href="([^"]+)"', dom))
    assert "md-header" in dom and "md-nav" in dom
    assert re.search(r'<span class="kd">rule</span>', dom), "the rule source is not highlighted"
