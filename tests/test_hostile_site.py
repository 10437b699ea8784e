"""Hostile and careless input to ``rulecite site``: a pack title with markup, an out folder
with a forged marker, files or links put into a built site, an empty ``--out``. Never a
traceback, never markup reaching a page, never a deletion of what the build did not write."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from tests.cli_support import LIBRARY, assert_bad_input, run

SCRIPT = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def _copy(tmp_path: Path, name: str = "lib") -> Path:
    dest = tmp_path / name
    shutil.copytree(LIBRARY, dest)
    return dest


# ---------------------------------------------------------------- rulecite site


def test_a_hostile_pack_title_never_reaches_the_site_as_markup(tmp_path):
    pack = _copy(tmp_path)
    toml = pack / "pack.toml"
    toml.write_text(re.sub(r'(?m)^title = .*$', f'title = "P {SCRIPT}"', toml.read_text(encoding="utf-8")),
                    encoding="utf-8")
    out = tmp_path / "site"
    r = run(["site", pack, "--out", out])
    assert r.exit_code == 0, r.output
    for page in out.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "<script>alert" not in html and "<img src=x" not in html, page
    home = (out / "index.html").read_text(encoding="utf-8")
    assert "P &lt;script&gt;alert(1)&lt;/script&gt;" in home  # shown, as text


def test_a_marker_file_alone_does_not_let_a_build_delete_a_folder(tmp_path):
    victim = tmp_path / "work"
    victim.mkdir()
    (victim / "thesis.txt").write_text("mine", encoding="utf-8")
    (victim / ".rulecite-site").write_text("built by rulecite site\n", encoding="utf-8")
    assert_bad_input(run(["site", LIBRARY, "--out", victim]), "thesis.txt")
    assert (victim / "thesis.txt").read_text(encoding="utf-8") == "mine"


def test_a_file_added_to_a_built_site_stops_the_rebuild(tmp_path):
    out = tmp_path / "s"
    assert run(["site", LIBRARY, "--out", out]).exit_code == 0
    (out / "packs" / "notes.txt").write_text("mine", encoding="utf-8")
    assert_bad_input(run(["site", LIBRARY, "--out", out]), "packs/notes.txt")
    assert (out / "packs" / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert (out / "index.html").is_file()  # the earlier site is left as it was


def test_a_symlink_put_into_a_built_site_stops_the_rebuild_and_is_never_followed(tmp_path):
    out = tmp_path / "s"
    assert run(["site", LIBRARY, "--out", out]).exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine", encoding="utf-8")
    os.symlink(elsewhere, out / "packs" / "link")
    assert_bad_input(run(["site", LIBRARY, "--out", out]), "packs/link")
    assert (elsewhere / "keep.txt").read_text(encoding="utf-8") == "mine"


def test_an_empty_out_is_bad_input_not_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    assert_bad_input(run(["site", LIBRARY, "--out", ""]), "--out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_forged_marker_over_many_files_names_a_few_and_deletes_none(tmp_path):
    victim = tmp_path / "home"
    for i in range(12):
        (victim / f"d{i}").mkdir(parents=True)
        (victim / f"d{i}" / "notes.txt").write_text("mine", encoding="utf-8")
    (victim / ".rulecite-site").write_text("built by rulecite site\nd0/notes.txt\n", encoding="utf-8")
    r = run(["site", LIBRARY, "--out", victim])
    assert_bad_input(r, "d1/notes.txt", "and more")
    assert "d0/notes.txt" not in r.output  # listed in the marker: not a stranger
    assert len(list(victim.glob("d*/notes.txt"))) == 12
