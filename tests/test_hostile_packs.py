"""Hostile and broken packs: each gets a clear error, or is evaluated harmlessly, and no
code in any of them runs.

The corpus lives in ``tests/hostile/packs/``: one folder per pack, with an
``expect.json`` saying either which diagnostics (code, file, line) loading must report,
or, for a pack that loads, the records to evaluate and the exact messages they must
give. Strings that try to break out write ``@MARKER@``, which the tests replace with a
path in a temporary folder: a marker file there would mean some code ran. Packs too
large for git (50,000 lines, nesting thousands deep) are generated here at run time.
"""

from __future__ import annotations

import dis
import json
import os
import re
import shutil
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rulecite.interpreter import PackError, Rejection, Result, evaluate, explain, load_pack
from rulecite.interpreter.tools.packtest import run_tests
from rulecite.policy_lang import CODES, format_text, load, parse, render_text
from rulecite.policy_lang.syntax.parser import MAX_NESTING, MAX_SYNTAX_ERRORS

from .conftest import LIBRARY
from tests.forge_support import replace_first

CORPUS = Path(__file__).parent / "hostile" / "packs"
NAMES = sorted(p.name for p in CORPUS.iterdir() if (p / "expect.json").is_file())
GOOD = {"member_id": "M1", "month": "2025-03", "member": {"age": 40},
        "loans": [{"line": 1, "item": "BOOK", "units": 2, "days": 3, "date": "2025-03-02"}]}


# ---------------------------------------------------------------- no code runs

_WATCH = threading.local()
# Audit events that would mean a pack reached outside the evaluator.
_FORBIDDEN = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "subprocess.Popen", "socket.",
              "os.remove", "os.unlink", "os.rename", "os.mkdir", "os.rmdir", "shutil.", "ctypes.", "os.kill",
              "os.chmod", "os.truncate", "os.putenv", "os.unsetenv", "urllib.", "webbrowser.", "builtins.input")


def _hook(event, args):
    events = getattr(_WATCH, "events", None)
    if events is not None:
        events.append((event, args))


sys.addaudithook(_hook)  # audit hooks cannot be removed; this one records only inside `watching`


class watching:
    """Record the audit events this thread raises inside the block."""

    def __enter__(self):
        self.events = []
        _WATCH.events = self.events
        return self

    def __exit__(self, *exc):
        _WATCH.events = None

    def forbidden(self):
        return [e for e, _ in self.events if e.startswith(_FORBIDDEN)]

    def named(self, *names):
        return [(e, a) for e, a in self.events if e in names]


def _copy_corpus(tmp_path: Path, marker: Path) -> Path:
    """The corpus (and the library pack it extends, at the same relative place) in
    tmp_path, with @MARKER@ pointing at ``marker``."""
    shutil.copytree(LIBRARY, tmp_path / "packs" / "library")
    dst = tmp_path / "hostile" / "packs"
    shutil.copytree(CORPUS, dst)
    for f in dst.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            if b"@MARKER@" in data:
                f.write_bytes(data.replace(b"@MARKER@", str(marker).encode()))
    return dst


def _exercise(pack, records):
    """Everything a pack's text can reach after loading: evaluation, explanation, the
    pack's own tests, formatting of its files."""
    out = list(evaluate(pack, records))
    for rec in records:
        explain(pack, rec)
    run_tests(pack, include_inherited=False)
    for _, text in pack.model.files:
        format_text(text)
    return out


# ---------------------------------------------------------------- the corpus

def test_every_corpus_pack_has_expectations():
    assert len(NAMES) >= 25
    for name in NAMES:
        exp = json.loads((CORPUS / name / "expect.json").read_text(encoding="utf-8"))
        assert exp.get("loads") or exp.get("errors"), name


@pytest.mark.parametrize("name", NAMES)
def test_corpus_pack(tmp_path, name):
    marker = tmp_path / "MARKER"
    root = _copy_corpus(tmp_path, marker)
    folder = root / name
    exp = json.loads((CORPUS / name / "expect.json").read_text(encoding="utf-8"))
    loaded = load(folder)  # the loader never raises: problems come back as diagnostics
    for d in loaded.diagnostics:
        assert d.code in CODES
        json.dumps(d.to_dict())
    render_text(loaded.diagnostics, loaded.texts)
    if exp.get("errors"):
        assert not loaded.ok
        with pytest.raises(PackError) as info:
            load_pack(folder)
        got = {(d.code, Path(os.path.relpath(d.span.file, folder)).as_posix() if d.span.file else "", d.span.line)
               for d in info.value.diagnostics}
        for want in exp["errors"]:
            assert (want["code"], want["file"], want["line"]) in got, f"{want} not in {sorted(got)}"
    else:
        assert loaded.ok, [d.to_dict() for d in loaded.diagnostics]
        with watching() as w:
            # Without the cache: its own (legitimate) file writes would hide the pack's.
            pack = load_pack(folder, cache=False)
            out = _exercise(pack, exp["records"])
        assert not w.forbidden(), w.forbidden()
        # Through the checked-pack cache (stored, then read back): the same answers.
        for _ in range(2):
            again = list(evaluate(load_pack(folder, cache=True), exp["records"]))
            assert [o.to_json() for o in again] == [o.to_json() for o in out]
        assert all(isinstance(o, Result) for o in out), [o.to_dict() for o in out if isinstance(o, Rejection)]
        messages = {f.rule: f.message for o in out for f in o.findings}
        for rule, text in exp["messages"].items():
            assert messages.get(rule, "").replace(str(marker), "@MARKER@") == text, rule
        for o in out:
            json.loads(o.to_json())
            o.to_json().encode("utf-8")
        report = run_tests(pack)
        assert report.failed == 0, [c.failures for c in report.cases if c.failures]
    assert not marker.exists(), "code in a pack ran"


def test_evaluating_a_hostile_pack_opens_imports_and_runs_nothing(tmp_path):
    """After loading, evaluation reads no file, imports no module, compiles nothing and
    starts no process: the audit events prove it, not only the marker file."""
    marker = tmp_path / "MARKER"
    root = _copy_corpus(tmp_path, marker)
    for name in ("hostile-strings", "hostile-identifiers", "dunder-fields", "braces"):
        exp = json.loads((CORPUS / name / "expect.json").read_text(encoding="utf-8"))
        pack = load_pack(root / name)
        list(evaluate(pack, exp["records"]))  # warm every lazy path once
        with watching() as w:
            out = list(evaluate(pack, exp["records"] + [json.dumps(r) for r in exp["records"]]))
        assert len(out) == 2 * len(exp["records"])
        assert not w.forbidden()
        assert not w.named("open", "import", "exec", "compile", "os.listdir", "os.scandir"), \
            (name, w.named("open", "import", "exec", "compile", "os.listdir", "os.scandir"))
    assert not marker.exists()


def _code_objects(code):
    yield code
    for c in code.co_consts:
        if hasattr(c, "co_code"):
            yield from _code_objects(c)


@pytest.mark.parametrize("name", ["hostile-strings", "hostile-identifiers", "dunder-fields", "braces"])
def test_generated_python_names_only_its_own_namespace(tmp_path, name):
    """A static proof for the compiled pack: every global name the generated module reads
    is one the compiler put in its namespace or its few safe builtins, and no attribute it
    reads is a dunder. A pack's names and strings can only ever be constants or prefixed
    local variables."""
    root = _copy_corpus(tmp_path, tmp_path / "MARKER")
    pack = load_pack(root / name)
    cp = pack.compiled(None)
    ns = cp._ns
    builtins = ns["__builtins__"]
    for bad in ("__import__", "open", "eval", "exec", "compile", "getattr", "globals", "vars", "input",
                "breakpoint", "setattr", "delattr", "type", "object"):
        assert bad not in builtins
    code = compile(cp.source, "<check>", "exec")
    for co in _code_objects(code):
        for ins in dis.get_instructions(co):
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "DELETE_GLOBAL", "DELETE_NAME"):
                assert ins.argval in ns or ins.argval in builtins, ins.argval
            if ins.opname in ("LOAD_ATTR", "LOAD_METHOD", "STORE_ATTR", "DELETE_ATTR", "IMPORT_NAME",
                              "IMPORT_FROM"):
                assert not ins.opname.startswith("IMPORT"), ins
                assert not str(ins.argval).startswith("__"), ins.argval


def test_a_facts_file_behind_a_symlink_outside_the_pack_is_refused(tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps(GOOD))
    d = tmp_path / "p"
    shutil.copytree(LIBRARY, d)
    (d / "tests" / "link.json").symlink_to(secret)
    (d / "tests" / "link_test.policy").write_text(
        'test "through a link" {\n  facts file "tests/link.json"\n  expect line 1 allow\n}\n')
    with pytest.raises(PackError) as info:
        load_pack(d)
    assert [x.code for x in info.value.diagnostics] == ["E603"]


def test_the_quantifier_bound_is_configurable(tmp_path):
    d = tmp_path / "p"
    shutil.copytree(LIBRARY, d)
    (d / "deep.policy").write_text(
        'rule nest.three {\n  title "t"\n  cite BYLAWS2025\n  for l in loans where l.item == "BOOK"\n'
        '  deny when any(a in loans where any(b in loans where any(c in loans where c.line == a.line)))\n'
        '  message "m"\n}\n')
    load_pack(d)  # three deep: within the default bound
    with pytest.raises(PackError) as info:
        load_pack(d, max_quantifier_depth=2)
    (diag,) = [x for x in info.value.diagnostics if x.severity == "error"]
    assert diag.code == "E306" and "the limit is 2" in diag.message


# ---------------------------------------------------------------- generated at run time

def _pack_with(tmp_path, text: str, name="gen.policy") -> Path:
    d = tmp_path / "p"
    if not d.exists():
        shutil.copytree(LIBRARY, d)
    (d / name).write_text(text, encoding="utf-8")
    return d


def _rule(cond: str, rid="gen.rule", msg="m") -> str:
    return (f'rule {rid} {{\n  title "t"\n  cite BYLAWS2025\n  for l in loans where l.item == "BOOK"\n'
            f'  deny when {cond}\n  message "{msg}"\n}}\n')


DEEP = {
    "not": "not " * 10_000 + "l.units > 1",
    "minus": "-" * 10_000 + "l.units > 1",
    "sum": " + ".join(["l.units"] * 20_000) + " > 1",
    "calls": "abs(" * 5_000 + "l.units" + ")" * 5_000 + " > 1",
    "quantifiers": "any(a in loans where " * 3_000 + "true" + ")" * 3_000,
    "lists": "l.units in " + "[" * 5_000 + "1" + "]" * 5_000,
    "fields": "l" + ".units" * 10_000 + " > 1",
}


@pytest.mark.parametrize("kind", sorted(DEEP))
def test_deeply_nested_expressions_get_a_clear_error(tmp_path, kind):
    d = _pack_with(tmp_path, _rule(DEEP[kind]))
    with pytest.raises(PackError) as info:
        load_pack(d)
    codes = {x.code for x in info.value.diagnostics}
    assert "E306" in codes, [x.to_dict() for x in info.value.diagnostics][:3]


def test_deeply_nested_placeholders_and_test_facts_get_a_clear_error(tmp_path):
    text = _rule("l.units > 1", msg="{" + "not " * 5_000 + "true}")
    text += 'test "deep" {\n  facts ' + '{"a": ' * 5_000 + "1" + "}" * 5_000 + "\n  expect rejected\n}\n"
    module, diags = parse(text, "deep.policy")
    assert module is None
    # Both are reported at once: the placeholder on the message's line, the facts on theirs.
    assert [(x.code, x.span.line) for x in diags] == [("E306", 6), ("E306", 9)]


def test_nesting_up_to_the_bound_compiles_and_evaluates(tmp_path):
    """Right at the bound, every kind of nesting still compiles to Python and runs: the
    bound is low enough for Python's own parser and stack."""
    room = MAX_NESTING - 4
    conds = {
        "not": "not " * room + "l.units > 1",
        "minus": "-" * room + "member.age > 0",
        "sum": " + ".join(["member.age"] * room) + " > 0",
        "div": " / ".join(["member.age"] * room) + " > 0",
        "default": "default(" * room + "member.age" + ", 1)" * room + " > 0",
        "abs": "abs(" * room + "member.age" + ")" * room + " > 0",
    }
    text = "".join(_rule(c, rid=f"edge.{k}", msg="{" + c + "}") for k, c in conds.items())
    pack = load_pack(_pack_with(tmp_path, text))
    (out,) = evaluate(pack, [GOOD])
    assert isinstance(out, Result)
    explain(pack, GOOD)


def test_long_flat_chains_are_fine(tmp_path):
    """A flat chain of `and` / `or` is not nesting: 20,000 terms load and evaluate."""
    cond = " and ".join(["l.units > 0"] * 10_000) + " or " + " or ".join(["l.days > 9"] * 10_000)
    pack = load_pack(_pack_with(tmp_path, _rule(cond)))
    (out,) = evaluate(pack, [GOOD])
    assert out.lines[0].verdict == "deny"


def test_a_100000_character_identifier_and_string(tmp_path):
    name = "x" * 100_000
    text = f"let {name} = sum(l.units for l in loans)\n" + _rule(f"{name} > 1", msg="{" + name + "} " + "y" * 100_000)
    pack = load_pack(_pack_with(tmp_path, text))
    (out,) = evaluate(pack, [GOOD])
    # A message is cut at the engine's bound (output stays linear in the input), and says so.
    message = out.findings[0].message
    kept = message.split("... (")[0]
    assert kept == ("2 " + "y" * 100_000)[:len(kept)] and 1_000 <= len(kept) <= 2_000
    assert message.endswith(f"... ({100_002 - len(kept):,} characters left out)"), message[-60:]


def _fifty_thousand_lines(broken: bool) -> str:
    parts = ["# a generated pack file of 50,000 lines\n"]
    n = 1
    i = 0
    while n < 50_000 - 8:
        if i % 50 == 0:
            parts.append(_rule(f"l.units > {i}", rid=f"gen.r{i}", msg=f"rule {i}: {{l.units}}"))
            n += 7
        elif broken and i % 7 == 0:
            parts.append(f"let v{i} = = {i}\n")
            n += 1
        else:
            parts.append(f"let v{i} = count(l in loans where l.units > {i}) # derived value {i}\n")
            n += 1
        i += 1
    parts.append("\n" * (50_000 - n))
    return "".join(parts)


def test_a_50000_line_pack_loads_and_evaluates(tmp_path):
    text = _fifty_thousand_lines(broken=False)
    assert text.count("\n") == 50_000
    d = _pack_with(tmp_path, text)
    pack = load_pack(d)  # how long this takes is measured in benchmarks/, not here
    (out,) = evaluate(pack, [GOOD])
    assert out.lines[0].verdict == "deny"  # gen.r0: units > 0
    assert len(pack.model.rules) > 900


def test_a_broken_50000_line_pack_reports_a_capped_list_of_errors(tmp_path):
    text = _fifty_thousand_lines(broken=True)
    d = _pack_with(tmp_path, text)
    with pytest.raises(PackError) as info:
        load_pack(d)
    diags = info.value.diagnostics
    assert len(diags) == MAX_SYNTAX_ERRORS + 1
    assert "only the first" in diags[-1].message
    assert diags[0].span.line == next(n for n, ln in enumerate(text.splitlines(), 1) if "= =" in ln)


def test_an_unclosed_brace_in_a_long_file_is_one_error(tmp_path):
    text = "rule r.open {\n" + "".join(f"let v{i} = {i}\n" for i in range(20_000))
    module, diags = parse(text, "open.policy")
    assert module is None and [x.code for x in diags] == ["E103"]
    assert diags[0].span.line == 1


# ---------------------------------------------------------------- generated hostility (hypothesis)

_KEYWORDS = {"allow", "and", "as_of", "citation", "cite", "code", "deny", "dispute", "document", "effective", "expect",
             "facts", "false", "file", "finding", "for", "from", "in", "info", "kind", "let", "line", "message", "no",
             "not", "note", "null", "or", "override", "page", "per", "program", "published", "quote", "reason",
             "record", "rejected", "replaced_by", "retire", "rule", "section", "set", "source", "suggest",
             "suggestion", "summary", "supersedes", "tag", "test", "title", "true", "units", "unless", "until",
             "unverified", "url", "warn", "when", "where", "if", "then", "else", "def", "parameter", "value",
             "base", "of"}
_TAKEN = {"member_id", "month", "member", "agreements", "loans", "history", "service_date", "total_units",
          "first_ebook_month", "PRINT", "MEDIA", "ANY_ITEM"} | set(CODES)
_PYTHONIC = ["__import__", "__builtins__", "__class__", "eval", "exec", "open", "rec", "hist", "ln", "sd", "_rt",
             "_E", "_fmt", "_K0", "_rule0", "_let_x", "_decide", "None", "lambda", "import", "os", "sys", "_"]
# Every word of the library pack: a generated set or let must not collide with its names
# and quantifier variables (that is a correct E211, not what this test is after).
_LIBRARY_WORDS = {w for f in LIBRARY.rglob("*.policy")
                  for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", f.read_text(encoding="utf-8"))}
identifiers = st.one_of(st.sampled_from(_PYTHONIC), st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,12}\Z")).filter(
    lambda s: s not in _KEYWORDS and s not in _TAKEN and s not in _LIBRARY_WORDS)
nasty = st.sampled_from(list("'\"\\{}()[];#%$`\n\r\t\x00\u2028\u202e\U0001F600") +
                        ["__import__('os').system('touch @MARKER@')", "'''", '"""', "\\'", "\\\"", "{{", "}}",
                         "\\u0000", "\\x41", "{0}", "%s", "${x}", "#{x}", "\")#", "')#"])
hostile_text = st.lists(st.one_of(nasty, st.text(max_size=4)), max_size=12).map("".join)


def _lit(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _tpl(s: str) -> str:
    return _lit(s.replace("{", "{{").replace("}", "}}"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(names=st.lists(identifiers, min_size=4, max_size=4, unique=True), title=hostile_text, message=hostile_text,
       section=hostile_text, code_desc=hostile_text, member=hostile_text)
def test_generated_hostile_identifiers_strings_and_messages_never_run(tmp_path_factory, names, title, message,
                                                                      section, code_desc, member):
    tmp = tmp_path_factory.mktemp("gen")
    marker = tmp / "MARKER"

    def m(s, lead):
        # Every text starts with a letter: empty titles and messages are (rightly) pack errors.
        return lead + s.replace("@MARKER@", str(marker))

    let_name, var, set_name, code_name = names
    title, message, section, code_desc, member = (m(title, "T"), m(message, "M"), m(section, "S"),
                                                  m(code_desc, "D"), m(member, "P"))
    text = (f"source SRC_{code_name} {{\n  title {_lit(title)}\n  url {_lit('https://example.org/' + section)}\n}}\n"
            f"code {code_name} {_lit(code_desc)} {{\n  cite SRC_{code_name} section {_lit(section)}\n}}\n"
            f"set {set_name} = {{BOOK, {code_name}}}\n"
            f"let {let_name} = count({var} in loans where {var}.item in {set_name})\n"
            f"rule gen.{let_name.lower()}-rule {{\n  title {_lit(title)}\n"
            f"  cite SRC_{code_name} section {_lit(section)} quote {_lit(title)}\n"
            f"  for {var} in loans where {var}.item in {set_name}\n  deny when {let_name} > 0\n"
            f"  message {_tpl(message)} \"{{{let_name}}}\"\n  suggest {_tpl(title)}\n}}\n")
    d = tmp / "p"
    shutil.copytree(LIBRARY, d)
    (d / "gen.policy").write_text(text, encoding="utf-8")
    record = {"member_id": member, "month": "2025-03", "loans": [{"line": 1, "item": "BOOK"}]}
    pack = load_pack(d)
    with watching() as w:
        out, again = evaluate(pack, [record, json.dumps(record)])
        explain(pack, record)
    assert not w.forbidden()
    (finding,) = [f for f in out.findings if f.rule.startswith("gen.")]
    assert finding.message == message + "1"
    assert finding.suggestion == title
    assert out.id == member
    assert json.loads(out.to_json())["findings"] == json.loads(again.to_json())["findings"]
    assert not marker.exists()


# ---------------------------------------------------------------- forged models (a tampered cache entry)

# A pack whose checked model holds every kind of node and field the compiler turns into
# Python source: arithmetic, comparisons, quantifiers, folds, calls, sets, top-level and
# rule-local lets, messages, fixes, suggestions, windows and codes.
_FORGE_TEXT = """
set GEN_SET = {BOOK, MAGAZINE}
let gen_total = sum(l.units for l in loans where l.item in GEN_SET)
let gen_many = count(l in loans where l.units > 1) > 0

rule gen.all {
  title "t"
  effective 2025-01-01
  until 2030-12-31
  cite BYLAWS2025
  for l in loans where l.item == "BOOK"
  let gen_local = l.units * 2 - 1
  deny when gen_total + gen_local > 1 and (gen_many or not any(x in loans where x.days >= 0)) and -l.days / 2 < 9 and program_of(l.item) == "PRINT" and default(member.fines, 0) <= 100 and l.item not in ["DVD"]
  message "m {gen_local} {max(x.units for x in loans)} {abs(l.days)}"
  suggest "s {gen_total}"
}

rule gen.record {
  title "r"
  cite BYLAWS2025
  for record
  warn unless all(x in loans where x.units < 100)
  message "r"
}

suggest gen.suggest {
  effective 2025-01-01
  for l in loans where l.item == "BOOK"
  code MAGAZINE
  units l.units + 1
  reason "r {l.units}"
}
"""


class _EvilStr(str):
    """A string whose repr() is code: what a forged model could hold if it were not checked."""

    def __repr__(self):
        return self.payload


def _forge_base(tmp_path):
    from rulecite.policy_lang import load as load_model

    loaded = load_model(_pack_with(tmp_path, _FORGE_TEXT, name="forge.policy"))
    assert loaded.ok, [d.to_dict() for d in loaded.diagnostics]
    return loaded.pack


def _is(cls, **where):
    return lambda n: type(n) is cls and all(getattr(n, k) == v for k, v in where.items())


def _forgeries(marker: Path) -> dict:
    """name -> (which node, how to forge it). Every field of the model that reaches the
    generated Python source, each given a value that would run a command if pasted."""
    import attrs as _attrs

    from rulecite.policy_lang.syntax import nodes as A
    from rulecite.policy_lang.model import CodeSet, Derived, RecordShape, Ref, Rule, Suggestion, Window

    # Restricted builtins are no sandbox: from any object, Python reaches the real ones.
    cmd = ("[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'catch_warnings'][0]()"
           f"._module.__builtins__['__import__']('os').system('touch {marker}')")
    expr = f"+ {cmd} +"
    ident = f"x or {cmd}"
    evil = _EvilStr("x")
    evil.payload = cmd

    def ev(**kw):
        return lambda n: _attrs.evolve(n, **kw)

    class EvilDate:
        def isoformat(self):
            return evil

    first_rule = _is(Rule, id="gen.all")
    return {
        "BinOp.op": (_is(A.BinOp), ev(op=expr)),
        "BinOp.op (division)": (_is(A.BinOp, op="/"), ev(op="/ 1, " + cmd + ") + (")),
        "Compare.op": (_is(A.Compare), ev(op=expr)),
        "Compare.op (str subclass)": (_is(A.Compare), ev(op=evil)),
        "Quant.func": (_is(A.Quant), ev(func=expr)),
        "Quant.var": (_is(A.Quant), ev(var=ident)),
        "Fold.func": (_is(A.Fold), ev(func=expr)),
        "Fold.var": (_is(A.Fold), ev(var=ident)),
        "Call.func": (_is(A.Call), ev(func=expr)),
        "Call.args (arity)": (_is(A.Call, func="default"), ev(args=())),
        "Field.name": (_is(A.Field), ev(name=ident)),
        "Field.name (str subclass)": (_is(A.Field), ev(name=evil)),
        "Literal.kind": (_is(A.Literal), ev(kind=expr)),
        "Literal.value (str subclass)": (_is(A.Literal, kind="string"), ev(value=evil)),
        "Literal.value (not a number)": (_is(A.Literal, kind="int"), ev(value=evil)),
        "ListLit.items": (_is(A.ListLit), ev(items=(evil,))),
        "In.right": (_is(A.In), ev(right=evil)),
        "Not.operand": (_is(A.Not), ev(operand=cmd)),
        "Ref.kind": (_is(Ref, kind="fact"), ev(kind=expr)),
        "Ref.name (fact)": (_is(Ref, kind="fact"), ev(name=ident)),
        "Ref.name (fact, str subclass)": (_is(Ref, kind="fact"), ev(name=evil)),
        "Ref.name (let)": (_is(Ref, kind="let", name="gen_total"), ev(name=ident)),
        "Ref.name (local let)": (_is(Ref, kind="let", name="gen_local"), ev(name=ident)),
        "Ref.name (set)": (_is(Ref, kind="set"), ev(name=ident)),
        "Ref.name (var)": (_is(Ref, kind="var"), ev(name=ident)),
        "Ref.name (special)": (_is(Ref, kind="fact"), ev(kind="special", name=ident)),
        "Ref.type.default": (_is(Ref, kind="fact"), lambda n: _attrs.evolve(
            n, type=_attrs.evolve(n.type, default=evil, kind="int", optional=True))),
        "Derived.name (top-level let)": (_is(Derived, name="gen_total"), ev(name=ident)),
        "Derived.name (rule-local let)": (_is(Derived, name="gen_local"), ev(name=ident)),
        "Derived.expr": (_is(Derived, name="gen_total"), ev(expr=cmd)),
        "CodeSet.name": (_is(CodeSet, name="GEN_SET"), ev(name=evil)),
        "CodeSet.members": (_is(CodeSet, name="GEN_SET"), ev(members=(evil,))),
        "Code.name": (lambda n: type(n).__name__ == "Code" and n.name == "BOOK", ev(name=evil)),
        "Code.program": (lambda n: type(n).__name__ == "Code" and n.name == "BOOK", ev(program=evil)),
        "Rule.id": (first_rule, ev(id=evil)),
        "Rule.id (not text)": (first_rule, ev(id=("gen", cmd))),
        "Rule.mode": (first_rule, ev(mode=expr)),
        "Rule.scope": (first_rule, ev(scope=expr)),
        "Rule.var": (first_rule, ev(var=ident)),
        "Rule.codes": (first_rule, ev(codes=(evil,))),
        "Rule.window.start": (first_rule, ev(window=Window(EvilDate(), None))),
        "Rule.window.end": (first_rule, ev(window=Window(None, EvilDate()))),
        "Rule.message.parts": (first_rule, lambda n: _attrs.evolve(
            n, message=_attrs.evolve(n.message, parts=(evil,)))),
        "Rule.message.parts (not a node)": (first_rule, lambda n: _attrs.evolve(
            n, message=_attrs.evolve(n.message, parts=(3,)))),
        "Rule.suggest.parts": (first_rule, lambda n: _attrs.evolve(
            n, suggest=_attrs.evolve(n.suggest, parts=(evil,)))),
        "Rule.severity": (first_rule, ev(severity=evil)),
        "Suggestion.var": (_is(Suggestion), ev(var=ident)),
        "Suggestion.codes": (_is(Suggestion), ev(codes=(evil,))),
        "Suggestion.scope": (_is(Suggestion), ev(scope=expr)),
        "Suggestion.window": (_is(Suggestion), ev(window=Window(EvilDate(), None))),
        "Suggestion.units": (_is(Suggestion), ev(units=cmd)),
        "Suggestion.reason.parts": (_is(Suggestion), lambda n: _attrs.evolve(
            n, reason=_attrs.evolve(n.reason, parts=(evil,)))),
        "RecordShape.lines": (_is(RecordShape), ev(lines=evil)),
        "RecordShape.period": (_is(RecordShape), ev(period=evil)),
        "RecordShape.line_code": (_is(RecordShape), ev(line_code=evil)),
        "RecordShape.line_date": (_is(RecordShape), ev(line_date=evil)),
        "RecordShape.default_day": (_is(RecordShape), ev(default_day=expr)),
    }


_FORGERY_NAMES = sorted(_forgeries(Path("M")))


def test_the_forge_base_pack_compiles_and_evaluates(tmp_path):
    """The model every forgery starts from is a good one: compiled and evaluated as is."""
    from rulecite.interpreter.api import RulePack

    pack = RulePack(_forge_base(tmp_path))
    (out,) = evaluate(pack, [GOOD])
    assert isinstance(out, Result)
    assert out.lines[0].verdict == "deny" and {f.rule for f in out.findings} == {"gen.all"}
    assert [s.code for s in out.suggestions] == ["MAGAZINE"]


@pytest.mark.parametrize("name", _FORGERY_NAMES)
def test_a_forged_model_never_reaches_exec(tmp_path, name):
    """A checked model read from a tampered cache entry may hold any value in any field.
    The compiler emits only tokens from its own tables and checks every name and string
    it writes, so each forgery is a clean CompileError before any generated code exists,
    and the command it carries never runs."""
    from rulecite.interpreter.api import RulePack
    from rulecite.interpreter.codegen.compiler import CompileError, CompiledPack

    marker = tmp_path / "MARKER"
    pred, forge = _forgeries(marker)[name]
    done = [False]
    pack = replace_first(_forge_base(tmp_path), pred, forge, done)
    assert done[0], f"no node to forge for {name}"
    with watching() as w:
        with pytest.raises(CompileError):
            CompiledPack(pack)
        with pytest.raises(CompileError):
            RulePack(pack)
    assert not w.named("exec", "compile"), w.named("exec", "compile")
    assert not w.forbidden()
    assert not marker.exists(), "code in a forged model ran"


# ---------------------------------------------------------------- bounded evaluation

class _deadline:
    """Fail (instead of hanging the suite) when the block runs longer than ``seconds``:
    what these tests guard against is evaluation that would run for days."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def _expire(self, *_):
        raise TimeoutError(f"still evaluating after {self.seconds} s")

    def __enter__(self):
        import signal

        self.old = signal.signal(signal.SIGALRM, self._expire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc):
        import signal

        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.old)


def _chain(op: str, n: int, prefix="c", start="count(l in loans where l.units > 0) + 1", indent="") -> str:
    lines = [f"{indent}let {prefix}0 = {start}"]
    lines += [f"{indent}let {prefix}{i} = {prefix}{i - 1} {op} {prefix}{i - 1}" for i in range(1, n + 1)]
    return "\n".join(lines) + "\n"


def test_a_doubling_chain_of_lets_is_linear(tmp_path):
    """60 lets, each the one before it twice: computed once per record each, not 2**60 times."""
    text = _chain("+", 60, start="count(l in loans where l.units > 0)") + _rule("c60 > 0", rid="gen.doubled",
                                                                             msg="{c60}")
    pack = load_pack(_pack_with(tmp_path, text))
    with _deadline(20):
        (out,) = evaluate(pack, [GOOD])
        explain(pack, GOOD)
    assert out.findings[0].message == str(2**60)


SQUARES = {
    # a top-level let squared 40 times: 2**(2**40) if nothing stopped it
    "lets": (_chain("*", 40) + _rule("c40 > 0", rid="gen.squares"), "gen.squares", "gen.policy:42"),
    # the same with rule-local lets
    "rule lets": ('rule gen.local {\n  title "t"\n  cite BYLAWS2025\n  for l in loans where l.item == "BOOK"\n'
                  + _chain("*", 40, prefix="q", start="l.units + 1", indent="  ")
                  + '  deny when q40 > 0\n  message "m"\n}\n', "gen.local", "gen.policy:1"),
    # a suggestion's units
    "suggestion": (_chain("*", 40) + 'suggest gen.suggest {\n  for l in loans where l.item == "BOOK"\n'
                   '  code MAGAZINE\n  units c40\n  reason "r"\n}\n', "gen.suggest", "gen.policy:42"),
    # a sum of two terms, each within the bound
    "sum": (_rule("sum(x.units * 4611686018427387904 for x in loans) > 0", rid="gen.sum"), "gen.sum",
            "gen.policy:1"),
}


@pytest.mark.parametrize("kind", sorted(SQUARES))
def test_numbers_past_2_63_are_a_rejection_naming_the_rule(tmp_path, kind):
    """Arithmetic is bounded: a result beyond +-2**63 stops the record's evaluation with a
    rejection that names the rule (id, file:line), never a gigantic integer."""
    text, rid, where = SQUARES[kind]
    pack = load_pack(_pack_with(tmp_path, text))
    rec = {**GOOD, "loans": GOOD["loans"] * 2}
    with _deadline(20):
        out = list(evaluate(pack, [rec, json.dumps(rec)]))
        trace = explain(pack, rec)
    assert all(isinstance(o, Rejection) for o in out), [o.to_dict() for o in out]
    assert out[0].to_json() == out[1].to_json().replace('"input_line":2', '"input_line":1')
    reason = out[0].reason
    assert rid in reason and where in reason and "2**63" in reason, reason
    assert trace == {"rejected": out[0].to_dict()}


def test_explaining_a_branch_evaluation_skips_stays_bounded(tmp_path):
    """The explanation traces sub-expressions the compiled code short-circuits past; they
    are bounded the same way (the trace says it could not follow them), never a hang."""
    text = _chain("*", 40) + _rule("l.units > 100 and c40 > 0", rid="gen.skipped")
    pack = load_pack(_pack_with(tmp_path, text))
    with _deadline(20):
        (out,) = evaluate(pack, [GOOD])
        trace = explain(pack, GOOD)
    assert out.lines[0].verdict == "allow"
    (node,) = [r for r in trace["rules"] if r["rule"] == "gen.skipped"]
    assert node["outcome"] == "not traced" and "NumberTooLarge" in node["why"], node


def _loans(n: int) -> dict:
    return {**GOOD, "loans": [{"line": i, "item": "BOOK", "units": 1, "days": 1, "date": "2025-03-02"}
                              for i in range(1, n + 1)]}


STEPS = {
    # quantifiers nested three deep over the record's lines, on every line
    "nested": _rule("any(a in loans where any(b in loans where any(c in loans where c.line == a.line + b.line "
                    "+ 99)))", rid="gen.nested"),
    # the same work behind lets and rule-local lets, computed once but still walked
    "lets": "let walk = count(a in loans where any(b in loans where any(c in loans where c.line == 0)))\n"
            + _rule("walk > 0", rid="gen.nested"),
    # a rule for the whole record
    "record": 'rule gen.nested {\n  title "t"\n  cite BYLAWS2025\n  for record\n  deny when any(a in loans where '
              'any(b in loans where any(c in loans where c.line == 0)))\n  message "m"\n}\n',
    # `in` over a list computed at run time walks that list
    "in": "let items = collect(l.line for l in loans)\n"
          + _rule("count(a in loans where any(b in loans where a.line + 99 in items)) > 0", rid="gen.nested"),
}


@pytest.mark.parametrize("kind", sorted(STEPS))
def test_a_record_past_the_step_budget_is_a_rejection_naming_the_rule(tmp_path, kind):
    """Each record's evaluation has a budget of steps (items walked by quantifiers,
    aggregates and `in`), counted, not timed, so the outcome is the same on any machine:
    past it, the record is rejected with the rule's id and place; within it, judged."""
    from rulecite.interpreter import Limits

    pack = load_pack(_pack_with(tmp_path, STEPS[kind]))
    rec = _loans(30)
    with _deadline(60):
        tight = list(evaluate(pack, [rec, json.dumps(rec)], limits=Limits(max_steps=20_000)))
        roomy = list(evaluate(pack, [rec], limits=Limits(max_steps=10_000_000)))
    assert all(isinstance(o, Rejection) for o in tight), [o.to_dict() for o in tight]
    assert "gen.nested (gen.policy:" in tight[0].reason and "20000" in tight[0].reason, tight[0].reason
    assert tight[0].to_json() == tight[1].to_json().replace('"input_line":2', '"input_line":1')
    assert isinstance(roomy[0], Result), roomy[0].to_dict()


def test_the_step_budget_default_is_the_runtime_one():
    from rulecite.interpreter import Limits
    from rulecite.interpreter.codegen.runtime import DEFAULT_MAX_STEPS

    assert Limits().max_steps == DEFAULT_MAX_STEPS


def test_pack_tests_and_the_docs_do_not_hang_on_a_costly_pack(tmp_path):
    """`rulecite test` and the documentation build (which runs the pack's tests to show
    which rules fire) go through the same bounded evaluation."""
    from rulecite.interpreter.tools.packtest import rules_fired

    text = _chain("*", 40) + _rule("c40 > 0", rid="gen.squares")
    text += 'test "squares" {\n  facts ' + json.dumps(GOOD) + '\n  expect line 1 deny gen.squares\n}\n'
    pack = load_pack(_pack_with(tmp_path, text))
    with _deadline(20):
        report = run_tests(pack)
        fired = rules_fired(pack)
    (case,) = [c for c in report.cases if c.name == "squares"]
    assert case.failures and "gen.squares" in case.failures[0], case.failures
    assert "gen.squares" not in fired


def test_eval_takes_the_step_budget_on_the_command_line(tmp_path):
    """`--max-steps` reaches every way of evaluating: one process, --jobs."""
    from .cli_support import assert_bad_input, run

    d = _pack_with(tmp_path, STEPS["nested"])
    facts = tmp_path / "facts.jsonl"
    facts.write_text("".join(json.dumps(r) + "\n" for r in [_loans(30), GOOD, _loans(3)]))
    outs = {}
    for jobs in ("1", "2"):
        r = run(["eval", d, facts, "-q", "-j", jobs, "--max-steps", "20000"])
        assert r.exit_code == 0, r.output
        outs[jobs] = r.stdout
    assert outs["1"] == outs["2"]
    kinds = ["rejection" if json.loads(x).get("rejected") else "result" for x in outs["1"].splitlines()]
    first = json.loads(outs["1"].splitlines()[0])
    assert "gen.nested (gen.policy:" in json.dumps(first), first
    assert kinds.count("rejection") == 1, kinds
    assert run(["eval", d, facts, "-q"]).stdout.count("gen.nested (gen.policy:") == 0
    assert_bad_input(run(["eval", d, facts, "--max-steps", "0"]), "--max-steps")


# ---------------------------------------------------------------- pack text in names and comments

_BREAKOUTS = {
    "newline": "x\nimport os; os.system('touch @M@')\n#",
    "carriage return": "x\rimport os; os.system('touch @M@')\r#",
    "other line ends": "x\u2028os\x0c\x0b\x1c\x85\u2029system('touch @M@')",
    "nul and tabs": "x\x00y\t'''\"\"\"",
    "quotes and brackets": "x'); __import__('os').system('touch @M@'); ('",
    "long": "a" * 10_000,
    "empty": "",
    "digits first": "123.456",
    "a name the module uses": "_decide",
}


@pytest.mark.parametrize("name", sorted(_BREAKOUTS))
def test_a_rule_id_or_file_name_never_changes_the_code(tmp_path, name):
    """Rule ids and policy file names reach the generated module only as names reduced to
    ``[A-Za-z0-9_]`` (a numeric suffix on a collision) and as comments reduced to printable
    ASCII: whatever they hold, the module has the same lines and the same code as with
    plain ones, every comment stays one line, and nothing runs."""
    import ast as pyast

    import attrs as _attrs

    from rulecite.interpreter.api import RulePack
    from rulecite.interpreter.codegen.compiler import CompiledPack
    from rulecite.policy_lang.model import Rule, Suggestion

    marker = tmp_path / "MARKER"
    payload = _BREAKOUTS[name].replace("@M@", str(marker))
    base = _forge_base(tmp_path)
    plain = CompiledPack(base)

    def forge(n):
        return _attrs.evolve(n, id=payload, span=_attrs.evolve(n.span, file=str(tmp_path / "p" / payload)))

    pack = base
    for pred in (_is(Rule, id="gen.all"), _is(Rule, id="gen.record"), lambda n: type(n) is Suggestion):
        done = [False]
        pack = replace_first(pack, pred, forge, done)
        assert done[0]
    with watching() as w:
        cp = CompiledPack(pack)
        (out,) = evaluate(RulePack(pack), [GOOD])
    assert not w.forbidden() and not marker.exists()
    assert out.lines[0].verdict == "deny" and {f.rule for f in out.findings} == {payload}

    def code(cp):
        """The module without comments, every name made from pack text replaced by its kind."""
        text = "\n".join(line for line in cp.source.splitlines() if not line.lstrip().startswith("#"))
        return re.sub(r"\b(rule|find|suggest|any|all|count|sum|min|max|collect)_\w+", r"\1_N", text)

    assert len(cp.source.splitlines()) == len(plain.source.splitlines()) == len(cp.line_map)
    assert code(cp) == code(plain)
    tree = pyast.parse(cp.source)
    assert [type(n).__name__ for n in tree.body] == [type(n).__name__ for n in pyast.parse(plain.source).body]
    assert {n.__class__ for n in tree.body} <= {pyast.FunctionDef, pyast.Assign}
    functions = [n.name for n in tree.body if isinstance(n, pyast.FunctionDef)]
    assert len(functions) == len(set(functions)) and functions.count("_decide") == 1
    for line in cp.source.splitlines():
        if line.lstrip().startswith("#"):
            assert all(" " <= c <= "~" for c in line), repr(line)
            assert len(line) < 200
