"""The README's example rule and parameter are the CMS pack's own (shortened, never made up)."""

from __future__ import annotations

import re

from rulecite.policy_lang import load, parse
from rulecite.policy_lang.syntax import nodes as ast
from rulecite.policy_lang.syntax.formatter import format_expr

from .conftest import TESTS

ROOT = TESTS.parent


def _blocks() -> list:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```([a-z]*)\n(.*?)^```$", text, re.S | re.M)  # fences in order, info string kept
    return [b for info, b in blocks if not info and re.search(r"^(rule|parameter) ", b, re.M)]


def test_the_readme_policy_block_parses_and_matches_the_pack():
    (block,) = _blocks()
    module, diags = parse(block, "README.md")
    assert module is not None and not diags, diags
    pack = load(ROOT / "packs" / "cms-care-management").pack
    seen = 0
    for d in module.decls:
        if isinstance(d, ast.RuleDecl):
            (rule,) = [r for r in pack.rules if r.id == d.id]
            assert d.title == rule.title
            assert format_expr(d.condition) == format_expr(rule.condition)
            assert [c.source for c in d.citations] == [c.source.name for c in rule.citations][:len(d.citations)]
            seen += 1
        elif isinstance(d, ast.ParamDecl):
            (param,) = [p for p in pack.parameters if p.name == d.name]
            assert d.title == param.title
            assert [(v.start, v.expr.value) for v in d.values] == [(v.start, v.value) for v in param.values]
            seen += 1
    assert seen == 2
