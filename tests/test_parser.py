"""The parser: AST shape, spans, the catalogue of known mistakes, no Lark leaks."""

from __future__ import annotations

import attrs
import lark
import pytest

from rulecite.policy_lang import parse

from rulecite.policy_lang.syntax import nodes as ast
from rulecite.policy_lang.syntax.parser import MISTAKES


def test_hand_built_tree_equals_parsed_tree():
    module, diags = parse('let x = count(c in claims where c.units > 2 and c.code in S)\n', "a.policy")
    assert not diags
    expected = ast.LetDecl("x", ast.Quant(
        "count", "c", ast.Name("claims"),
        ast.And((ast.Compare(">", ast.Field(ast.Name("c"), "units"), ast.Literal("int", 2)),
                 ast.In(ast.Field(ast.Name("c"), "code"), ast.Name("S"))))))
    assert module.decls == (expected,)


def test_spans_point_at_the_source():
    module, _ = parse('\n\nlet total = a + b\n', "f.policy")
    let = module.decls[0]
    assert (let.span.file, let.span.line, let.span.column) == ("f.policy", 3, 1)
    assert let.expr.span.column == 13


def test_spans_do_not_take_part_in_equality():
    a, _ = parse("let x = 1\n", "a.policy")
    b, _ = parse("\n\n   let   x = 1\n", "b.policy")
    assert a.decls == b.decls
    assert a.decls[0].span != b.decls[0].span


def test_no_lark_object_leaves_the_parser():
    text = open(__file__.replace("test_parser.py", "packs/library/rules.policy")).read()
    module, _ = parse(text, "rules.policy")
    for decl in module.decls:
        for node in ast.walk(decl):
            assert not isinstance(node, (lark.Tree, lark.Token)), node
            if attrs.has(type(node)):
                for f in attrs.fields(type(node)):
                    v = getattr(node, f.name)
                    assert not isinstance(v, (lark.Tree, lark.Token)), (type(node).__name__, f.name)
                    if isinstance(v, str):
                        assert type(v) is str, (type(node).__name__, f.name, type(v))


@pytest.mark.parametrize("label,snippet", [(k, s) for k, v in MISTAKES.items() for s in v])
def test_mistake_catalogue_labels_its_examples(label, snippet):
    module, diags = parse(snippet, "m.policy")
    assert module is None
    assert diags and diags[0].label == label, (snippet, diags)


def test_adjacent_strings_join():
    module, _ = parse('rule r { title "a" "b" }', "x")
    assert module.decls[0].title == "ab"


def test_message_placeholders_become_expressions():
    module, _ = parse('rule r { message "{x.y} and {{literal}}" }', "x")
    parts = module.decls[0].message.parts
    assert parts == (ast.Field(ast.Name("x"), "y"), " and {literal}")


def test_keywords_stay_usable_as_field_names():
    module, diags = parse("let x = line.code == \"A\" and r.date > 2026-01-01 and r.rule\n", "x")
    assert not diags and module is not None


def test_bom_is_ignored():
    module, diags = parse("\ufefflet x = 1\n", "x")
    assert module is not None and not diags


def test_test_facts_are_plain_json():
    module, _ = parse('test "t" { facts {"a": [1, 2.5, -3, true, null, {"b": "c"}]} expect rejected }', "x")
    facts = module.decls[0].facts
    assert facts == {"a": [1, 2.5, -3, True, None, {"b": "c"}]}
    assert type(facts) is dict and type(facts["a"]) is list
