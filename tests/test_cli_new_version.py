"""``rulecite new-version``: copy a pack to its next version with its history intact."""

from __future__ import annotations

import filecmp
import shutil

from rulecite.policy_lang import load

from tests.cli_support import BRANCH, LIBRARY, assert_bad_input, run


def test_copies_beside_the_pack_and_bumps_only_the_version(tmp_path):
    src = tmp_path / "library"
    shutil.copytree(LIBRARY, src)
    r = run(["new-version", src, "--version", "2027.1.0"])
    assert r.exit_code == 0, r.output
    dest = tmp_path / "library-loans-2027.1.0"
    assert dest.is_dir()
    assert "Next steps" in r.stdout and "rulecite diff" in r.stdout
    old_toml, new_toml = (src / "pack.toml").read_text(), (dest / "pack.toml").read_text()
    assert new_toml == old_toml.replace('version = "2026.1.0"', 'version = "2027.1.0"')
    cmp = filecmp.dircmp(src, dest)
    assert cmp.diff_files == ["pack.toml"] and not cmp.left_only and not cmp.right_only
    loaded = load(dest)
    assert loaded.ok and loaded.pack.version == "2027.1.0"
    assert [r.key for r in loaded.pack.rules] == [r.key for r in load(src).pack.rules]


def test_out_and_a_relative_extends_still_resolves(tmp_path):
    shutil.copytree(LIBRARY, tmp_path / "library")
    shutil.copytree(BRANCH, tmp_path / "library-branch")
    out = tmp_path / "next" / "branch-2027"
    r = run(["new-version", tmp_path / "library-branch", "--version", "2027.1.0", "--out", out])
    assert r.exit_code == 0, r.output
    assert 'extends = "../../library"' in (out / "pack.toml").read_text()
    assert "extends rewritten" in r.stdout
    assert load(out).ok


def test_a_bundled_pack_is_copied_into_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run(["new-version", "cms-care-management", "--version", "2099.1.0"])
    if r.exit_code == 0:
        assert (tmp_path / "cms-care-management-2099.1.0" / "pack.toml").is_file()
    else:  # the bundled pack's own version may not parse while it is being written
        assert_bad_input(r)


def test_refuses_to_overwrite(tmp_path, library_copy):
    dest = tmp_path / "taken"
    dest.mkdir()
    (dest / "x").write_text("keep me")
    assert_bad_input(run(["new-version", library_copy, "--version", "2027.1.0", "--out", dest]), "already exists")
    assert (dest / "x").read_text() == "keep me"


def test_refuses_a_destination_inside_the_pack(library_copy):
    assert_bad_input(run(["new-version", library_copy, "--version", "2027.1.0", "--out", library_copy / "next"]),
                     "inside the pack")
    assert not (library_copy / "next").exists()
