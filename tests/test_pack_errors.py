"""Diagnostics about pack folders: pack.toml, the facts schema, extends, overrides."""

from __future__ import annotations

import shutil

import pytest

from rulecite.policy_lang import load, render_text

from .conftest import BRANCH, LIBRARY


def codes(path) -> list:
    return [d.code for d in load(path).diagnostics if d.severity == "error"]


def branch_copy(tmp_path):
    shutil.copytree(LIBRARY, tmp_path / "library")
    shutil.copytree(BRANCH, tmp_path / "library-branch")
    return tmp_path / "library-branch"


def test_e500_missing_toml_keys(library_copy):
    (library_copy / "pack.toml").write_text('[pack]\ntitle = "x"\n')
    loaded = load(library_copy)
    assert not loaded.ok
    msgs = [d.message for d in loaded.diagnostics if d.code == "E500"]
    assert any("name" in m for m in msgs) and any("version" in m for m in msgs)


def test_e500_unknown_table_did_you_mean(library_copy):
    text = (library_copy / "pack.toml").read_text().replace("[coverage]", "[coverge]")
    (library_copy / "pack.toml").write_text(text)
    d = [d for d in load(library_copy).diagnostics if d.code == "E500"]
    assert d and "did you mean `coverage`?" in d[0].hints


def test_e500_no_pack_here(tmp_path):
    loaded = load(tmp_path / "nothing")
    assert [d.code for d in loaded.diagnostics] == ["E500"]


def test_e500_bundled_name_did_you_mean():
    loaded = load("cms-care-managment")
    assert loaded.diagnostics[0].code == "E500"


def test_e501_schema_not_json(library_copy):
    (library_copy / "facts.schema.json").write_text("{not json")
    assert codes(library_copy) == ["E501"]


def test_e501_schema_invalid(library_copy):
    (library_copy / "facts.schema.json").write_text('{"type": "object", "properties": {"a": {"type": 5}}}')
    assert codes(library_copy) == ["E501"]


def test_e502_extends_missing(library_copy):
    p = library_copy / "pack.toml"
    p.write_text(p.read_text().replace('language = "1"', 'language = "1"\nextends = "no-such-pack"'))
    assert "E502" in codes(library_copy)


def test_e503_circular_extends(tmp_path):
    for a, b in (("a", "b"), ("b", "a")):
        d = tmp_path / a
        d.mkdir()
        (d / "pack.toml").write_text(f'[pack]\nname = "{a}"\nversion = "2026.1.0"\nextends = "../{b}"\n')
        shutil.copy(LIBRARY / "facts.schema.json", d / "facts.schema.json")
    loaded = load(tmp_path / "a")
    assert "E503" in [d.code for d in loaded.diagnostics]
    assert any("circle" in d.message for d in loaded.diagnostics)


def test_e504_bad_version(library_copy):
    p = library_copy / "pack.toml"
    p.write_text(p.read_text().replace('"2026.1.0"', '"v1"'))
    d = [d for d in load(library_copy).diagnostics if d.code == "E504"]
    assert d and "2026.1.0" in d[0].hints[0]


def test_e505_not_utf8(library_copy):
    (library_copy / "broken.policy").write_bytes(b"let x = \xff\xfe 1\n")
    assert "E505" in codes(library_copy)


def test_e506_language_version(library_copy):
    p = library_copy / "pack.toml"
    p.write_text(p.read_text().replace('language = "1"', 'language = "9"'))
    assert "E506" in codes(library_copy)


def test_e208_redefining_inherited_rule_needs_override(tmp_path):
    branch = branch_copy(tmp_path)
    text = (branch / "branch.policy").read_text().replace("override rule media.age", "rule media.age")
    (branch / "branch.policy").write_text(text)
    loaded = load(branch)
    d = [d for d in loaded.diagnostics if d.code == "E208"]
    assert d and "override rule media.age" in d[0].hints[0]


def test_e209_override_of_nothing(tmp_path):
    branch = branch_copy(tmp_path)
    text = (branch / "branch.policy").read_text().replace("override rule media.age", "override rule media.ages")
    (branch / "branch.policy").write_text(text)
    d = [d for d in load(branch).diagnostics if d.code == "E209"]
    assert d and "`media.age`" in d[0].hints[0] and d[0].hints[0].startswith("did you mean")


def test_all_errors_at_once_across_files(library_copy):
    (library_copy / "a.policy").write_text('let x = 1 +\n')
    (library_copy / "b.policy").write_text('rule r { title "unterminated }\n')
    loaded = load(library_copy)
    files = {d.span.file.rsplit("/", 1)[-1] for d in loaded.diagnostics}
    assert {"a.policy", "b.policy"} <= files


def test_render_json_has_every_field(library_copy):
    (library_copy / "a.policy").write_text('let x = totl_units\n')
    d = [d for d in load(library_copy).diagnostics if d.code == "E200"][0].to_dict()
    assert set(d) >= {"code", "name", "severity", "message", "file", "line", "column", "hints"}
    assert d["line"] == 1 and d["column"] == 9


@pytest.mark.parametrize("pack", [LIBRARY, BRANCH])
def test_example_packs_are_clean(pack):
    loaded = load(pack)
    assert loaded.ok, render_text(loaded.diagnostics, loaded.texts)
    assert not [d for d in loaded.diagnostics if d.severity == "error"]


def test_the_record_shape_is_the_packs_to_give(library_copy):
    """The core names no field of any domain: a pack that extends nothing says which
    fields hold the subject, the period and the lines; a partial [record] is an error too."""
    toml = library_copy / "pack.toml"
    text = toml.read_text()
    start = text.index("[record]")
    end = text.index("[catalog]")
    toml.write_text(text[:start] + text[end:])
    loaded = load(library_copy)
    (d,) = [d for d in loaded.diagnostics if d.severity == "error"]
    assert d.code == "E500" and "`id`, `period`, `lines`, `line_id`, `line_code`, `line_date`" in d.message
    assert d.hints and "[record]" in d.hints[0]
    toml.write_text(text[:start] + '[record]\nid = "member_id"\n\n' + text[end:])
    (d,) = [d for d in load(library_copy).diagnostics if d.severity == "error"]
    assert "`period`, `lines`" in d.message and "`id`" not in d.message


def test_require_primary_makes_a_rule_without_a_primary_citation_an_error(library_copy):
    src = library_copy / "sources.policy"
    src.write_text(src.read_text().replace("kind regulation", "kind vendor").replace("kind guidance", "kind vendor"))
    warned = [d for d in load(library_copy).diagnostics if d.code == "W702"]
    assert warned and all(d.severity == "warning" for d in warned)
    toml = library_copy / "pack.toml"
    toml.write_text(toml.read_text() + "\n[citations]\nrequire_primary = true\n")
    loaded = load(library_copy)
    errors = [d for d in loaded.diagnostics if d.code == "E214"]
    assert not loaded.ok and len(errors) == len(warned) and all(d.severity == "error" for d in errors)
    toml.write_text(toml.read_text().replace("require_primary = true", 'require_primary = "yes"'))
    assert any(d.code == "E500" and "require_primary" in d.message for d in load(library_copy).diagnostics)


def test_a_suggestion_cites_like_a_rule(library_copy):
    """Suggestions carry checked citations instead of source ids pasted into their text;
    the formatter keeps them and the site lists them."""
    from rulecite.interpreter.reports.site import render_pack_reference
    from rulecite.policy_lang import format_text

    text = ('suggest s.book {\n  title "A book instead"\n  for l in loans where l.item == "DVD"\n  code BOOK\n'
            '  reason "a book has no age limit"\n  cite BYLAWS2025 page unverified\n}\n')
    (library_copy / "sug.policy").write_text(text)
    loaded = load(library_copy)
    assert loaded.ok, [d.message for d in loaded.diagnostics]
    (s,) = [s for s in loaded.pack.suggestions if s.id == "s.book"]
    assert [c.source.name for c in s.citations] == ["BYLAWS2025"]
    assert format_text(text)[0] == text
    assert "(sources.md#source-BYLAWS2025)" in render_pack_reference(loaded.pack)["index.md"]
    (library_copy / "sug.policy").write_text(text.replace("cite BYLAWS2025", "cite BYLAWS2052"))
    assert any(d.code == "E204" for d in load(library_copy).diagnostics)


def test_a_syntax_error_in_one_file_hides_no_error_in_another(library_copy):
    """Every file parsed and checked, all errors at once: a syntax error in a.policy and
    a type error in b.policy are both reported, and the declarations of a.policy that
    parse are checked too."""
    (library_copy / "a.policy").write_text('let broken = 1 +\n\nlet fine = total_units + "x"\n')
    (library_copy / "b.policy").write_text('let also = total_units * "2"\n')
    loaded = load(library_copy)
    assert not loaded.ok and loaded.pack is None
    got = sorted((d.span.file.rsplit("/", 1)[-1], d.span.line, d.code) for d in loaded.diagnostics
                 if d.severity == "error")
    assert got == [("a.policy", 1, "E100"), ("a.policy", 3, "E300"), ("b.policy", 1, "E300")], got


def test_a_broken_declaration_is_reported_once(library_copy):
    """What only echoes a declaration that did not parse is left out: a use of the value
    it declares is not an unknown name, and nothing is 'never used'."""
    (library_copy / "a.policy").write_text(
        'let limit = 10 +\n\nlet spare = 3\n'
        'rule r.uses {\n  title "t"\n  cite BYLAWS2025\n  for l in loans\n  deny when total_units > limit\n'
        '  message "m"\n}\n'
        'rule r.bad_date {\n  title "t"\n  effective 2026-02-30\n  cite BYLAWS2025\n  for record\n'
        '  deny when false\n  message "m"\n}\n'
        'rule r.uses_unknown {\n  title "t"\n  cite BYLAWS2025\n  for l in loans\n  deny when l.days > limt\n'
        '  message "m"\n}\n')
    loaded = load(library_copy)
    got = [(d.span.line, d.code) for d in loaded.diagnostics if d.span.file.endswith("a.policy")]
    # the syntax error, the bad date, and a real unknown name: no E200 for `limit`, no
    # W701 for `spare`, no W703 for the rule whose date did not parse
    assert got == [(1, "E100"), (13, "E105"), (23, "E200")], got


def test_a_pack_toml_error_still_stops_before_checking(library_copy):
    """With pack.toml unusable there is nothing to check the files against."""
    (library_copy / "a.policy").write_text('let x = 1 +\n')
    (library_copy / "b.policy").write_text('let y = nothing_here\n')
    p = library_copy / "pack.toml"
    p.write_text(p.read_text().replace('language = "1"', 'language = "9"'))
    codes = {d.code for d in load(library_copy).diagnostics}
    assert {"E506", "E100"} <= codes and "E200" not in codes


def test_a_mangled_declaration_word_or_name_does_not_echo(library_copy):
    """The mistake may be in the declaration's own first line: `lt x = ...` or
    `let first_}onth = ...`. The uses of the name it meant are not reported again."""
    rules = library_copy / "rules.policy"
    text = rules.read_text()
    rules.write_text(text.replace("let total_units =", "lt total_units =", 1)
                     .replace("let first_ebook_month =", "let first_ebook_}onth =", 1))
    errors = [d for d in load(library_copy).diagnostics if d.severity == "error"]
    assert [(d.span.line, d.code) for d in errors] == [(1, "E100"), (2, "E100")], errors
    assert errors[0].hints == ("did you mean `let`?",)
