"""Hostile uses of the newer language features (definitions, if-then-else, list `+`, dated
parameters, base records, sets by program, the amounts table): each is a clear diagnostic or
a bounded evaluation, never a traceback, and nothing in the pack runs.

The broad corpus is tests/test_hostile_packs.py; this file holds what attacking those
features found (each test failed before its fix) and the bounds they must keep.
"""

from __future__ import annotations

import json
import shutil
import tracemalloc

import pytest
from rulecite.interpreter import Rejection, evaluate, explain, load_pack

from .conftest import LIBRARY
from tests.forge_support import replace_first

GOOD = {"member_id": "M1", "month": "2025-03", "member": {"age": 40},
        "loans": [{"line": 1, "item": "BOOK", "units": 2, "days": 3, "date": "2025-03-02"}]}


def _pack(tmp_path, text: str, schema_extra: dict | None = None):
    d = tmp_path / "p"
    shutil.copytree(LIBRARY, d)
    if schema_extra:
        s = json.loads((d / "facts.schema.json").read_text())
        s["properties"]["member"]["properties"].update(schema_extra)
        (d / "facts.schema.json").write_text(json.dumps(s))
    (d / "gen.policy").write_text(text, encoding="utf-8")
    return d


def _rule(cond: str, rid="gen.rule", msg="m") -> str:
    return (f'rule {rid} {{\n  title "t"\n  cite BYLAWS2025\n  for l in loans where l.item == "BOOK"\n'
            f'  deny when {cond}\n  message "{msg}"\n}}\n')


# ---------------------------------------------------------------- arithmetic on untyped values

# A field the schema leaves untyped may hold text or a list. `"ab" * 50000000` is a 100 MB
# string in Python (and `* 9000000000000000000` asks for exabytes) before the +-2**63 check
# sees it: an operand that is not a number must stop the evaluation before the operator runs.
UNTYPED = {
    "field": "member.extra * 50000000 > 0",
    "field on the right": "50000000 * member.extra > 0",
    "plus": "member.extra + member.extra > 0",
    "through a definition": None,  # see below
    "through a let": None,
}


@pytest.mark.parametrize("kind", sorted(UNTYPED))
@pytest.mark.parametrize("value", ["ab", [1, 2]])
def test_arithmetic_on_an_untyped_text_or_list_is_refused_before_it_runs(tmp_path, kind, value):
    text = {
        "through a definition": "def times(x: int) = x * 50000000\n" + _rule("times(member.extra) > 0"),
        "through a let": "let e = member.extra\n" + _rule("e * 50000000 > 0"),
    }.get(kind) or _rule(UNTYPED[kind])
    pack = load_pack(_pack(tmp_path, text, {"extra": {"description": "anything"}}))
    rec = {**GOOD, "member": {"age": 40, "extra": value}}
    tracemalloc.start()
    try:
        (out,) = evaluate(pack, [rec])
        trace = explain(pack, rec)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000, f"{peak:,} bytes allocated"
    assert isinstance(out, Rejection), out.to_dict()
    assert "gen.rule (gen.policy:" in out.reason and "not a number" in out.reason, out.reason
    assert trace["rejected"]["reason"] == out.reason


def test_arithmetic_on_untyped_numbers_still_works(tmp_path):
    text = "def times(x: int) = x * 3\n" + _rule("times(member.extra) + member.extra * 2 > 10", msg="{member.extra * 2}")
    pack = load_pack(_pack(tmp_path, text, {"extra": {"description": "anything"}}))
    (out,) = evaluate(pack, [{**GOOD, "member": {"age": 40, "extra": 3}}])
    assert out.lines[0].verdict == "deny" and out.findings[0].message == "6"
    (absent,) = evaluate(pack, [GOOD])
    assert absent.lines[0].verdict == "allow"


# ---------------------------------------------------------------- dated parameters with many values

class _Counting:
    """A sequence of (start day, value) that counts the items read from it."""

    def __init__(self, items):
        self.items, self.reads = tuple(items), 0

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        self.reads += 1
        return self.items[i]

    def __iter__(self):
        for x in self.items:
            self.reads += 1
            yield x


def _days(n):
    import datetime as dt

    return [((dt.date(2000, 1, 1) + dt.timedelta(days=i)).isoformat(), i) for i in range(n)]


def test_reading_a_parameter_of_10000_values_reads_a_few_of_them():
    """A read of a dated parameter is not charged to the step budget, so it must not walk
    the parameter's values: a pack with 10,000 values read inside nested quantifiers made
    every read cost 10,000 (seconds per record, unbounded by the budget)."""
    from rulecite.interpreter.codegen import runtime

    values = _Counting(_days(10_000))
    assert runtime.in_force(values, "2025-03-02", None, None) == 9192
    assert runtime.in_force(values, "1999-12-31", None, None) is None
    assert runtime.in_force(values, "2000-01-01", None, None) == 0
    assert runtime.in_force(values, "2100-01-01", None, None) == 9999
    assert values.reads <= 4 * 20, values.reads


def test_a_finding_picks_its_parameter_citations_without_walking_every_value():
    from rulecite.interpreter.codegen.compiler import RuleInfo

    values = _Counting((start, ({"source": f"S{i}"},)) for start, i in _days(10_000))
    info = RuleInfo(0, None, "0000-00-00", "9999-99-99", ({"source": "RULE"},), (), (("cap", values),))
    assert info.citations_on("2025-03-02") == ({"source": "RULE"}, {"source": "S9192"})
    assert info.citations_on("1999-01-01") == ({"source": "RULE"},)
    assert values.reads <= 2 * 20, values.reads


# ---------------------------------------------------------------- base records

@pytest.mark.parametrize("base", ["base adult null", "base adult [1, 2]", 'base adult {"member_id": "M1",}',
                                  "base adult from other {}"])
def test_a_base_that_does_not_parse_is_one_error_not_also_an_unknown_base(tmp_path, base):
    """A test starting from a base whose text did not parse gets the base's syntax error,
    not also "starts from unknown base" (an echo of the same mistake)."""
    from rulecite.policy_lang import load

    d = tmp_path / "p"
    shutil.copytree(LIBRARY, d)
    (d / "tests" / "base_test.policy").write_text(
        base + '\n\ntest "from it" {\n  facts from adult\n  expect line 1 allow\n}\n')
    loaded = load(d)
    errors = [(x.code, x.span.line) for x in loaded.diagnostics if x.severity == "error"]
    assert len(errors) == 1 and errors[0][0] in ("E100", "E101", "E102") and errors[0][1] == 1, errors


# ---------------------------------------------------------------- the amounts table and --rates

AMOUNTS_HEADER = "code,from,until,amount,source,verified,basis\n"
BOOK_ROW = "BOOK,2025-01-01,2025-12-31,12.50,BYLAWS2025,yes,replacement\n"


def _amounts_pack(tmp_path, csv_text: str | bytes, file_setting='"amounts.csv"'):
    d = tmp_path / "p"
    shutil.copytree(LIBRARY, d)
    with (d / "pack.toml").open("a") as f:
        f.write(f'\n[amounts]\nfile = {file_setting}\nlabel = "replacement cost"\n')
    target = d / "amounts.csv"
    target.write_bytes(csv_text if isinstance(csv_text, bytes) else csv_text.encode())
    return d


def test_overlapping_rows_are_one_diagnostic_each_not_one_per_pair():
    """Every row of one code on the same days: each pair was compared and reported
    (2,000 rows gave 1,999,000 diagnostics in 9 s; 150,000 rows, under the 10 MB file
    bound, never finished). Each row that overlaps an earlier one is told once."""
    from rulecite.policy_lang.amounts import parse_rates

    n = 2_000
    text = "code,amount,from,until\n" + "X,1.00,2025-01-01,2025-12-31\n" * n
    _, diags = parse_rates(text, "rates.csv")
    assert len(diags) == n - 1
    assert [d.span.line for d in diags] == list(range(3, n + 2))
    assert "on line 2" in diags[0].message and "2025-01-01..2025-12-31 here" in diags[0].message
    assert all("on line" in d.message for d in diags)


def test_overlaps_are_found_in_any_order_and_open_windows():
    from rulecite.policy_lang.amounts import parse_rates

    text = ("code,amount,from,until\nX,1.00,2025-06-01,2025-06-30\nX,1.00,2025-01-01,2025-03-31\n"
            "Y,1.00,,\nX,1.00,2025-03-01,2025-05-31\nX,2.00,2025-07-01,\nY,2.00,2026-01-01,2026-01-31\n"
            "X,3.00,2025-05-31,2025-05-31\n")
    _, diags = parse_rates(text, "rates.csv")
    told = [(d.span.line, d.message.split("(")[1].split(" on line ")[1].split(",")[0]) for d in diags]
    # line 5 overlaps line 3 (March), line 7 overlaps line 4 (Y open), line 8 overlaps line 5 (May 31)
    assert told == [(5, "3"), (7, "4"), (8, "5")], [d.message for d in diags]


def test_a_nul_in_the_amounts_file_setting_is_a_diagnostic(tmp_path):
    from rulecite.policy_lang import load

    loaded = load(_amounts_pack(tmp_path, AMOUNTS_HEADER + BOOK_ROW, file_setting='"amounts.csv\\u0000.txt"'))
    errors = [(x.code, x.span.file.rsplit("/", 1)[-1], x.span.line) for x in loaded.diagnostics
              if x.severity == "error"]
    assert errors and errors[0][:2] == ("E507", "pack.toml"), errors


def test_amounts_with_old_mac_line_ends_are_read(tmp_path):
    """A spreadsheet saved as "CSV (Macintosh)" ends lines with a lone CR."""
    from rulecite.policy_lang import load

    loaded = load(_amounts_pack(tmp_path, (AMOUNTS_HEADER + BOOK_ROW).replace("\n", "\r")))
    assert loaded.ok, [x.message for x in loaded.diagnostics]
    assert len(loaded.pack.amounts.rows) == 1 and loaded.pack.amounts.rows[0].line == 2


def test_read_rates_refuses_a_path_with_a_nul_cleanly():
    from rulecite.policy_lang.amounts import read_rates
    from rulecite.policy_lang.errors import RuleciteError

    with pytest.raises(RuleciteError) as info:
        read_rates("rates\x00.csv")
    assert info.value.code == "E507" and "cannot read" in str(info.value)


# ---------------------------------------------------------------- definitions: the messages

def test_a_line_passed_as_a_record_is_named_a_line(tmp_path):
    """`record` and `line` are both records to the type checker; the message named both
    "a record" (`takes record as r, got a record`), which reads as no mistake at all."""
    from rulecite.policy_lang import load

    text = "def n(r: record) = count(x in r.loans where x.units > 0)\ndef u(x: line) = x.units\n"
    text += _rule("n(l) > 0 or u(history[0]) > 0 or any(h in history where u(h) > 0)")
    loaded = load(_pack(tmp_path, text.replace("u(history[0]) > 0 or ", "")))
    msgs = [x.message for x in loaded.diagnostics if x.code == "E307"]
    assert msgs == ["definition `n` takes `record` as `r`, got a line of `loans` (`l`)",
                    "definition `u` takes `line` as `x`, got a record (`h`)"], msgs


# ---------------------------------------------------------------- forged models: the new nodes

_FORGE_NEW = """
parameter gen_cap {
  title "t"
  from 2025-01-01 value 2 cite BYLAWS2025
  from 2026-01-01 value 3 cite BYLAWS2025
}
parameter gen_items {
  title "t"
  from 2025-01-01 value ["BOOK", "DVD"] cite BYLAWS2025
}
def gen_big(x: line, n: int) = if x.units > n then [x.units] + [n] else []

rule gen.new {
  title "t"
  cite BYLAWS2025
  for l in loans where l.item in gen_items
  deny when count(u in gen_big(l, gen_cap) where u > 0) > 0
  message "m {gen_cap}"
}
"""


class _Evil(str):
    def __repr__(self):
        return self.payload


def _forge_new_base(tmp_path):
    from rulecite.policy_lang import load

    loaded = load(_pack(tmp_path, _FORGE_NEW))
    assert loaded.ok, [x.to_dict() for x in loaded.diagnostics]
    return loaded.pack


def _new_forgeries(marker):
    import datetime as dt

    import attrs
    from rulecite.policy_lang.model import (
        Apply,
        Concat,
        Definition,
        Parameter,
        ParamValue,
        Ref,
    )
    from rulecite.policy_lang.syntax import nodes as A

    cmd = ("[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'catch_warnings'][0]()"
           f"._module.__builtins__['__import__']('os').system('touch {marker}')")
    evil = _Evil("x")
    evil.payload = cmd
    ident = f"x or {cmd}"

    class EvilDate(dt.date):
        def isoformat(self):
            return evil

    def ev(**kw):
        return lambda n: attrs.evolve(n, **kw)

    def is_(cls, **where):
        return lambda n: type(n) is cls and all(getattr(n, k) == v for k, v in where.items())

    first_value = lambda p: attrs.evolve(p, values=(attrs.evolve(p.values[0], **FIELD),) + p.values[1:])
    FIELD = {}

    def value(**kw):
        def forge(p):
            FIELD.clear()
            FIELD.update(kw)
            return first_value(p)
        return forge

    return {
        "Apply.name": (is_(Apply), ev(name=ident)),
        "Apply.name (str subclass)": (is_(Apply), ev(name=evil)),
        "Apply.args (not a tuple)": (is_(Apply), ev(args=[cmd])),
        "Apply.args (arity)": (is_(Apply), lambda n: attrs.evolve(n, args=n.args[:1])),
        "Definition.name": (is_(Definition), ev(name=ident)),
        "Definition.params (name)": (is_(Definition), lambda n: attrs.evolve(
            n, params=((ident, n.params[0][1]),) + n.params[1:])),
        "Definition.params (twice)": (is_(Definition), lambda n: attrs.evolve(n, params=(n.params[0], n.params[0]))),
        "Definition.params (not a tuple)": (is_(Definition), lambda n: attrs.evolve(n, params=list(n.params))),
        "Definition.expr": (is_(Definition), ev(expr=cmd)),
        "If.cond": (is_(A.If), ev(cond=cmd)),
        "If.then": (is_(A.If), ev(then=evil)),
        "Concat.left": (is_(Concat), ev(left=cmd)),
        "Ref.name (param)": (is_(Ref, kind="param"), ev(name=ident)),
        "Ref.name (param, str subclass)": (is_(Ref, kind="param"), ev(name=evil)),
        "Parameter.name": (is_(Parameter, name="gen_cap"), ev(name=evil)),
        "Parameter.values (not a tuple)": (is_(Parameter, name="gen_cap"), lambda p: attrs.evolve(
            p, values=list(p.values))),
        "ParamValue.value (str subclass)": (is_(Parameter, name="gen_cap"), value(value=evil)),
        "ParamValue.value (list)": (is_(Parameter, name="gen_items"), value(value=[evil])),
        "ParamValue.value (tuple of str subclass)": (is_(Parameter, name="gen_items"), value(value=(evil,))),
        "ParamValue.value (an object)": (is_(Parameter, name="gen_cap"), value(value=object())),
        "ParamValue.start (date subclass)": (is_(Parameter, name="gen_cap"),
                                             value(start=EvilDate(2025, 1, 1))),
        "ParamValue.start (text)": (is_(Parameter, name="gen_cap"), value(start=evil)),
        "ParamValue (not one)": (is_(Parameter, name="gen_cap"), lambda p: attrs.evolve(p, values=(cmd,))),
    }, ParamValue


_NEW_FORGERY_NAMES = sorted(_new_forgeries("M")[0])


def test_the_new_forge_base_compiles_and_evaluates(tmp_path):
    from rulecite.interpreter.api import RulePack

    pack = RulePack(_forge_new_base(tmp_path))
    (out,) = evaluate(pack, [{**GOOD, "loans": [{**GOOD["loans"][0], "units": 5}]}])
    assert out.lines[0].verdict == "deny" and out.findings[0].message == "m 2"


@pytest.mark.parametrize("name", _NEW_FORGERY_NAMES)
def test_a_forged_definition_parameter_if_or_list_join_never_reaches_exec(tmp_path, name):
    """A tampered cache entry may hold anything in a definition, a dated parameter, an
    `if` or a list `+`: each forgery is a CompileError before any generated code exists."""
    from rulecite.interpreter.api import RulePack
    from rulecite.interpreter.codegen.compiler import CompiledPack, CompileError

    from .test_hostile_packs import watching

    marker = tmp_path / "MARKER"
    forgeries, _ = _new_forgeries(marker)
    pred, forge = forgeries[name]
    done = [False]
    pack = replace_first(_forge_new_base(tmp_path), pred, forge, done)
    assert done[0], f"no node to forge for {name}"
    with watching() as w:
        with pytest.raises(CompileError):
            CompiledPack(pack)
        with pytest.raises(CompileError):
            RulePack(pack)
    assert not w.named("exec", "compile"), w.named("exec", "compile")
    assert not marker.exists(), "code in a forged model ran"


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="POSIX FIFOs")
@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_read_rates_refuses_what_is_not_a_regular_file_without_blocking(tmp_path, kind):
    """`--rates` naming a FIFO no one writes to blocked for ever in open(); a device or a
    folder is no table either. Each is refused at once, as a pack's own files are."""
    import os
    import threading

    from rulecite.policy_lang.amounts import read_rates
    from rulecite.policy_lang.errors import RuleciteError

    path = {"fifo": tmp_path / "rates.csv", "device": "/dev/zero", "folder": tmp_path}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    got: list = []

    def attempt():
        try:
            read_rates(str(path))
        except RuleciteError as e:
            got.append(e)

    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "read_rates blocked"
    assert got and got[0].code == "E507" and "not a regular file" in str(got[0]), got


def test_explain_reads_a_parameter_of_many_values_without_walking_them_per_read(tmp_path, monkeypatch):
    """The tracing evaluator walked every value of a dated parameter (asking the
    publication clock of each) at every read, uncharged: 3,000 values read for each of
    30 lines was 90,000 clock questions. The values the clock knows are found once."""
    import datetime as dt
    import importlib

    explain_module = importlib.import_module("rulecite.interpreter.explain")

    values = "".join(f"  from {(dt.date(2015, 1, 1) + dt.timedelta(days=i)).isoformat()} value {i} cite BYLAWS2025 "
                     "restates\n" for i in range(3_000))
    text = f'parameter cap {{\n  title "t"\n{values}}}\n' + _rule("count(a in loans where a.units + cap > 0) > 0",
                                                                 msg="{cap}")
    d = _pack(tmp_path, text)
    toml = (d / "pack.toml").read_text().replace("from = 2025-01-01", "from = 2015-01-01")
    (d / "pack.toml").write_text(toml)
    pack = load_pack(d)
    rec = {**GOOD, "loans": [{"line": i, "item": "BOOK", "units": 1, "days": 1, "date": "2025-03-02"}
                             for i in range(1, 31)]}
    calls = [0]
    real = explain_module.known

    def counting(*a, **k):
        calls[0] += 1
        return real(*a, **k)

    monkeypatch.setattr(explain_module, "known", counting)
    trace = explain(pack, rec)
    (out,) = evaluate(pack, [rec])
    assert out.findings[0].message == "2999"  # the last value (from 2023-03-19) is in force
    assert "rejected" not in trace
    assert calls[0] <= 2 * 3_000, calls[0]
