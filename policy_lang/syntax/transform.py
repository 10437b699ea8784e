"""Lark's parse tree -> the frozen AST of ``nodes``: one method per grammar rule (the
``Build`` Transformer), and the JSON of test facts as plain values. No Lark object
leaves this module.

The expressions and message templates are ``transform_expr.ExpressionBuild``, a mixin of
``Build``; this module keeps the declarations, citations, rules, tests and their JSON.
"""

from __future__ import annotations

import datetime as _dt
import json

from lark import Token, Transformer_NonRecursive, v_args

from rulecite.policy_lang.errors import Diagnostic
from rulecite.policy_lang.syntax import nodes as ast
from rulecite.policy_lang.syntax.transform_expr import ExpressionBuild


class Build(ExpressionBuild, Transformer_NonRecursive):
    """The one Transformer: Lark tree -> frozen AST nodes. Collects soft errors.

    Non-recursive, so a hostile file (thousands of `not`, a very long `+` chain)
    cannot exhaust the Python stack here; ``too_deep`` then bounds the AST's depth.
    """

    def __init__(self, file: str, text: str):
        super().__init__(visit_tokens=True)
        self.file = file
        self.text = text
        self.errors: list[Diagnostic] = []

    # ---- helpers
    def _span(self, meta) -> ast.Span:
        if getattr(meta, "empty", False) or not hasattr(meta, "line"):
            return ast.Span(self.file, 0, 0, 0, 0)
        return ast.Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tspan(self, tok: Token) -> ast.Span:
        return ast.Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

    def _err(self, code, msg, span, hints=()):
        self.errors.append(Diagnostic(code, msg, span, tuple(hints)))

    def _date(self, tok: Token) -> _dt.date:
        try:
            return _dt.date.fromisoformat(str(tok))
        except ValueError:
            self._err("E105", f"`{tok}` is not a calendar date", self._tspan(tok),
                      ["dates are YYYY-MM-DD with a real month and day"])
            return _dt.date(1, 1, 1)

    def _fields(self, kind, name, items, span, repeatable=()):
        out: dict = {}
        out["layout"] = tuple((key, fspan.line, fspan.end_line) for key, _, fspan in items if key)
        for key, value, fspan in items:
            if key == "layout":
                continue
            if key in repeatable:
                out.setdefault(key, []).append(value)
            elif key in out:
                self._err("E107", f"{kind} `{name}` gives `{key}` twice", fspan, [f"keep one `{key}`"])
            else:
                out[key] = value
        return out

    # ---- tokens
    def STRING(self, tok):
        try:
            value = json.loads(str(tok))
            value.encode("utf-8")
        except UnicodeEncodeError:
            self._err("E104", "string holds a \\u escape of half a surrogate pair, which is not text",
                      self._tspan(tok), ["write the character itself, or both halves of the pair"])
            value = str(tok)[1:-1]
        except ValueError:
            if any(ord(ch) < 32 for ch in str(tok)):
                self._err("E104", "string holds a control character (such as a tab)", self._tspan(tok),
                          ["write it as an escape: \\t, \\n or \\uXXXX"])
            else:
                self._err("E104", "string has an escape sequence that is not allowed", self._tspan(tok),
                          ['allowed escapes: \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX'])
            value = str(tok)[1:-1]
        return Token("STRING_VALUE", value, tok.start_pos, tok.line, tok.column, tok.end_line,
                     tok.end_column, tok.end_pos)

    @v_args(meta=True)
    def string(self, meta, toks):
        tok = toks[0]
        return Token("STR", "".join(str(t) for t in toks), tok.start_pos, tok.line, tok.column,
                     toks[-1].end_line, toks[-1].end_column, toks[-1].end_pos)

    # ---- declarations: generic field collectors
    def _kv(self, key, idx=0, conv=None):
        def method(self, meta, c):
            value = c[idx] if c else None
            if conv:
                value = conv(self, value)
            elif isinstance(value, Token):
                value = str(value)
            return (key, value, self._span(meta))
        return v_args(meta=True)(method)

    src_title = _kv(None, "title")
    src_citation = _kv(None, "citation")
    src_document = _kv(None, "document")
    src_url = _kv(None, "url")
    src_kind = _kv(None, "kind")
    src_note = _kv(None, "note")
    src_published = _kv(None, "published", conv=lambda s, v: s._date(v))
    src_effective = _kv(None, "effective", conv=lambda s, v: s._date(v))

    @v_args(meta=True)
    def source_decl(self, meta, c):
        name = str(c[0])
        f = self._fields("source", name, c[1:], self._span(meta))
        return ast.SourceDecl(name, **f, span=self._span(meta))

    code_program = _kv(None, "program")
    code_effective = _kv(None, "effective", conv=lambda s, v: s._date(v))
    code_until = _kv(None, "until", conv=lambda s, v: s._date(v))
    code_note = _kv(None, "note")

    @v_args(meta=True)
    def code_replaced_by(self, meta, c):
        return ("replaced_by", tuple(str(x) for x in c), self._span(meta))


    @v_args(meta=True)
    def code_decl(self, meta, c):
        name = str(c[0])
        f = self._fields("code", name, c[2:], self._span(meta), repeatable=("citations",))
        f["citations"] = tuple(f.get("citations", ()))
        return ast.CodeDecl(name, str(c[1]), **f, span=self._span(meta))

    set_title = _kv(None, "title")

    @v_args(meta=True)
    def set_program(self, meta, c):
        return ast.SetMember(str(c[0]), program=True, span=self._span(meta))

    @v_args(meta=True)
    def set_decl(self, meta, c):
        name = str(c[0])
        members, fields = [], []
        for x in c[1:]:
            if isinstance(x, Token):
                members.append(ast.SetMember(str(x), span=self._tspan(x)))
            elif isinstance(x, ast.SetMember):
                members.append(x)
            elif isinstance(x, tuple):
                fields.append(x)
        f = self._fields("set", name, fields, self._span(meta))
        return ast.SetDecl(name, tuple(members), **f, span=self._span(meta))

    @v_args(meta=True)
    def let_decl(self, meta, c):
        sp = self._span(meta)
        return ast.LetDecl(str(c[0]), c[1], layout=(("expr", sp.line, sp.end_line),), span=sp)

    @v_args(meta=True)
    def type_name(self, meta, c):
        return ast.TypeRef(str(c[0]), span=self._span(meta))

    @v_args(meta=True)
    def type_of(self, meta, c):
        return ast.TypeRef(str(c[0]), c[1], span=self._span(meta))

    @v_args(meta=True)
    def def_param(self, meta, c):
        return ast.Param(str(c[0]), c[1], span=self._span(meta))

    @v_args(meta=True)
    def def_decl(self, meta, c):
        sp = self._span(meta)
        params = tuple(x for x in c[1:-1] if x is not None)
        return ast.DefDecl(str(c[0]), params, c[-1], layout=(("expr", sp.line, sp.end_line),), span=sp)

    par_title = _kv(None, "title")

    @v_args(meta=True)
    def par_value(self, meta, c):
        sp = self._span(meta)
        return ("values", ast.ParamValue(self._date(c[0]), c[1], tuple(x for x in c[2:] if x is not None),
                                         span=sp), sp)

    @v_args(meta=True)
    def param_decl(self, meta, c):
        name = str(c[0])
        f = self._fields("parameter", name, c[1:], self._span(meta), repeatable=("values",))
        f["values"] = tuple(f.get("values", ()))
        return ast.ParamDecl(name, **f, span=self._span(meta))

    # ---- citations
    cite_section = _kv(None, "section")
    cite_page = _kv(None, "page")
    cite_quote = _kv(None, "quote")

    @v_args(meta=True)
    def cite_page_unverified(self, meta, c):
        return ("page_unverified", True, self._span(meta))

    @v_args(meta=True)
    def cite_restates(self, meta, c):
        return ("restates", True, self._span(meta))

    @v_args(meta=True)
    def citation(self, meta, c):
        src = str(c[0])
        f = self._fields("citation of", src, c[1:], self._span(meta))
        f.pop("layout", None)
        return ast.Citation(src, **f, span=self._span(meta))

    # ---- rules
    def rule_id(self, c):
        return c[0]

    rule_title = _kv(None, "title")
    rule_summary = _kv(None, "summary")
    rule_effective = _kv(None, "effective", conv=lambda s, v: s._date(v))
    rule_until = _kv(None, "until", conv=lambda s, v: s._date(v))
    rule_supersedes = _kv(None, "supersedes")
    rule_tag = _kv(None, "tags")

    @v_args(meta=True)
    def rule_cite(self, meta, c):
        return ("citations", c[0], self._span(meta))

    code_cite = rule_cite

    @v_args(meta=True)
    def rule_dispute(self, meta, c):
        return ("disputes", ast.Dispute(str(c[0]), str(c[1]) if c[1] is not None else None,
                                        span=self._span(meta)), self._span(meta))

    @v_args(meta=True)
    def rule_for_lines(self, meta, c):
        return ("scope", ast.LineScope(str(c[0]), str(c[1]), c[2], span=self._span(meta)), self._span(meta))

    @v_args(meta=True)
    def rule_for_record(self, meta, c):
        return ("scope", ast.RecordScope(c[0], span=self._span(meta)), self._span(meta))

    @v_args(meta=True)
    def rule_let(self, meta, c):
        return ("lets", ast.LetDecl(str(c[0]), c[1], span=self._span(meta)), self._span(meta))

    @v_args(meta=True)
    def rule_verdict(self, meta, c):
        return ("verdict", (str(c[0]), str(c[1]), c[2]), self._span(meta))

    @v_args(meta=True)
    def rule_message(self, meta, c):
        return ("message", self._template(c[0]), self._span(meta))

    @v_args(meta=True)
    def rule_suggest(self, meta, c):
        return ("suggest", self._template(c[0]), self._span(meta))

    @v_args(meta=True)
    def rule_decl(self, meta, c):
        override = c[0] is not None
        rid = str(c[1])
        f = self._fields("rule", rid, c[2:], self._span(meta),
                         repeatable=("citations", "disputes", "lets", "tags"))
        for k in ("citations", "disputes", "lets", "tags"):
            f[k] = tuple(f.get(k, ()))
        verdict = f.pop("verdict", None)
        if verdict:
            f["severity"], f["mode"], f["condition"] = verdict
        return ast.RuleDecl(rid, override, **f, span=self._span(meta))

    retire_from = _kv(None, "from_date", conv=lambda s, v: s._date(v))
    retire_reason = _kv(None, "reason")

    retire_cite = rule_cite

    @v_args(meta=True)
    def retire_decl(self, meta, c):
        rid = str(c[0])
        f = self._fields("retire", rid, c[1:], self._span(meta), repeatable=("citations",))
        f["citations"] = tuple(f.get("citations", ()))
        return ast.RetireDecl(rid, **f, span=self._span(meta))

    # ---- suggestions
    sug_title = _kv(None, "title")
    sug_effective = _kv(None, "effective", conv=lambda s, v: s._date(v))
    sug_until = _kv(None, "until", conv=lambda s, v: s._date(v))
    sug_code = _kv(None, "code")
    sug_when = _kv(None, "when")
    sug_units = _kv(None, "units")

    sug_for_lines = rule_for_lines
    sug_for_record = rule_for_record

    @v_args(meta=True)
    def sug_reason(self, meta, c):
        return ("reason", self._template(c[0]), self._span(meta))

    sug_cite = rule_cite

    @v_args(meta=True)
    def suggest_decl(self, meta, c):
        sid = str(c[0])
        f = self._fields("suggest", sid, c[1:], self._span(meta), repeatable=("citations",))
        f["citations"] = tuple(f.get("citations", ()))
        return ast.SuggestDecl(sid, **f, span=self._span(meta))

    # ---- tests
    @v_args(meta=True)
    def test_facts(self, meta, c):
        return ("facts", c[0], self._span(meta))

    test_facts_file = _kv(None, "facts_file")

    @v_args(meta=True)
    def test_facts_from(self, meta, c):
        # one field, so `facts from b {...}` and `facts {...}` together are "facts twice" (E107)
        return ("facts", (str(c[0]), c[1] if c[1] is not None else _JSONObject()), self._span(meta))

    @v_args(meta=True)
    def base_decl(self, meta, c):
        sp = self._span(meta)
        return ast.BaseDecl(str(c[0]), c[1], layout=(("facts", sp.line, sp.end_line),), span=sp)
    test_as_of = _kv(None, "as_of", conv=lambda s, v: s._date(v))

    @v_args(meta=True)
    def test_expect(self, meta, c):
        return ("expectations", c[0], self._span(meta))

    @v_args(meta=True)
    def exp_allow(self, meta, c):
        return ast.Expectation("allow", int(c[0]), span=self._span(meta))

    @v_args(meta=True)
    def exp_deny(self, meta, c):
        return ast.Expectation("deny", int(c[0]), tuple(str(x) for x in c[1:] if x is not None),
                               span=self._span(meta))

    @v_args(meta=True)
    def exp_warn(self, meta, c):
        return ast.Expectation("warn", int(c[0]), tuple(str(x) for x in c[1:]), span=self._span(meta))

    @v_args(meta=True)
    def exp_finding(self, meta, c):
        return ast.Expectation("finding", None, (str(c[0]),), span=self._span(meta))

    @v_args(meta=True)
    def exp_no_finding(self, meta, c):
        return ast.Expectation("no_finding", None, (str(c[0]),), span=self._span(meta))

    @v_args(meta=True)
    def exp_suggestion(self, meta, c):
        return ast.Expectation("suggestion", None, (), str(c[0]), int(c[1]) if c[1] is not None else None,
                               span=self._span(meta))

    @v_args(meta=True)
    def exp_rejected(self, meta, c):
        return ast.Expectation("rejected", span=self._span(meta))

    @v_args(meta=True)
    def test_decl(self, meta, c):
        name = str(c[0])
        f = self._fields("test", name, c[1:], self._span(meta), repeatable=("expectations",))
        f["expectations"] = tuple(f.get("expectations", ()))
        if isinstance(f.get("facts"), tuple):  # `facts from NAME {...}`
            f["base"], f["facts"] = f["facts"]
        return ast.TestDecl(name, **f, span=self._span(meta))

    # ---- JSON (test facts)
    def json_object(self, c):
        out = {}
        for pair in c:
            if pair is not None:
                if pair[0] in out:
                    self._err("E107", f"the facts give the key \"{pair[0]}\" twice in one object",
                              self._tspan(pair[2]), ["a JSON object holds each key once"])
                out[pair[0]] = pair[1]
        return _JSONObject(out)

    def json_pair(self, c):
        return (str(c[0]), c[1], c[0])

    def json_array(self, c):
        return _JSONArray(c)

    def json_string(self, c):
        return str(c[0])

    def json_number(self, c):
        return self._number(c[0])

    def json_true(self, c):
        return True

    def json_false(self, c):
        return False

    def json_null(self, c):
        return None

    def start(self, c):
        return [x for x in c]


class _JSONObject(dict):
    """A JSON object from test facts (a plain dict subclass, so equality is by value)."""


class _JSONArray(list):
    """A JSON array from test facts."""


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def finish(decl):
    if isinstance(decl, (ast.TestDecl, ast.BaseDecl)) and decl.facts is not None:
        import attrs

        return attrs.evolve(decl, facts=_plain(decl.facts))
    return decl
