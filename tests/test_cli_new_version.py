"""``rulecite new-version``: copy a pack to its next version with its history intact."""

from __future__ import annotations

import filecmp
import shutil

import pytest

from rulecite.policy_lang import load
from rulecite.policy_lang.newversion import bump_title

from tests.cli_support import BRANCH, LIBRARY, assert_bad_input, run


def test_copies_beside_the_pack_bumps_the_version_and_extends_the_coverage_a_year(tmp_path):
    src = tmp_path / "library"
    shutil.copytree(LIBRARY, src)
    r = run(["new-version", src, "--version", "2027.1.0"])
    assert r.exit_code == 0, r.output
    dest = tmp_path / "library-loans-2027.1.0"
    assert dest.is_dir()
    assert "Next steps" in r.stdout and "rulecite diff" in r.stdout
    assert "coverage extended: until 2026-12-31 -> 2027-12-31" in r.stdout
    old_toml, new_toml = (src / "pack.toml").read_text(), (dest / "pack.toml").read_text()
    assert new_toml == old_toml.replace('version = "2026.1.0"', 'version = "2027.1.0"').replace(
        "until = 2026-12-31", "until = 2027-12-31")
    cmp = filecmp.dircmp(src, dest)
    assert cmp.diff_files == ["pack.toml"] and not cmp.left_only and not cmp.right_only
    assert filecmp.cmp(src / "tests" / "facts" / "two-months.jsonl", dest / "tests" / "facts" / "two-months.jsonl")
    loaded = load(dest)
    assert loaded.ok and loaded.pack.version == "2027.1.0" and str(loaded.pack.coverage) == "2025-01-01..2027-12-31"
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


def test_until_sets_the_new_last_covered_day(tmp_path, library_copy):
    out = tmp_path / "next"
    r = run(["new-version", library_copy, "--version", "2027.1.0", "--until", "2028-06-30", "--out", out])
    assert r.exit_code == 0, r.output
    assert str(load(out).pack.coverage) == "2025-01-01..2028-06-30"
    assert "Extend the coverage" not in r.stdout


def test_until_must_come_after_the_old_end(tmp_path, library_copy):
    r = run(["new-version", library_copy, "--version", "2027.1.0", "--until", "2026-06-30", "--out", tmp_path / "n"])
    assert r.exit_code == 2 and "is not after the pack's last covered day (2026-12-31)" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "n").exists()
    assert_bad_input(run(["new-version", library_copy, "--version", "2027.1.0", "--until", "2027-13-01"]),
                     "is not a date")


def test_only_the_files_the_loader_reads_are_copied(tmp_path, library_copy):
    (library_copy / "PLAN.md").write_text("# what to do next year: notes, not pack data")
    (library_copy / "drafts").mkdir()
    (library_copy / "drafts" / "ideas.txt").write_text("maybe")
    (library_copy / "drafts" / "later.policy").write_text("# an empty policy file is still read\n")
    out = tmp_path / "next"
    r = run(["new-version", library_copy, "--version", "2027.1.0", "--out", out])
    assert r.exit_code == 0, r.output
    assert not (out / "PLAN.md").exists() and not (out / "drafts" / "ideas.txt").exists()
    assert (out / "drafts" / "later.policy").is_file() and (out / "facts.schema.json").is_file()
    assert "not copied (the loader does not read them): PLAN.md, drafts/ideas.txt" in r.stdout
    assert load(out).ok


def test_every_remaining_step_is_printed(tmp_path, library_copy):
    r = run(["new-version", library_copy, "--version", "2027.1.0", "--out", tmp_path / "next"])
    steps = r.stdout.split("Next steps:")[1]
    for words in ("source behind the 2027 changes", "supersedes OLD", "dated values", "both sides of every new date",
                  "rulecite check", "rulecite test", "--coverage", f"rulecite diff {library_copy}",
                  "--facts", "--date-a 2026-12-31 --date-b 2027-01-01"):
        assert words in steps, words


def test_a_pack_without_its_own_coverage_gets_the_step_to_extend_it(tmp_path):
    shutil.copytree(LIBRARY, tmp_path / "library")
    shutil.copytree(BRANCH, tmp_path / "library-branch")
    r = run(["new-version", tmp_path / "library-branch", "--version", "2027.1.0", "--out", tmp_path / "b"])
    assert r.exit_code == 0, r.output
    assert "1. Extend the coverage: pack.toml has no [coverage] table" in r.stdout
    r = run(["new-version", tmp_path / "library-branch", "--version", "2027.1.0", "--out", tmp_path / "c",
             "--until", "2027-12-31"])
    assert r.exit_code == 2 and "no [coverage] table" in r.output


@pytest.mark.parametrize("title, expected", [
    ("Rules (CY 2025 and CY 2026 Physician Fee Schedule)", "Rules (CY 2025, CY 2026 and CY 2027 Physician Fee Schedule)"),
    ("Lending rules 2025-2026", "Lending rules 2025-2027"),
    ("Lending rules, 2025 to 2026", "Lending rules, 2025 to 2027"),
    ("Rules for 2025 and 2026", "Rules for 2025, 2026 and 2027"),
    ("Rules for CY 2024, CY 2025 and CY 2026", "Rules for CY 2024, CY 2025, CY 2026 and CY 2027"),
])
def test_bump_title(title, expected):
    assert bump_title(title, 2026, 2027) == expected


def test_bump_title_over_two_years_and_when_it_cannot():
    assert bump_title("CY 2025 and CY 2026", 2026, 2028) == "CY 2025, CY 2026, CY 2027 and CY 2028"
    assert bump_title("Rules 2025-2026", 2026, 2028) == "Rules 2025-2028"
    assert bump_title("Rules for 2026", 2026, 2027) is None
    assert bump_title("Riverside Library lending rules", 2026, 2027) is None


def test_the_title_and_stale_comments(tmp_path, library_copy):
    toml = library_copy / "pack.toml"
    toml.write_text(toml.read_text().replace('title = "Riverside Library lending rules"',
                                             'title = "Riverside Library lending rules (2025-2026)"')
                    .replace("[coverage]", "[coverage]\n# covers 2025 and 2026"))
    out = tmp_path / "next"
    r = run(["new-version", library_copy, "--version", "2027.1.0", "--out", out])
    assert 'title = "Riverside Library lending rules (2025-2027)"' in (out / "pack.toml").read_text()
    assert "Review pack.toml's comments that still name 2026 (line 10)" in r.stdout
    toml.write_text(toml.read_text().replace("(2025-2026)", "for 2026"))
    r = run(["new-version", library_copy, "--version", "2027.1.0", "--out", tmp_path / "again"])
    assert "Update the title in pack.toml" in r.stdout and "Riverside Library lending rules for 2026" in r.stdout


def test_the_steps_name_each_dated_parameter_with_its_last_value_and_the_amounts_table(tmp_path):
    from tests.cli_support import CMS

    r = run(["new-version", CMS, "--version", "2027.1.0", "--out", tmp_path / "next"])
    steps = r.stdout.split("Next steps:")[1]
    pack = load(CMS).pack
    assert pack.parameters, "the CMS pack has dated parameters"
    for p in pack.parameters:
        last = p.values[-1]
        assert f"{p.name} (now {last.value!r} from {last.start.isoformat()})" in steps
    assert f"Add 2027 rows to {pack.amounts.file}" in steps
    assert "--boundaries" in steps and "program NAME" in steps


def test_a_pack_without_parameters_or_amounts_gets_neither_step(tmp_path, library_copy):
    r = run(["new-version", library_copy, "--version", "2027.1.0", "--out", tmp_path / "next"])
    steps = r.stdout.split("Next steps:")[1]
    assert "(now " not in steps and "rows to" not in steps
