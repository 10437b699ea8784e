"""The pack lock: a sha256 over normalized content, stable across machines and file order."""

from __future__ import annotations

import shutil

from rulecite.policy_lang import load

from .conftest import BRANCH, LIBRARY


def test_lock_is_stable(tmp_path):
    a = load(LIBRARY).pack.lock
    b = load(LIBRARY).pack.lock
    assert a == b and len(a) == 64


def test_lock_ignores_line_endings_and_copy_location(tmp_path):
    dst = tmp_path / "elsewhere" / "lib"
    shutil.copytree(LIBRARY, dst)
    for f in dst.rglob("*.policy"):
        f.write_bytes(f.read_bytes().replace(b"\n", b"\r\n"))
    assert load(dst).pack.lock == load(LIBRARY).pack.lock


def test_lock_changes_with_content(library_copy):
    before = load(library_copy).pack.lock
    p = library_copy / "rules.policy"
    p.write_text(p.read_text().replace("total_units <= 10", "total_units <= 11"))
    assert load(library_copy).pack.lock != before


def test_extending_pack_lock_covers_parent(tmp_path):
    shutil.copytree(LIBRARY, tmp_path / "library")
    shutil.copytree(BRANCH, tmp_path / "library-branch")
    before = load(tmp_path / "library-branch").pack.lock
    p = tmp_path / "library" / "rules.policy"
    p.write_text(p.read_text().replace("total_units <= 10", "total_units <= 11"))
    assert load(tmp_path / "library-branch").pack.lock != before


def test_pack_model_is_deterministic():
    a, b = load(LIBRARY).pack, load(LIBRARY).pack
    assert a == b
    assert [r.key for r in a.rules] == sorted(r.key for r in a.rules)


def test_extending_pack_inherits_and_overrides():
    pack = load(BRANCH).pack
    assert pack.extends == ("library-loans",)
    media_age = pack.rule_versions("media.age")
    assert len(media_age) == 1 and media_age[0].pack == "library-branch"
    assert media_age[0].codes == ("DVD",)
    assert pack.rule_versions("branch.ebook-cap")
    assert pack.rule_versions("loans.limit")[0].pack == "library-loans"
    assert pack.coverage == load(LIBRARY).pack.coverage


def test_lock_covers_the_amounts_table(tmp_path):
    from .conftest import TESTS

    cms = TESTS.parent / "packs" / "cms-care-management"
    dst = tmp_path / "cms"
    shutil.copytree(cms, dst)
    before = load(dst).pack.lock
    assert before == load(cms).pack.lock
    table = dst / "amounts.csv"
    text = table.read_text()
    row = next(line for line in text.splitlines() if line.startswith("99490,"))
    amount = row.split(",")[3]
    table.write_text(text.replace(row, row.replace(f",{amount},", f",{amount}1,", 1)))
    loaded = load(dst)
    assert loaded.pack is not None, [d.message for d in loaded.diagnostics if d.severity == "error"]
    assert loaded.pack.lock != before
