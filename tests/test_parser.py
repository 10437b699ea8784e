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


# ---------------------------------------------------------------- what authors get wrong (issue 17)

def _one(text):
    module, diags = parse(text, "m.policy")
    assert module is None and len(diags) == 1, diags
    return diags[0]


@pytest.mark.parametrize("text,caret,hint", [
    # a misspelled keyword: the keywords the parser takes at that place, nearest first
    ('rule r {\n  supercedes a.b\n}\n', (2, 3), "did you mean `supersedes`?"),
    ('rule r {\n  deny unles x\n}\n', (2, 8), "did you mean `unless`?"),
    ('rul r {\n  title "t"\n}\n', (1, 1), "did you mean `rule`?"),
    ('rule r {\n  titel "t"\n}\n', (2, 3), "did you mean `title`"),
    # an operator as another language writes it
    ('let x = a => 1\n', (1, 11), "did you mean `>=`?"),
    ('let x = a =< 1\n', (1, 11), "did you mean `<=`?"),
    ('let x = a <> 1\n', (1, 11), "did you mean `!=`?"),
    ('rule r {\n  deny when a = 1\n}\n', (2, 15), "did you mean `==`?"),
    ('let x == 1\n', (1, 7), "a `let` takes its value with a single `=`"),
    ('let x = 1\nlet y == 2\n', (2, 7), "a `let` takes its value with a single `=`"),
    # words in the wrong order: the order that parses
    ('rule r {\n  when deny x\n}\n', (2, 3), "the words go in this order: `deny when`"),
    ('test "t" {\n  expect deny line 2\n}\n', (2, 10), "the words go in this order: `line 2 deny`"),
    ('code "Name" X1 {\n}\n', (1, 6), 'the words go in this order: `X1 "Name"`'),
    ('rule r {\n  dispute per S "why"\n}\n', (2, 11), 'the words go in this order: `"why" per S`'),
    ('rule r {\n  2026-01-01 effective\n}\n', (2, 3), "the words go in this order: `effective 2026-01-01`"),
    # a quoted date
    ('rule r {\n  until "2026-12-31"\n}\n', (2, 9), "dates are written without quotes: `2026-12-31`"),
])
def test_each_mistake_is_one_diagnostic_with_its_hint(text, caret, hint):
    d = _one(text)
    assert (d.span.line, d.span.column) == caret, d
    assert any(hint in h for h in d.hints), d.hints


def test_a_missing_brace_names_the_brace_left_open_and_its_line():
    text = 'rule r.a {\n  title "x"\n  message "m"\n\nrule r.b {\n  title "y"\n}\n'
    d = _one(text)
    assert d.code == "E103"
    assert "the `{` opened on line 1, column 10 (`rule r.a {`) is never closed" in d.message
    assert (d.span.line, d.span.column) == (3, 14)  # where the `}` belongs
    assert d.hints == ("close it with `}` before `rule` on line 5",)
    d = _one('set S = {A, B\n')
    assert d.code == "E103" and "line 1, column 9" in d.message
    d = _one('let x = count(a in b\n')
    assert d.code == "E100" and "missing `)`" in d.message


def test_read_as_a_name_only_when_it_was():
    """`deny` after an incomplete expression was read as a name; `deny` before a
    misspelled `unless` was not, and must not get that hint."""
    d = _one('rule r {\n  for l in x where l.a ==\n  deny when l.b\n}\n')
    assert any("`deny` was read as a name" in h for h in d.hints)
    d = _one('rule r {\n  for l in x\n  deny l.b > 1\n}\n')
    assert not any("read as a name" in h for h in d.hints)
    assert any("`deny when CONDITION`" in h for h in d.hints)


def test_keyword_suggestions_come_from_the_grammar():
    """The did-you-mean words are read from the grammar's terminals at import time, so a
    keyword added to the grammar is suggested with no change to the error module."""
    from rulecite.policy_lang.keywords import all_keywords
    from rulecite.policy_lang.syntax.syntax_errors import TERMINAL_WORDS

    words = {w for ws in TERMINAL_WORDS.values() for w in ws}
    assert {"supersedes", "unless", "deny", "rule", "effective"} <= words
    assert set(TERMINAL_WORDS["SEVERITY"]) == {"deny", "warn", "info"}
    assert "NAME" not in TERMINAL_WORDS and "RULE_ID" not in TERMINAL_WORDS
    assert words & set(all_keywords())


def test_parse_partial_keeps_what_parses_at_its_lines():
    from rulecite.policy_lang.syntax.parser import parse_partial

    text = 'let a = 1\nlet broken = 2 +\n\nrule r.x {\n  title "t"\n\nset S = {A, B}\nlet b = (\n'
    module, diags, unparsed = parse_partial(text, "p.policy")
    assert [(type(d).__name__, d.span.line) for d in module.decls] == [("LetDecl", 1), ("SetDecl", 7)]
    assert unparsed == {"broken", "r.x", "b"}
    assert [d.span.line for d in diags] == [2, 5, 8]
    module, diags, unparsed = parse_partial('let a = 1\n', "p.policy")
    assert unparsed is None and not diags and len(module.decls) == 1
    # a parse-time error (not a calendar date) leaves its declaration out too
    module, diags, unparsed = parse_partial('let a = 2026-02-30\nlet b = 1\n', "p.policy")
    assert [d.code for d in diags] == ["E105"] and unparsed == {"a"}
    assert [d.name for d in module.decls] == ["b"]
    # refused whole (nested too deep): no module, every name it declares
    module, diags, unparsed = parse_partial("let ok = 1\nlet deep = " + "not " * 80 + "true\n", "p.policy")
    assert module is None and [d.code for d in diags] == ["E306"] and unparsed == {"ok", "deep"}


@pytest.mark.parametrize("text,caret,hint", [
    ('rule r {\n  deny whenn l.days > 1\n}\n', (2, 8, 13), "did you mean `when`?"),
    ('rule r {\n  denyy when x\n}\n', (2, 3, 8), "did you mean `deny`?"),
    # this one parsed, as `deny unless x > 1`, before the keywords were whole words
    ('rule r {\n  deny unlessx > 1\n}\n', (2, 8, 15), "did you mean `unless`?"),
])
def test_a_keyword_glued_to_more_letters_is_named(text, caret, hint):
    """`deny`, `when` and the other verdict words are whole words: the lexer never takes
    `when` off the front of `whenn`, so the error is at the word itself, caret under all of
    it, with the keyword meant."""
    d = _one(text)
    assert (d.span.line, d.span.column, d.span.end_column) == caret
    assert d.hints == (hint,) and d.label is None
