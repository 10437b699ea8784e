"""Definitions (`def`), `if ... then ... else ...` and list `+`: checked, compiled through
the code generator, explained, and bounded (a chain of definitions cannot blow up)."""

from __future__ import annotations

import shutil

import pytest

from rulecite.interpreter import Limits, evaluate, explain, load_pack
from rulecite.policy_lang import PackError

from .conftest import LIBRARY


def make(tmp_path, policy: str):
    d = tmp_path / "p"
    d.mkdir(parents=True)
    for name in ("pack.toml", "facts.schema.json", "sources.policy", "catalog.policy"):
        shutil.copy(LIBRARY / name, d / name)
    (d / "rules.policy").write_text(policy)
    return d


def load(tmp_path, policy):
    return load_pack(make(tmp_path, policy))


def errors(tmp_path, policy):
    with pytest.raises(PackError) as e:
        load(tmp_path, policy)
    return e.value.diagnostics


def rec(*loans, member=None, month="2025-03", **kw):
    out = {"member_id": "M1", "month": month, "loans": list(loans), **kw}
    if member is not None:
        out["member"] = member
    return out


def verdicts(pack, record, **kw):
    (r,) = list(evaluate(pack, [record], **kw))
    return {v.line: (v.verdict, v.rules) for v in r.lines}


RULE = """
def long_loan(l: line, days: int) = l.days > days
def media_loan(l: line) = l.item in MEDIA and long_loan(l, 7)
def item_count(xs: list of line, kind: string) = count(x in xs where x.item == kind)

rule media.long {{
  title "Media for at most a week"
  cite BYLAWS2025 section "3. Media"
  for l in loans where l.item in ANY_ITEM
  deny when {cond}
  message "{{l.item}} for {{l.days}} days"
}}
"""


def test_a_definition_is_used_in_a_rule(tmp_path):
    pack = load(tmp_path, RULE.format(cond="media_loan(l)"))
    got = verdicts(pack, rec({"line": 1, "item": "DVD", "days": 9}, {"line": 2, "item": "BOOK", "days": 30},
                             {"line": 3, "item": "DVD", "days": 3}))
    assert got[1][0] == "deny" and got[2][0] == "allow" and got[3][0] == "allow"
    cp = pack.compiled(None)
    assert "def def_media_loan(rec, hist, ln, sd, _m, p_l):" in cp.source
    assert "def def_long_loan(rec, hist, ln, sd, _m, p_l, p_days):" in cp.source


def test_if_then_else_and_list_concat(tmp_path):
    cond = ("(if l.item == \"DVD\" then 7 else 14) < l.days "
            "and item_count([l] + loans, \"DVD\") >= 2")
    pack = load(tmp_path, RULE.format(cond=cond))
    got = verdicts(pack, rec({"line": 1, "item": "DVD", "days": 9}, {"line": 2, "item": "BOOK", "days": 9}))
    assert got[1][0] == "deny"  # 9 > 7, and [l] + loans holds the DVD twice
    assert got[2][0] == "allow"  # 9 < 14


def test_explain_traces_through_a_definition(tmp_path):
    pack = load(tmp_path, RULE.format(cond="media_loan(l)"))
    out = explain(pack, rec({"line": 1, "item": "DVD", "days": 9}))
    (trace,) = [r for r in out["rules"] if r["rule"] == "media.long"]
    cond = trace["condition"]
    assert cond["expr"] == "media_loan(l)" and cond["value"] is True
    body = cond["definition"]
    assert body["expr"] == "l.item in MEDIA and long_loan(l, 7)"
    inner = body["children"][1]
    assert inner["definition"]["expr"] == "l.days > days" and inner["definition"]["value"] is True


def test_recursion_is_an_error_naming_the_cycle(tmp_path):
    diags = errors(tmp_path, "def a(x: int) = b(x) + 1\ndef b(x: int) = a(x)\n"
                             + RULE.format(cond="a(1) > 0"))
    (d,) = [d for d in diags if d.code == "E215"]
    assert "a -> b -> a" in d.message


def test_a_wrong_call_names_the_definition(tmp_path):
    diags = errors(tmp_path, RULE.format(cond="long_loan(l)"))
    assert any(d.code == "E307" and "`long_loan` takes 2 arguments" in d.message for d in diags)
    diags = errors(tmp_path / "2", RULE.format(cond="long_loan(l, \"7\")"))
    assert any(d.code == "E307" and "as `days`" in d.message for d in diags)


def test_if_branches_of_two_types_are_an_error(tmp_path):
    diags = errors(tmp_path, RULE.format(cond="(if l.days > 3 then 1 else \"x\") == 1"))
    assert any(d.code == "E300" and "branches of `if`" in d.message for d in diags)


def test_a_doubling_chain_of_definitions_is_rejected(tmp_path):
    chain = ["def f0(x: int) = x + 1"] + [f"def f{i}(x: int) = f{i - 1}(x) + f{i - 1}(x)" for i in range(1, 40)]
    diags = errors(tmp_path, "\n".join(chain) + RULE.format(cond="f39(l.days) > 0"))
    too_large = [d for d in diags if d.code == "E308"]
    # f11 stands for about 2**14 nodes, past the bound of 10,000; its callers are not told again
    assert [d.message.split("`")[1] for d in too_large] == ["f11"]


def test_quantifier_depth_counts_through_definitions(tmp_path):
    deep = ("def deep(xs: list of line) = any(a in xs where any(b in xs where any(c in xs "
            "where c.days > 0)))\n")
    diags = errors(tmp_path, deep + RULE.format(
        cond="any(x in loans where any(y in loans where deep(loans)))"))
    assert any(d.code == "E306" and "through definition `deep`" in d.message for d in diags)


def test_a_list_doubling_chain_of_lets_stops_at_the_step_budget(tmp_path):
    lets = ["let d0 = loans"] + [f"let d{i} = d{i - 1} + d{i - 1}" for i in range(1, 40)]
    pack = load(tmp_path, "\n".join(lets) + RULE.format(cond="count(x in d39 where x.days > 0) > 0"))
    (r,) = list(evaluate(pack, [rec({"line": 1, "item": "DVD", "days": 9})]))
    assert "budget" in r.to_dict()["reason"]


def test_calls_charge_the_step_budget(tmp_path):
    pack = load(tmp_path, RULE.format(cond="media_loan(l)"))
    (r,) = list(evaluate(pack, [rec({"line": 1, "item": "DVD", "days": 9})], limits=Limits(max_steps=1)))
    assert "budget" in r.to_dict()["reason"]


def test_the_workspace_knows_definitions_parameters_and_bases():
    from rulecite.policy_lang.syntax.parser import parse
    from rulecite.policy_lang.workspace import declarations, references

    src = ('def late(l: line) = l.days > cap\nparameter cap {\n  from 2025-01-01 value 3 cite X\n}\n'
           'base b {"a": 1}\nrule r.x {\n  for l in loans where late(l)\n}\n'
           'test "t" {\n  facts from b {"x": 1}\n}\n')
    module, diags = parse(src, "f.policy")
    assert not diags
    assert [(s.kind, s.name, s.span.line) for s in declarations(module, src)][:3] == [
        ("def", "late", 1), ("parameter", "cap", 2), ("base", "b", 5)]
    refs = {(r.name, r.kinds, r.span.line) for r in references(module, src)}
    assert ("late", ("def",), 7) in refs and ("b", ("base",), 10) in refs
    assert ("cap", ("let", "set", "parameter"), 1) in refs


def test_a_forged_recursive_definition_is_refused_before_any_code_runs(tmp_path):
    import attrs

    from rulecite.interpreter.codegen.compiler import CompileError, CompiledPack

    pack = load(tmp_path, RULE.format(cond="media_loan(l)")).model
    loop = pack.definition("long_loan")
    call = next(x for x in pack.definition("media_loan").expr.items if type(x).__name__ == "Apply")
    forged = attrs.evolve(loop, expr=attrs.evolve(call, name="long_loan", args=call.args + (call.args[0],)))
    bad = attrs.evolve(pack, definitions=tuple(forged if d.name == "long_loan" else d for d in pack.definitions))
    with pytest.raises(CompileError, match="calls itself"):
        CompiledPack(bad)


def test_explain_traces_the_branch_an_if_takes(tmp_path):
    pack = load(tmp_path, RULE.format(cond="(if l.item in MEDIA then 7 else 30) < l.days"))
    out = explain(pack, rec({"line": 1, "item": "DVD", "days": 9}))
    (trace,) = [r for r in out["rules"] if r["rule"] == "media.long"]
    branch = trace["condition"]["children"][0]
    assert branch["value"] == 7 and [c["expr"] for c in branch["children"]] == ["l.item in MEDIA", "7"]
    assert trace["fires"] is True


def test_lets_and_suggestions_call_definitions(tmp_path):
    policy = RULE.format(cond="media_count > 1") + """
let media_count = count(x in loans where media_loan(x))

suggest books.instead {
  title "Books instead of long media loans"
  for l in loans where media_loan(l)
  code BOOK
  units item_count(loans, "DVD")
  reason "{l.item} is lent for {l.days} days"
  cite BYLAWS2025 section "3. Media"
}
"""
    pack = load(tmp_path, policy)
    (r,) = list(evaluate(pack, [rec({"line": 1, "item": "DVD", "days": 9}, {"line": 2, "item": "DVD", "days": 8})]))
    assert [v.verdict for v in r.lines] == ["deny", "deny"]
    assert [(s.code, s.units) for s in r.suggestions] == [("BOOK", 2), ("BOOK", 2)]
