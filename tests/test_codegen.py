"""The generated Python of a compiled pack: readable, mapped back to the policy, nothing
unused, the same bytes on every run; and a rule that fails at run time is named.

``tests/golden/library.generated.py.txt`` is the library pack's generated module: a change
to the code generator shows in review as a diff of it (re-record with ``--update-golden``).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rulecite.interpreter import Rejection, Result, evaluate, load_pack
from rulecite.interpreter.codegen import runtime
from rulecite.interpreter.codegen.compiler import CompiledPack

from .cms_support import cms_pack
from .conftest import LIBRARY, ROOT, check_golden

GOLDEN = Path(__file__).parent / "golden" / "library.generated.py.txt"
# Functions the engine reads from the module's namespace by name, not from its code.
ENTRY = re.compile(r"(find|suggest)_\w+|_decide\Z")


def _module(cp):
    tree = ast.parse(cp.source)
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    constants = [t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets]
    loads = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return tree, functions, constants, loads


def test_the_library_pack_generates_its_golden_module(update_golden):
    check_golden(GOLDEN, load_pack(LIBRARY).compiled(None).source, update_golden)


def test_the_generated_module_is_the_same_from_any_folder_and_hash_seed(tmp_path):
    """No absolute path, object id or set order reaches the source: a copy of the pack in
    another folder, compiled by processes with other hash seeds, gives the same bytes."""
    copy = tmp_path / "elsewhere" / "library"
    shutil.copytree(LIBRARY, copy)
    outs = []
    for seed, pack in (("1", LIBRARY), ("2", copy), ("random", copy)):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        r = subprocess.run([str(Path(sys.executable).with_name("rulecite")), "check", "--dump-python", str(pack)],
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
        assert r.returncode == 0, r.stderr
        outs.append(r.stdout)
    assert outs[0] == outs[1] == outs[2]
    assert str(tmp_path) not in outs[1] and str(LIBRARY) not in outs[0]


@pytest.mark.parametrize("which", ["library", "cms"])
def test_no_dead_functions_or_constants(which):
    """Every function and constant of the module is read by its code, or is an entry the
    engine calls by name (findings, suggestions, ``_decide``)."""
    cp = (load_pack(LIBRARY) if which == "library" else cms_pack()).compiled(None)
    _, functions, constants, loads = _module(cp)
    dead = [f for f in functions if f not in loads and not ENTRY.match(f)]
    assert not dead
    assert not [c for c in constants if c not in loads]
    assert len(functions) == len(set(functions))


def test_names_come_from_rule_ids_and_sets():
    cp = load_pack(LIBRARY).compiled(None)
    _, functions, constants, _ = _module(cp)
    assert "find_loans_limit" in functions and "find_loans_limit_2" in functions  # two versions of one rule
    assert "rule_fines_block" in functions  # a record-level rule
    assert "let_total_units" in functions
    assert "set_CCM_CODES" in _module(cms_pack().compiled(None))[2] or any(
        c.startswith("set_") for c in _module(cms_pack().compiled(None))[2])
    assert not [f for f in functions if re.fullmatch(r"_?(rule|find|line|q)\d+", f)]


def test_every_block_opens_with_its_rule_and_every_line_maps_back():
    cp = load_pack(LIBRARY).compiled(None)
    lines = cp.source.splitlines()
    assert len(cp.line_map) == len(lines)
    for n, line in enumerate(lines, start=1):
        o = cp.origin(n)
        if line.lstrip().startswith("fired.append("):  # the hot path: an inlined line rule
            assert o is not None and o.kind == "rule"
            i = int(line.split("(")[1].rstrip(")"))
            assert cp.rules[i].id == o.name
        if re.match(r"\s*sugs.append\(\(\d", line):  # an inlined line suggestion
            assert o is not None and o.kind == "suggestion"
            assert cp.suggestions[int(line.split("((")[1].split(",")[0])].id == o.name
        if line.startswith("def ") and not line.startswith(("def line_group_", "def sugg_group_", "def _decide")):
            assert o is not None and o.file == "rules.policy" and o.line > 0, line
    # each inlined block is opened by its `# rule ID file:line` comment
    blocks = [n for n, line in enumerate(lines) if line.startswith("    # rule ")]
    assert blocks
    for n in blocks:
        o = cp.origin(n + 1)
        assert lines[n] == "    " + o.comment() and re.fullmatch(r"    # rule \S+ rules\.policy:\d+", lines[n])
    spans = set(cp.source_map.values())
    assert any(s.file == "rules.policy" for s in spans)
    assert {o.kind for o in spans} >= {"rule", "let", "suggestion"}
    assert "set" in {o.kind for o in cms_pack().compiled(None).source_map.values()}


def test_the_cms_hot_path_maps_to_its_rules():
    cp = cms_pack().compiled(None)
    lines = cp.source.splitlines()
    inside = False
    for n, line in enumerate(lines, start=1):
        if line.startswith("def line_group_"):
            inside = True
        elif line.startswith(("def ", "#", "_")):
            inside = False
        elif inside and line.startswith("        ") and line.strip() != "return fired":
            o = cp.origin(n)
            assert o is not None and o.kind == "rule" and o.file.endswith(".policy") and o.line > 0, (n, line)


def test_check_dump_python_prints_the_module(tmp_path):
    from tests.cli_support import run

    r = run(["check", "--dump-python", LIBRARY])
    assert r.exit_code == 0, r.output
    assert r.stdout == load_pack(LIBRARY).compiled(None).source
    compile(r.stdout, "<dump>", "exec")


# ---------------------------------------------------------------- failures at run time

def _untyped_pack(tmp_path, rules: str):
    """The library pack with fields the schema leaves untyped (`member.x`, `loans[].x`)."""
    d = tmp_path / "p"
    d.mkdir()
    for name in ("pack.toml", "sources.policy", "catalog.policy"):
        shutil.copy(LIBRARY / name, d / name)
    schema = json.loads((LIBRARY / "facts.schema.json").read_text())
    schema["properties"]["member"]["properties"]["x"] = {}
    schema["properties"]["loans"]["items"]["properties"]["x"] = {}
    (d / "facts.schema.json").write_text(json.dumps(schema))
    (d / "rules.policy").write_text(rules)
    return load_pack(d)


RULES = ('rule any.ops { title "t" cite BYLAWS2025 for l in loans where l.item == "BOOK"\n'
         '  deny when member.x > 3 message "m" }\n'
         'rule line.ops { title "t" cite BYLAWS2025 for l in loans where l.item == "BOOK"\n'
         '  deny when l.x + 1 > 3 message "m" }\n'
         'rule loop.ops { title "t" cite BYLAWS2025 for l in loans where l.item == "BOOK"\n'
         '  deny when any(o in loans where o.x > 3) message "m" }\n')


def _rec(member_x=None, *loans):
    member = {} if member_x is None else {"x": member_x}
    return {"member_id": "M", "month": "2025-03", "member": member, "loans": list(loans)}


def test_a_rule_failing_at_run_time_is_named_with_its_place_and_fact(tmp_path):
    pack = _untyped_pack(tmp_path, RULES)
    out = list(evaluate(pack, [
        _rec("abc", {"line": 1, "item": "BOOK"}),
        _rec(None, {"line": 1, "item": "DVD"}, {"line": 2, "item": "BOOK", "x": "s"}),
        _rec(None, {"line": 1, "item": "BOOK", "x": 1}, {"line": 2, "item": "DVD", "x": "s"}),
        _rec(None, {"line": 1, "item": "BOOK", "x": 1}),
    ]))
    a, b, c, ok = out
    assert isinstance(a, Rejection) and a.path == "$.member.x"
    assert a.reason.startswith("cannot evaluate this record: rule any.ops (rules.policy:1) failed reading "
                               "$.member.x (TypeError: '>' not supported between instances of 'str' and 'int')")
    assert isinstance(b, Rejection) and b.path == "$.loans[1].x"  # the rule's own line
    assert b.reason.startswith("cannot evaluate this record: rule line.ops (rules.policy:3) failed reading "
                               "$.loans[1].x (TypeError: ")
    assert isinstance(c, Rejection) and c.path == "$.loans[1].x"  # an item a quantifier walked
    assert c.reason.startswith("cannot evaluate this record: rule loop.ops (rules.policy:5) failed reading "
                               "$.loans[1].x (TypeError: ")
    assert isinstance(ok, Result)


def test_any_exception_a_rule_raises_is_a_rejection_naming_it(tmp_path, monkeypatch):
    """Facts the schema allows may still make a built-in fail (here one made to fail): the
    record is rejected, naming the rule, its file:line and the fact the call read."""
    def boom(*args):
        raise RuntimeError("the built-in failed")

    # before the pack is loaded: a compiled module binds each built-in once (as `_f_month_of`)
    monkeypatch.setitem(runtime.FUNCTIONS, "month_of", boom)
    pack = _untyped_pack(tmp_path, RULES + 'rule dates.far { title "t" cite BYLAWS2025\n'
                                           '  for l in loans where l.item == "BOOK"\n'
                                           '  deny when month_of(l.date) != month message "m" }\n')
    (out,) = evaluate(pack, [_rec(None, {"line": 1, "item": "BOOK", "date": "2025-03-02"})])
    assert isinstance(out, Rejection) and out.path == "$.loans[0].date"
    assert out.reason == ("cannot evaluate this record: rule dates.far (rules.policy:7) failed reading "
                          "$.loans[0].date (RuntimeError: the built-in failed); the record was not judged")


def test_a_failure_outside_generated_code_is_not_blamed_on_a_rule(tmp_path):
    cp = load_pack(LIBRARY).compiled(None)
    try:
        raise TypeError("not from a rule")
    except TypeError as e:
        assert cp.failure(e) is None


def test_compiled_pack_is_importable_from_the_compiler():
    assert CompiledPack.__module__ == "rulecite.interpreter.codegen.compiler"
