"""Sets defined from the catalog by program (`set PRINT = {program PRINT}`): a code that
joins a program joins the rules that read its program's sets, with no edit to the sets;
a code of a program whose rules never read it is a warning (W705)."""

from __future__ import annotations

import re

from rulecite.interpreter import evaluate, load_pack
from rulecite.policy_lang import format_text, load, parse

PAMPHLET = '''
code PAMPHLET "Pamphlet" {
  program PRINT
  cite BYLAWS2025 section "1. Books"
}
'''

LIMIT_RULE = '''
rule loans.print-limit {
  title "At most 5 printed items a line"
  cite BYLAWS2025 section "2. Limits"
  for l in loans where l.item in PRINT
  deny when l.units > 5
  message "{l.units} printed items"
}
'''


def _pack(library_copy, set_line: str):
    catalog = library_copy / "catalog.policy"
    text = catalog.read_text()
    text = re.sub(r"^set PRINT = .*$", set_line, text, flags=re.M)
    catalog.write_text(text + PAMPHLET)
    (library_copy / "print.policy").write_text(LIMIT_RULE)
    return library_copy


def _verdict(pack_dir):
    pack = load_pack(pack_dir, cache=False)
    record = {"member_id": "M1", "month": "2025-03",
              "loans": [{"line": 1, "item": "PAMPHLET", "units": 9, "date": "2025-03-02"}]}
    (result,) = list(evaluate(pack, [record]))
    return result.lines[0].verdict, [f.rule for f in result.findings]


def test_a_new_code_of_the_program_joins_a_set_defined_by_program(library_copy):
    pack = _pack(library_copy, "set PRINT = {program PRINT}")
    loaded = load(pack)
    assert loaded.pack is not None, loaded.diagnostics
    members = {s.name: s.members for s in loaded.pack.sets}["PRINT"]
    assert members == ("BOOK", "MAGAZINE", "PAMPHLET")
    assert not [d for d in loaded.diagnostics if d.code == "W705"]
    verdict, rules = _verdict(pack)
    assert verdict == "deny" and "loans.print-limit" in rules


def test_a_set_listed_by_hand_misses_the_new_code_and_says_so(library_copy):
    pack = _pack(library_copy, "set PRINT = {BOOK, MAGAZINE}")
    loaded = load(pack)
    w705 = [d for d in loaded.diagnostics if d.code == "W705"]
    assert [d.span.line for d in w705] and "PAMPHLET" in w705[0].message
    assert "program PRINT" in w705[0].hints[0]
    # the rule skips the pamphlet: exactly what the warning is about
    verdict, rules = _verdict(pack)
    assert "loans.print-limit" not in rules


def test_program_members_mix_with_codes_and_sets_and_format_round_trip():
    text = 'set MIXED = {program PRINT, DVD, program "Odd name", ANY}\n'
    module, diags = parse(text, "x.policy")
    assert not diags
    members = module.decls[0].members
    assert [(m.name, m.program) for m in members] == [
        ("PRINT", True), ("DVD", False), ("Odd name", True), ("ANY", False)]
    formatted, diags = format_text(text, "x.policy")
    assert formatted == text and not diags
    assert parse(formatted, "x.policy")[0] == module
