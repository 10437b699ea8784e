"""Properties (hypothesis) of the engine, the compiled schema scan and the parser, on
generated input, for the library test pack and the bundled CMS pack.

1. Any input (JSON values, text that is or is not JSON, near-valid records) gives one
   Result or Rejection per record, in input order, carrying the record's id, as JSON
   that validates against the pack's results schema; nothing raises.
2. For valid records, the compiled evaluator's verdicts and findings are those the
   tracing evaluator of ``explain`` derives rule by rule (two evaluators, one check).
3. The compiled schema scan (fastcheck) accepts a value exactly when jsonschema does,
   apart from the documented cases it leaves to jsonschema; the engine gives the same
   output with and without it.
4. Damaged pack text never crashes the parser, the loader, the renderer or (when the
   damaged pack still loads) evaluation; every diagnostic points inside its file.

The budgets are bounded (``max_examples``) so the file runs inside ``make test``;
``RULECITE_PROPERTY_SCALE=20`` multiplies them for a longer hunt.
"""

from __future__ import annotations

import calendar
import copy
import datetime as dt
import functools
import json
import math
import os
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from rulecite.interpreter import Rejection, Result, evaluate, explain, load_pack
from rulecite.interpreter.engine.decode import value_depth_ok
from rulecite.interpreter.engine.evaluator import Evaluator
from rulecite.interpreter.codegen.schema import compile_scan
from rulecite.interpreter.tools.packtest import run_tests
from rulecite.interpreter.engine.schemas import results_schema
from rulecite.interpreter.engine.validate import FORMATS
from rulecite.policy_lang import CODES, format_text, load, parse, render_text
from rulecite.policy_lang.syntax import nodes as ast

from .conftest import LIBRARY
from .test_fastcheck import _paths

PACKS = ["library", "cms"]
# RULECITE_PROPERTY_SCALE=N runs N times the examples (a longer hunt than `make test`'s).
SCALE = max(1, int(os.environ.get("RULECITE_PROPERTY_SCALE", "1")))
SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                                        HealthCheck.filter_too_much]}


@functools.cache
def rulepack(name: str):
    """Loaded once per run, on first use (not at collection)."""
    return load_pack(LIBRARY if name == "library" else "cms-care-management")


@functools.cache
def results_validator(name: str):
    return Draft202012Validator(results_schema(rulepack(name).model))


@functools.cache
def facts_validator(name: str):
    return Draft202012Validator(rulepack(name).model.schema, format_checker=FORMATS)


# ---------------------------------------------------------------- JSON values

BIG = 9.2e18  # fastcheck leaves whole numbers this large to jsonschema
text_chars = st.characters(exclude_categories=("Cs",))  # no half surrogate pairs: not Unicode text
keys = st.one_of(st.sampled_from(["x_a", "x_", "line", "code", "date", "month", "member_id", "patient_id"]),
                 st.text(text_chars, max_size=6))
huge_ints = st.sampled_from([2 ** 53 + 1, 2 ** 63 - 1, 2 ** 63, -2 ** 63 - 1, 2 ** 64, 10 ** 30, 10 ** 4299])
strings = st.one_of(st.text(text_chars, max_size=10),
                    st.sampled_from(["", "BOOK", "DVD", "G0557", "99490", "2025-03", "2026-01-01", "2025-02-29",
                                     "2025-13", "1467503219", "1467503219\n", "123456789", "E11.9", "\u00b2" * 10,
                                     "\x00", "\u2028", "\ufeff", "10:30", "{", '"']))


def json_scalars(nonfinite: bool):
    floats = st.floats(allow_nan=nonfinite, allow_infinity=nonfinite)
    options = [st.none(), st.booleans(), st.integers(), huge_ints, floats,
               st.sampled_from([0.0, -0.0, 1.0, 1e19, -1e19, 1e308, 5e-324, 0.5]), strings]
    if nonfinite:
        options += [st.builds(lambda: 10 ** 5000), st.sampled_from(["\ud800", "a\udfffb"])]  # builds: no repr
    return st.one_of(*options)


def json_values(nonfinite: bool = False, leaves: int = 12):
    """JSON values (with ``nonfinite``: also what only a record handed to the API as a
    dict can hold: NaN, infinities, an integer too long to write, half a surrogate pair)."""
    return st.recursive(json_scalars(nonfinite),
                        lambda kids: st.one_of(st.lists(kids, max_size=4),
                                               st.dictionaries(keys, kids, max_size=4)),
                        max_leaves=leaves)


BAD = [None, True, False, 0, -1, 1.5, 2 ** 63, 10 ** 4400, -10 ** 5000, 1e19, float("nan"), float("inf"),
       float("-inf"), -0.0, "", "x", "2026-02-30", "2026-13", "2025-3", "12345678901", "1467503219\n", "g0557", [],
       ["E11.9", "E11.9"], {}, {"x_a": 1},
       functools.reduce(lambda v, _: [v], range(35), "deep")]


# ---------------------------------------------------------------- valid records, from the pack


def weighted(*options):
    """One of the strategies, picked in proportion to its weight: ``weighted((6, a), (1, b))``
    (``one_of`` picks evenly, whatever repeats it is given)."""
    picks = [i for i, (w, _) in enumerate(options) for _ in range(w)]
    return st.sampled_from(picks).flatmap(lambda i: options[i][1])


def _iso(d: dt.date) -> str:
    return d.isoformat()


def _month_first(m: str) -> dt.date:
    return dt.date(int(m[:4]), int(m[5:7]), 1)


def _month_last(m: str) -> dt.date:
    y, mo = int(m[:4]), int(m[5:7])
    return dt.date(y, mo, calendar.monthrange(y, mo)[1])


class Shape:
    """What the generator reads from a pack: its facts schema, record shape, coverage,
    codes, and the dates and numbers its rules and codes turn on."""

    def __init__(self, name: str):
        model = rulepack(name).model
        self.name = name
        self.model = model
        self.schema = model.schema
        self.shape = model.shape
        self.lo = model.coverage.start or dt.date(2020, 1, 1)
        self.hi = model.coverage.end or dt.date(2030, 12, 31)
        self.codes = sorted(c.name for c in model.codes)
        edges = {self.lo, self.hi}
        windows = [r.window for r in model.rules] + [c.window for c in model.codes] + \
            [s.window for s in model.suggestions]
        for w in windows:
            edges.update(d for d in (w.start, w.end) if d is not None)
        one = dt.timedelta(days=1)
        self.edges = sorted({d + k * one for d in edges for k in (-1, 0, 1)})
        months = set()
        d = self.lo
        while d <= self.hi:
            months.add(d.strftime("%Y-%m"))
            d = (d.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        self.months = sorted(months)
        self.outside_months = [(self.lo - dt.timedelta(days=1)).strftime("%Y-%m"),
                               (self.hi + dt.timedelta(days=1)).strftime("%Y-%m")]
        numbers = set()
        roots = [dv.expr for dv in model.derived]
        for r in model.rules:
            roots += [r.where, r.condition] + [lt.expr for lt in r.lets]
        for root in roots:
            if root is None:
                continue
            for x in ast.walk(root):
                if isinstance(x, ast.Literal) and x.kind in ("int", "decimal"):
                    v = float(x.value) if x.kind == "decimal" else x.value
                    numbers.update((v - 1, v, v + 1))
        self.numbers = sorted(numbers)

    # strategies -------------------------------------------------------------
    def month(self):
        return weighted((8, st.sampled_from(self.months)), (1, st.sampled_from(self.outside_months)))

    def date(self, month: str, line: bool):
        """A date near the record's month, on an edge the pack cares about, or anywhere
        around the coverage (a line date there may fall outside it: a rejection)."""
        spread = dt.timedelta(days=31 if line else 400)
        inside = [d for d in self.edges if self.lo <= d <= self.hi]
        return weighted((6, st.dates(_month_first(month), _month_last(month))), (2, st.sampled_from(inside)),
                        (1, st.sampled_from(self.edges)),
                        (1, st.dates(self.lo - spread, self.hi + dt.timedelta(days=31)))).map(_iso)

    def integer(self, node):
        lo = math.ceil(node.get("minimum", -5))
        hi = node.get("maximum")
        hi = None if hi is None else math.floor(hi)
        pool = [int(n) for n in self.numbers if float(n).is_integer() and lo <= n and (hi is None or n <= hi)]
        options = [st.integers(lo, hi if hi is not None else lo + 40)]
        if pool:
            options.append(st.sampled_from(pool))
        if hi is None:
            options.append(st.integers(lo, 2 ** 53))
        return st.one_of(*options)

    def number(self, node):
        lo = node.get("minimum", -100)
        hi = node.get("maximum", lo + 200)
        pool = [n for n in self.numbers if lo <= n <= hi]
        options = [st.floats(lo, hi, allow_nan=False, allow_infinity=False), self.integer(node)]
        if pool:
            options.append(st.sampled_from(pool))
        return st.one_of(*options)

    def string(self, node, month: str, line: bool):
        if "enum" in node:
            return st.sampled_from(node["enum"])
        if node.get("format") == "date":
            return self.date(month, line)
        if node.get("format") == "month":
            return self.month()
        if "pattern" in node:
            return st.from_regex(node["pattern"], fullmatch=True)
        return st.text(text_chars, min_size=node.get("minLength", 0), max_size=min(node.get("maxLength", 8), 8))

    def value(self, draw, node, month: str, key=None, in_line=False):
        if node is True or node == {}:
            return draw(json_values(leaves=4))
        t = node.get("type")
        in_line = in_line or key == "__line__"
        if in_line and key == self.shape.line_id:
            return draw(st.integers(1, 4))  # repeated line numbers too
        if in_line and key == self.shape.line_code:
            return draw(weighted((4, st.sampled_from(self.codes)), (1, self.string(node, month, False))))
        if t == "object":
            return self.obj(draw, node, month, key)
        if t == "array":
            n = draw(st.integers(node.get("minItems", 0), min(node.get("maxItems", 3), 3)))
            assert not node.get("uniqueItems"), "the generator does not make unique items"
            item = "__line__" if key == self.shape.lines else "__item__"  # an item's fields: line fields or not
            return [self.value(draw, node.get("items", {}), month, item) for _ in range(n)]
        if t == "string":
            return draw(self.string(node, month, in_line and key == self.shape.line_date))
        if t == "integer":
            return draw(self.integer(node))
        if t == "number":
            return draw(self.number(node))
        if t == "boolean":
            return draw(st.booleans())
        raise AssertionError(f"schema node the generator does not know: {node}")

    def obj(self, draw, node, month, key):
        props = node.get("properties", {})
        required = set(node.get("required", ()))
        out = {}
        for k, sub in props.items():
            if key is None and k == self.shape.period:
                out[k] = month
            elif key is None and k == self.shape.id:
                out[k] = draw(st.sampled_from(["M1", "M2", "P-7"]) if sub.get("type") == "string"
                              else st.integers(1, 3))
            elif k in required or (key is None and k == self.shape.lines) or draw(st.booleans()):
                out[k] = self.value(draw, sub, month, k, key == "__line__")
        if "^x_" in node.get("patternProperties", {}) and draw(st.integers(0, 9)) == 0:
            out["x_" + draw(st.text("abc", max_size=3))] = draw(json_values(leaves=4))
        return out


@functools.cache
def shape_of(name: str) -> Shape:
    return Shape(name)


@st.composite
def valid_records(draw, name: str):
    g = shape_of(name)
    return g.obj(draw, g.schema, draw(g.month()), None)


def schema_at(schema, path):
    """The schema node for a path in a record ({} where the schema allows anything)."""
    node = schema
    for p in path:
        if not isinstance(node, dict):
            return {}
        if isinstance(p, int):
            node = node.get("items", {})
        elif p in node.get("properties", {}):
            node = node["properties"][p]
        else:
            node = {}  # an x_ field, or no field of the schema
    return node if isinstance(node, dict) else {}


BAD_DATES = ["2025-02-29", "2026-02-30", "2026-13-01", "2026-00-10", "2026-1-01", "2026-01-32", "20260101",
             "2026-01-01\n", "2026-01-01T00:00", " 2026-01-01", "\uff12026-01-01"]
BAD_MONTHS = ["2026-13", "2026-00", "2026-1", "2026-01\n", "2026-01-01", "202601", "\uff1226-01"]


def near_miss(node):
    """A value that just misses (or just meets) what a schema node asks."""
    t = node.get("type")
    if t == "string":
        options = [(1, st.sampled_from(["", None, 0, ["x"]]))]
        if "enum" in node:
            options.append((3, st.sampled_from(node["enum"]).flatmap(
                lambda v: st.sampled_from([v.lower(), v.upper(), v + " ", v[:-1], v + "\n"]))))
        if node.get("format") == "date":
            options.append((3, st.sampled_from(BAD_DATES)))
        if node.get("format") == "month":
            options.append((3, st.sampled_from(BAD_MONTHS)))
        if "pattern" in node:
            options.append((3, st.from_regex(node["pattern"], fullmatch=True).flatmap(
                lambda v: st.sampled_from([v + "0", v[:-1], v + "\n", v.lower(), "\n" + v,
                                           v.replace("0", "\u0660")]))))
        if "maxLength" in node:
            options.append((1, st.just("x" * (node["maxLength"] + 1))))
        if "minLength" in node:
            options.append((1, st.just("x" * (node["minLength"] - 1))))
        return weighted(*options)
    if t in ("integer", "number"):
        edges = []
        for kw in ("minimum", "maximum"):
            if kw in node:
                edges += [node[kw] - 1, node[kw], node[kw] + 1, float(node[kw]), node[kw] - 0.5, node[kw] + 0.5]
        return st.sampled_from(edges + [1.5, True, "1", None, 2 ** 63, -2 ** 63, 1e19, 1.0, -0.0])
    if t == "boolean":
        return st.sampled_from([0, 1, "true", None, []])
    if t == "array":
        return st.sampled_from([{}, "x", None, [None], [[]]])
    if t == "object":
        return st.sampled_from([[], "x", None, {"no_such_field": 1}, {"x_vendor": [1]}])
    return json_values(leaves=4)


@st.composite
def near_valid(draw, name: str, nonfinite: bool = True):
    """A valid record with one thing wrong (or, sometimes, still right): a value replaced
    by one that just misses what the schema asks there, by a random or a known-bad one,
    a key removed, or a key added."""
    schema = rulepack(name).model.schema
    rec = copy.deepcopy(draw(valid_records(name)))
    path = draw(st.sampled_from(list(_paths(rec))))
    bad = [b for b in BAD if nonfinite or not (isinstance(b, float) and not math.isfinite(b))]
    op = draw(st.sampled_from(["miss", "miss", "miss", "replace", "delete", "add", "add missing"]))
    if op == "add missing" and isinstance(schema_at(schema, path).get("properties"), dict):
        # an optional field the record lacks, with a value that just misses
        node = schema_at(schema, path)
        key = draw(st.sampled_from(sorted(node["properties"])))
        path, op = path + (key,), "miss"
    if op == "miss":
        new = draw(near_miss(schema_at(schema, path)))
    else:
        new = draw(st.one_of(json_values(nonfinite, leaves=6), st.sampled_from(bad)))
    if not path:
        return new if op in ("replace", "miss") else rec
    parent = rec
    for p in path[:-1]:
        parent = parent[p]
    last = path[-1]
    if op in ("replace", "miss"):
        parent[last] = copy.deepcopy(new)
    elif op == "delete":
        del parent[last]
    elif isinstance(parent, dict):
        parent[draw(keys)] = copy.deepcopy(new)
    else:
        parent.insert(last, copy.deepcopy(new))
    return rec


# ---------------------------------------------------------------- 1. one output per input, in order


@st.composite
def broken_text(draw, name: str):
    """Text of a near-valid record, cut short, padded, or with a stray prefix."""
    rec = draw(near_valid(name, nonfinite=False))
    try:
        text = json.dumps(rec, ensure_ascii=draw(st.booleans()))
    except ValueError:  # an integer too long to write
        return "{" + '"x": ' + "9" * 5000 + "}"
    how = draw(st.sampled_from(["cut", "prefix", "suffix", "crlf", "bom", "as is"]))
    if how == "cut":
        return text[:draw(st.integers(0, len(text)))]
    if how == "prefix":
        return draw(st.sampled_from(["x", "[", "\ufeff\ufeff", " ", "//"])) + text
    if how == "suffix":
        return text + draw(st.sampled_from([",", "}", " ", "\n", "\r\n", "\n\n", "x", "\t"]))
    if how == "crlf":
        return text + "\r\n"
    if how == "bom":
        return "\ufeff" + text
    return text


@functools.cache
def inputs(name: str):
    texts = st.one_of(
        json_values().map(json.dumps),
        st.text(text_chars, max_size=20),
        st.sampled_from(["", " ", "\n", "\r\n", "\t \n", "null", "[]", "{}", "1", '"x"', "{", "}", "NaN",
                         '{"a": NaN}', '{"a": Infinity}', "[" * 40 + "]" * 40, '{"x": 1e400}', '"\\ud800"',
                         '{"member_id": "\ud800", "patient_id": "\udc00x"}',
                         "{" + '"x": ' + "9" * 5000 + "}"]),
        broken_text(name),
        valid_records(name).map(json.dumps),
    )
    return weighted(
        (1, json_values(nonfinite=True)),
        (3, near_valid(name)),
        (1, valid_records(name)),
        (3, texts),
        (1, texts.map(lambda t: t.encode("utf-8", "surrogatepass"))),  # a half pair: bytes that are not UTF-8
        (1, st.binary(max_size=12)),
    )


def decoded(item):
    """The record an input item stands for, when it is an object, else None."""
    if isinstance(item, dict):
        return item
    if isinstance(item, bytes):
        try:
            item = item.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if not isinstance(item, str):
        return None
    text = item.removeprefix("\ufeff")
    try:
        value = json.loads(text.rstrip("\r\n"))
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


@pytest.mark.parametrize("name", PACKS)
@settings(max_examples=60 * SCALE, **SETTINGS)
@given(data=st.data())
def test_every_input_gives_one_output_in_order_and_valid_json(name, data):
    pack = rulepack(name)
    shape = pack.model.shape
    items = data.draw(st.lists(inputs(name), min_size=1, max_size=6), label="items")
    out = list(evaluate(pack, iter(items)))
    assert len(out) == len(items), "records read = results + rejections"
    validator = results_validator(name)
    for n, (item, o) in enumerate(zip(items, out), start=1):
        assert isinstance(o, (Result, Rejection)), type(o)
        assert o.input_line == n
        text = o.to_json()
        text.encode("utf-8")
        doc = json.loads(text)
        assert doc["input_line"] == n
        errors = sorted(validator.iter_errors(doc), key=str)
        assert not errors, f"output {n} breaks the results schema: {errors[0].message}\n{text[:500]}"
        rec = decoded(item)
        if isinstance(o, Result):
            assert rec is not None, f"input {n} is no JSON object, yet it was evaluated"
            assert o.id == rec[shape.id] and o.period == rec[shape.period]
            assert len(o.lines) == len(rec.get(shape.lines) or [])
            assert [v.line for v in o.lines] == [ln.get(shape.line_id) for ln in rec.get(shape.lines) or []]
        else:
            assert o.path.startswith("$") and o.reason
            if o.id is not None:
                assert rec is not None and o.id == rec.get(shape.id)
            if o.period is not None:
                assert rec is not None and o.period == rec.get(shape.period)


def test_a_huge_integer_where_the_schema_allows_any_integer_is_a_rejection():
    """Found by the property above: a decoded record handed to the API with an integer
    too long to write (over sys.get_int_max_str_digits() digits) in a field the schema
    leaves unbounded passed the fast path and broke ``to_json``. Text cannot carry such
    a number (the JSON decoder refuses it), so a dict must not either."""
    pack = rulepack("library")
    recs = [{"member_id": "M", "month": "2025-03", "loans": [{"line": 10 ** 5000, "item": "BOOK"}]},
            {"member_id": "M", "month": "2025-02", "loans": [{"line": 1, "item": "DVD", "days": 10 ** 5000}]},
            {"member_id": 10 ** 5000, "month": "2025-03", "loans": []},
            {"member_id": "M", "month": "2025-03", "loans": [{"line": 2 ** 64, "item": "BOOK"}]}]
    out = list(evaluate(pack, recs))
    assert [type(o) for o in out] == [Rejection, Rejection, Rejection, Result]
    assert out[0].path == "$.loans[0].line" and "too long" in out[0].reason
    assert out[1].path == "$.loans[0].days"
    assert out[2].id is None
    for o in out:
        json.loads(o.to_json())
    cms = rulepack("cms")
    (o,) = evaluate(cms, [{"patient_id": "P", "month": "2025-03", "claims": [], "x_n": [10 ** 5000]}])
    assert isinstance(o, Rejection) and o.path == "$.x_n[0]"


# ---------------------------------------------------------------- 2. compiled evaluator == explain's tracer


def _in_coverage(g: Shape, rec) -> bool:
    """Whether the record's period is one the pack covers (a line dated outside the
    coverage is judged on its own: `coverage.outside`)."""
    period = rec[g.shape.period]
    return not (_month_first(period) > g.hi or _month_last(period) < g.lo)


def _service_date(g: Shape, rec, ln) -> str:
    d = ln.get(g.shape.line_date) if ln is not None else None
    if d:
        return d
    period = rec[g.shape.period]
    return _iso(_month_last(period) if g.shape.default_day == "last" else _month_first(period))


def expected_from_trace(g: Shape, cp, rec, trace):
    """Line verdicts and findings as the tracer's per-rule outcomes imply them."""
    shape = g.shape
    lines = rec.get(shape.lines) or []
    nodes = iter(trace["rules"])
    record_deny, findings = [], []
    per_line = [([], [], []) for _ in lines]  # deny ids, warn ids, findings
    fired = ("deny", "warn", "info")
    for info in cp.infos:
        r = info.rule
        scope = [(None, None)] if r.scope == "record" else list(enumerate(lines))
        for k, ln in scope:
            node = next(nodes)
            lid = ln.get(shape.line_id) if ln is not None else None
            assert (node["rule"], node["line"]) == (r.id, lid)
            assert node["outcome"] in fired + ("pass", "not applicable", "not in force"), node
            if node["outcome"] not in fired:
                continue
            assert node["outcome"] == r.severity
            if k is None:
                findings.append((r.id, r.severity, None))
                if r.severity == "deny":
                    record_deny.append(r.id)
            else:
                deny, warn, found = per_line[k]
                (deny if r.severity == "deny" else warn).append(r.id)
                found.append((r.id, r.severity, lid))
    assert next(nodes, None) is None, "the trace has more rule nodes than rules x lines"
    verdicts = []
    for (deny, warn, found), ln in zip(per_line, lines):
        code = ln.get(shape.line_code)
        lid = ln.get(shape.line_id)
        deny = record_deny + deny
        catalog = cp.codes.get(code)
        sd = dt.date.fromisoformat(_service_date(g, rec, ln))
        if not (g.lo <= sd <= g.hi):  # outside the coverage: no rule ran, the built-in denies it
            assert not deny[len(record_deny):] and not warn, "a rule ran on a line outside the coverage"
            deny.append("coverage.outside")
            found.append(("coverage.outside", "deny", lid))
        elif catalog is None and g.model.unknown_codes != "ignore":
            sev = "deny" if g.model.unknown_codes == "deny" else "warn"
            (deny if sev == "deny" else warn).append("catalog.unknown-code")
            found.append(("catalog.unknown-code", sev, lid))
        elif catalog is not None and not ((catalog.window.start or dt.date.min) <= sd
                                          <= (catalog.window.end or dt.date.max)):
            deny.append("catalog.window")
            found.append(("catalog.window", "deny", lid))
        verdicts.append({"line": lid, "code": code, "verdict": "deny" if deny else "allow",
                         "rules": sorted(set(deny)), "warnings": sorted(set(warn))})
        findings += found
    return verdicts, findings


@st.composite
def subject_months(draw, name: str):
    """One to three months of one subject, in any order (months may repeat)."""
    g = shape_of(name)
    recs = draw(st.lists(valid_records(name), min_size=1, max_size=3))
    sid = recs[0][g.shape.id]
    for r in recs:
        r[g.shape.id] = sid
    return recs


@functools.cache
def clocks(name: str) -> list:
    published = sorted({s.published for s in rulepack(name).model.sources if s.published})
    one = dt.timedelta(days=1)
    return [None] + sorted({d + k * one for d in published for k in (-1, 0)})


@pytest.mark.parametrize("name", PACKS)
@settings(max_examples=70 * SCALE, **SETTINGS)
@given(data=st.data())
def test_compiled_verdicts_and_findings_are_what_the_tracer_derives(name, data):
    pack = rulepack(name)
    g = shape_of(name)
    recs = data.draw(subject_months(name), label="records")
    as_of = data.draw(st.sampled_from(clocks(name)), label="as_of")
    cp = pack.compiled(as_of)
    out = list(evaluate(pack, recs, as_of=as_of))
    assert len(out) == len(recs)
    for rec, o in zip(recs, out):
        if not _in_coverage(g, rec):
            assert isinstance(o, Rejection) and "outside" in o.reason, o.to_dict()
            continue
        assert isinstance(o, Result), f"a valid record in the coverage was rejected: {o.to_dict()}"
        history = [r for r, x in zip(recs, out) if isinstance(x, Result) and r[g.shape.period] < rec[g.shape.period]]
        trace = explain(pack, rec, as_of=as_of, history=history)
        assert trace["lines"] == o.to_dict()["lines"], "explain and evaluate judged the record differently"
        want_lines, want_findings = expected_from_trace(g, cp, rec, trace)
        got_lines = [{"rules": [], "warnings": [], **v} for v in o.to_dict()["lines"]]
        for v in got_lines:
            assert v["rules"] == sorted(set(v["rules"])) and v["warnings"] == sorted(set(v["warnings"]))
        assert got_lines == want_lines, "compiled verdicts differ from the traced rule outcomes"
        got_findings = [(f.rule, f.severity, f.line) for f in o.findings]
        assert got_findings == want_findings, "compiled findings differ from the traced rule outcomes"


# ---------------------------------------------------------------- 3. fastcheck == jsonschema


def _key_count(v) -> int:
    if isinstance(v, dict):
        return len(v) + sum(_key_count(x) for x in v.values())
    if isinstance(v, list):
        return sum(_key_count(x) for x in v)
    return 0


def _left_to_jsonschema(v) -> bool:
    """Values the scan declines on purpose (its docstring): whole numbers of magnitude
    2**63 or more (a fast decoder may have made a float of them), and strings ending in
    a newline (``$`` in a pattern matches before one; the scan leaves that to jsonschema)."""
    if isinstance(v, dict):
        return any(_left_to_jsonschema(x) for x in v.values())
    if isinstance(v, list):
        return any(_left_to_jsonschema(x) for x in v)
    if type(v) is float:
        return v.is_integer() and abs(v) >= BIG
    if type(v) is int:
        return abs(v) >= BIG
    return isinstance(v, str) and v.endswith("\n")


@functools.cache
def scans(name: str):
    schema = rulepack(name).model.schema
    return compile_scan(schema, None), compile_scan(schema, 32)


def deep(v, levels: int):
    for i in range(levels):
        v = [v] if i % 2 else {"x_d": v}
    return v


@st.composite
def scan_values(draw, name: str):
    v = draw(weighted((1, json_values()), (4, near_valid(name, nonfinite=False)), (1, valid_records(name))))
    if isinstance(v, dict) and draw(st.integers(0, 5)) == 0:
        v = dict(v, x_deep=deep("leaf", draw(st.integers(26, 36))))
    return v


@pytest.mark.parametrize("name", PACKS)
@settings(max_examples=150 * SCALE, **SETTINGS)
@given(data=st.data())
def test_the_scan_accepts_exactly_what_jsonschema_accepts(name, data):
    value = data.draw(scan_values(name), label="value")
    unlimited, limited = scans(name)
    assert unlimited is not None and limited is not None, "the pack's schema stays in the compiled subset"
    try:
        valid = facts_validator(name).is_valid(value)
    except ValueError:  # jsonschema cannot write an integer that long into its error message: an error
        valid = False
    n = unlimited(value)
    if n >= 0:
        assert valid, "the scan accepted a value jsonschema rejects"
        assert n == _key_count(value)
    elif valid:
        assert _left_to_jsonschema(value), "the scan declined a valid value it should accept"
    m = limited(value)
    assert (m >= 0) == (n >= 0 and value_depth_ok(value, 32))
    if m >= 0:
        assert m == n


@pytest.mark.parametrize("name", PACKS)
@settings(max_examples=60 * SCALE, **SETTINGS)
@given(data=st.data())
def test_the_engine_gives_the_same_output_with_and_without_the_scan(name, data):
    value = data.draw(scan_values(name), label="value")
    cp = rulepack(name).compiled(None)
    fast = Evaluator(cp)
    full = Evaluator(cp)
    full.scan = None  # every record through decode_line, the depth walk and jsonschema
    items = [value]
    try:
        text = json.dumps(value)
        items += [text, text.encode("utf-8")]
    except ValueError:  # an integer too long to write as text
        pass
    for item in items:
        assert [r.to_dict() for r in fast.run([item])] == [r.to_dict() for r in full.run([item])]


# ---------------------------------------------------------------- 4. damaged pack text

POLICY_FILES = ["rules.policy", "catalog.policy", "sources.policy", "tests/rules_test.policy"]
TOKENS = ["rule", "code", "set", "let", "source", "test", "retire", "suggest", "for", "in", "where", "deny", "warn",
          "info", "when", "unless", "message", "cite", "title", "effective", "until", "supersedes", "override",
          "facts", "expect", "line", "allow", "and", "or", "not", "true", "false", "record", "history",
          "service_date", "page", "unverified", "section", "quote", "program", "units", "reason", "any", "sum",
          "count", "{", "}", "(", ")", "[", "]", ",", ":", ".", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/",
          "=", '"', '"x"', "'", "\\", "#", "\n", " ", "\t", "\r", "\r\n", "2025-13-40", "2026-01-01", "2025-02",
          "0", "1.5", "99999999999999999999", "{{", "}}", "{l.item}", '"{"', '"}"', "é", "\u2028", "\u0085",
          "\ufeff", "\x00", "\U0001F600", "\u202e", "BOOK", "DVD", "l.item", "loans", "l", "member.age",
          "BYLAWS2025", "loans.limit", "PRINT"]


@st.composite
def damaged(draw, text: str):
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["delete", "duplicate", "insert", "insert", "swap"]))
        n = len(text)
        i = draw(st.integers(0, n))
        j = draw(st.integers(i, min(n, i + draw(st.sampled_from([3, 20, 200])))))
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "duplicate":
            k = draw(st.integers(0, n))
            text = text[:k] + text[i:j] + text[k:]
        elif op == "insert":
            toks = draw(st.lists(st.one_of(st.sampled_from(TOKENS), st.text(text_chars, max_size=3)),
                                 min_size=1, max_size=4))
            text = text[:i] + draw(st.sampled_from(["", " "])).join(toks) + text[i:]
        else:
            lines = text.split("\n")
            a, b = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[a], lines[b] = lines[b], lines[a]
            text = "\n".join(lines)
    return text


def assert_located(diags, texts: dict):
    """Every diagnostic has a known code and a position inside the text it names."""
    for d in diags:
        assert d.code in CODES, d
        assert d.severity in ("error", "warning"), d
        text = texts.get(d.span.file)
        assert text is not None, f"{d.code} names a file that was not read: {d.span}"
        text = text.removeprefix("\ufeff")  # the parser reads the text without its byte-order mark
        lines = text.split("\n")  # the parser counts lines by \n only
        sp = d.span
        assert 1 <= sp.line <= len(lines), f"{d.code} {d.message!r}: line {sp.line} of {len(lines)}"
        assert 1 <= sp.column <= len(lines[sp.line - 1]) + 1, \
            f"{d.code} {d.message!r}: column {sp.column} of a {len(lines[sp.line - 1])}-character line {sp.line}"
        assert (sp.end_line, sp.end_column) >= (sp.line, sp.column), f"{d.code}: span ends before it starts: {sp}"
        # the renderer shows the line the parser counted (not one split at \u2028, \x85 or a lone \r)
        block = render_text([d], texts)
        shown = lines[sp.line - 1].removesuffix("\r").replace("\t", " ")
        assert f"\n{sp.line:>4} | {shown}\n" in block, f"{d.code}: the caret is under another line:\n{block}"
    rendered = render_text(diags, texts)
    for d in diags:
        assert f"[{d.code}]" in rendered


@pytest.fixture(scope="module")
def pack_copy(tmp_path_factory):
    d = tmp_path_factory.mktemp("damaged") / "library"
    shutil.copytree(LIBRARY, d)
    return d


GOOD = {"member_id": "M1", "month": "2025-03", "member": {"age": 40, "fines": 6},
        "agreements": [{"program": "MEDIA", "date": "2025-01-02"}],
        "loans": [{"line": 1, "item": "BOOK", "units": 2, "date": "2025-03-02"},
                  {"line": 2, "item": "DVD", "days": 9}, {"line": 3, "item": "MAGAZINE"},
                  {"line": 4, "item": "MAGAZINE"}]}


@settings(max_examples=80 * SCALE, **SETTINGS)
@given(data=st.data())
def test_damaged_pack_text_gives_located_diagnostics_and_never_a_crash(pack_copy, data):
    rel = data.draw(st.sampled_from(POLICY_FILES), label="file")
    path = pack_copy / rel
    original = (LIBRARY / rel).read_text(encoding="utf-8")
    text = data.draw(damaged(original), label="text")
    module, diags = parse(text, rel)
    assert module is not None or any(d.severity == "error" for d in diags), "no module and no error"
    assert_located(diags, {rel: text})
    path.write_bytes(text.encode("utf-8"))
    try:
        loaded = load(pack_copy)
        assert_located(loaded.diagnostics, loaded.texts)
        if not loaded.ok:
            assert any(d.severity == "error" for d in loaded.diagnostics)
            return
        pack = load_pack(pack_copy)
        out = list(evaluate(pack, [GOOD, json.dumps(GOOD)]))
        assert len(out) == 2 and all(isinstance(o, (Result, Rejection)) for o in out)
        assert out[0].to_json() == out[1].to_json().replace('"input_line":2', '"input_line":1')
        json.loads(out[0].to_json())
        explain(pack, GOOD)
        run_tests(pack)
    finally:
        path.write_bytes(original.encode("utf-8"))


def test_lines_are_counted_as_the_lexer_counts_them(tmp_path):
    """Found by the property above: a string or comment may hold U+2028 (or U+0085, a lone
    \\r), which ``str.splitlines`` takes for a line break and the lexer does not. The
    renderer showed another line under the caret, the end-of-file error pointed past the
    file's last line, a trailing comment was taken for one on its own line (the formatter
    moved it), and a rule's source text was cut one line off."""
    text = 'rule x {\n  title "a\u2028b\x85c"\n  cite X\n'
    _, (d,) = parse(text, "f.policy")
    assert (d.code, d.span.line, d.span.column) == ("E103", 3, 9)
    assert "\n   3 |   cite X\n" in render_text([d], {"f.policy": text})
    text = '# a \u2028 comment\nlet x = = 1\n'
    _, (d,) = parse(text, "f.policy")
    assert d.span.line == 2 and "\n   2 | let x = = 1\n" in render_text([d], {"f.policy": "\ufeff" + text})
    text = 'let a = "\u2028          "\nlet b = a  # t\n'
    module, _ = parse(text, "f.policy")
    assert [c.own_line for c in module.comments] == [False]
    assert format_text(text, "f.policy")[0] == text
    pack_dir = shutil.copytree(LIBRARY, tmp_path / "library")
    rules = pack_dir / "rules.policy"
    rules.write_text("# \u2028 a note\n" + rules.read_text(encoding="utf-8"), encoding="utf-8")
    (rule,) = [r for r in load_pack(pack_dir).model.rules if r.id == "media.age"]
    assert rule.source_text.startswith("rule media.age {\n") and rule.source_text.endswith("}")
