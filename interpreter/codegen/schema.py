"""Compile a JSON Schema (a plain subset) into one fast Python function.

Takes a schema dict; gives ``scan(value) -> int`` (``compile_scan``) or a yes/no
``check(value) -> bool`` (``compile_check``), or ``None`` when the schema uses a
keyword outside the subset (the caller then uses ``jsonschema`` for every record).

The subset is what facts schemas need: ``type`` (one type), ``properties``,
``required``, ``additionalProperties`` (boolean), ``patternProperties`` (to any
schema), ``items``, ``enum``, ``const``, ``minimum``/``maximum``,
``exclusiveMinimum``/``exclusiveMaximum``, ``minLength``/``maxLength``, ``pattern``,
``minItems``/``maxItems``, ``uniqueItems``, ``format`` (``date``, ``month``; others
ignored, as jsonschema does), plus annotations (``description``, ``title``,
``default``, ...).

The whole schema becomes one function with the checks of nested objects and arrays
inlined (no call per sub-object). String checks that need a regular expression or a
date parse remember the strings that passed (a bounded set per schema node), so a
code, date or month seen before costs one set lookup.

``scan`` is a fast path, never the judge: it answers ``-1`` whenever it is not sure
the value is valid, and the engine then asks ``jsonschema`` (and its own depth
walk) for the verdict and the reason. A non-negative answer promises that the value
is valid for the schema, that it nests no deeper than ``max_depth`` (counted as the
engine's limit counts), that no string in it (value or key) holds half a surrogate pair
(text that cannot be written as UTF-8), and that it holds no whole number of magnitude
2**63 or more:
no such float (a JSON integer that a fast decoder may have turned into a float) and
no such int (one too long to write back as text must be rejected, which the slow
path does); the number is how many object keys the value holds, which lets the
engine tell that a fast decoder dropped no duplicate key.

The generated source is built from fixed templates and ``repr()`` of schema values
only, so a hostile schema cannot inject code; tests compare it with jsonschema on
generated values.
"""

from __future__ import annotations

import datetime as _dt
import re

from rulecite.interpreter.engine.decode import text_ok

ANNOTATIONS = {"$schema", "$id", "$comment", "title", "description", "default", "examples", "deprecated",
                "readOnly", "writeOnly", "format", "x-rulecite"}
STRING_KEYS = {"type", "enum", "const", "minLength", "maxLength", "pattern"}
NUMBER_KEYS = {"type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
OBJECT_KEYS = {"type", "properties", "required", "additionalProperties", "patternProperties"}
ARRAY_KEYS = {"type", "items", "minItems", "maxItems", "uniqueItems"}
_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_MONTH_RE = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])\Z")
_DIGITS_RE = re.compile(r"\^\[0-9\]\{([0-9]{1,3})\}\$\Z")
CHECKED_FORMATS = ("date", "month")  # the formats validate.FORMATS checks
_BIG = 9.2e18  # a float this large and whole may be a decoded 64-bit-plus integer
MEMO_LIMIT = 10_000  # strings remembered per schema node
NO_LIMIT = 1 << 30


def _date_ok(v) -> bool:
    if not _DATE_RE.match(v):
        return False
    try:
        _dt.date.fromisoformat(v)
    except ValueError:
        return False
    return True


def _month_ok(v) -> bool:
    return _MONTH_RE.match(v) is not None


def _float_ok(v) -> bool:
    """A float the fast path may accept: finite and below 2**63 in magnitude (every float
    past that is a whole number, which may be a decoded 64-bit-plus integer; NaN and the
    infinities fail the comparison too, and the full check rejects them)."""
    return -_BIG < v < _BIG


def _deep(v, room: int) -> int:
    """Keys in ``v`` if it nests within ``room`` levels (``v`` itself is one), else -1."""
    if room < 1:
        return -1
    t = type(v)
    if t is float:
        return 0 if _float_ok(v) else -1
    if t is int:
        return 0 if -_BIG < v < _BIG else -1
    if isinstance(v, str):
        return 0 if text_ok(v) else -1
    if isinstance(v, dict):
        n = len(v)
        for k, x in v.items():
            if isinstance(k, str) and not text_ok(k):
                return -1
            c = _deep(x, room - 1)
            if c < 0:
                return -1
            n += c
        return n
    if isinstance(v, list):
        n = 0
        for x in v:
            c = _deep(x, room - 1)
            if c < 0:
                return -1
            n += c
        return n
    if v is None or t is bool:
        return 0
    return -1  # not a JSON value (a tuple, a set, a subclass of a number...): the full path decides


def _unique(items) -> bool:
    """True only when the items are surely distinct under JSON equality (strings, numbers,
    booleans, null); anything else answers False and leaves the verdict to jsonschema."""
    keys = set()
    for i in items:
        t = type(i)
        if t is str:
            k = ("s", i)
        elif t is bool:
            k = ("b", i)
        elif t is int or t is float:
            k = ("n", i)
        elif i is None:
            k = ("z",)
        else:
            return False
        if k in keys:
            return False
        keys.add(k)
    return True


class _Unsupported(Exception):
    pass


def _is_any(schema) -> bool:
    """Whether ``schema`` accepts every value: ``true``, or only annotations (``format``
    counts as one unless it names a format the engine checks, see ``validate.FORMATS``)."""
    if schema is True:
        return True
    return (isinstance(schema, dict) and not (set(schema) - ANNOTATIONS)
            and schema.get("format") not in CHECKED_FORMATS)


class _Gen:
    def __init__(self, max_depth: int | None):
        self.lines: list = []
        self.helpers: list = []  # memo functions for string checks
        self.consts: dict = {}
        self.n = 0
        self.limit = max_depth if max_depth is not None else NO_LIMIT

    def const(self, value, kind="v") -> str:
        key = (kind, repr(value))
        if key not in self.consts:
            self.consts[key] = (f"_c{len(self.consts)}", value)
        return self.consts[key][0]

    def var(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def emit(self, indent: int, text: str):
        self.lines.append("    " * indent + text)

    # ------------------------------------------------------------ scalars
    def string_test(self, schema) -> list:
        """Checks (templates over ``{v}``) on a value already known to be a str."""
        parts = []
        slow = []
        known_text = False  # whether a test below already implies the value is UTF-8 text
        if "enum" in schema:
            vals = schema["enum"]
            if not all(type(x) is str and text_ok(x) for x in vals):
                raise _Unsupported("enum of other than UTF-8 strings")
            parts.append(f"{{v}} in {self.const(frozenset(vals))}")
            known_text = True
        if "const" in schema:
            if type(schema["const"]) is not str or not text_ok(schema["const"]):
                raise _Unsupported("const other than a UTF-8 string")
            parts.append("{v} == " + repr(schema["const"]).replace("{", "{{").replace("}", "}}"))
            known_text = True
        if "minLength" in schema:
            parts.append(f"len({{v}}) >= {int(schema['minLength'])!r}")
        if "maxLength" in schema:
            parts.append(f"len({{v}}) <= {int(schema['maxLength'])!r}")
        fmt = schema.get("format")
        if fmt == "date":
            slow.append("_date_ok({v})")
        elif fmt == "month":
            slow.append("_month_ok({v})")
        if "pattern" in schema:
            pattern = schema["pattern"]
            rx = re.compile(pattern)
            digits = _DIGITS_RE.match(pattern)
            if digits:  # ^[0-9]{n}$ without a regex call; a trailing newline goes to jsonschema
                parts.append(f"len({{v}}) == {int(digits.group(1))!r} and {{v}}.isascii() and {{v}}.isdigit()")
                known_text = True
            else:
                slow.append(f"{self.const(rx, 're')}.search({{v}}) is not None")
        if slow and not known_text:
            slow.append("_text_ok({v})")
            known_text = True
        if slow:
            # Remember the strings that passed the slow checks: codes, dates and months repeat.
            ok, fn = self.var("_ok"), self.var("_slow")
            self.consts[("memo", ok)] = (ok, set())
            self.helpers += [f"def {fn}(s):",
                             f"    if not ({' and '.join(t.format(v='s') for t in slow)}):",
                             "        return False",
                             f"    if len({ok}) < _MEMO_LIMIT:",
                             f"        {ok}.add(s)",
                             "    return True"]
            parts.append(f"({{v}} in {ok} or {fn}({{v}}))")
        if not known_text:
            parts.append("({v}.isascii() or _text_ok({v}))")
        return parts

    def scalar(self, schema, v: str) -> str | None:
        """An inline boolean expression for a scalar schema, or None if not scalar."""
        t = schema.get("type")
        allowed = STRING_KEYS if t == "string" else NUMBER_KEYS
        if t not in ("string", "integer", "number", "boolean", "null") or set(schema) - ANNOTATIONS - allowed:
            return None
        if t == "string":
            return "(" + " and ".join([f"type({v}) is str"] + [p.format(v=v) for p in self.string_test(schema)]) + ")"
        if t in ("boolean", "null"):
            if set(schema) - ANNOTATIONS - {"type"}:
                raise _Unsupported(f"constraints on {t}")
            return f"(type({v}) is bool)" if t == "boolean" else f"({v} is None)"
        if "enum" in schema or "const" in schema:
            raise _Unsupported("enum or const on a number")
        bounds = ""
        low = high = False  # whether the bounds keep an int within +-_BIG on that side
        for kw, op in (("minimum", ">="), ("maximum", "<="), ("exclusiveMinimum", ">"), ("exclusiveMaximum", "<")):
            if kw in schema:
                bound = schema[kw]
                if type(bound) not in (int, float) or bound != bound or bound - bound != 0:
                    raise _Unsupported(kw)
                bounds += f" and {v} {op} {bound!r}"
                if op[0] == ">":
                    low = low or bound > -_BIG
                else:
                    high = high or bound < _BIG
        big = (f" and {v} > {-_BIG!r}" if not low else "") + (f" and {v} < {_BIG!r}" if not high else "")
        whole = f" and {v}.is_integer()" if t == "integer" else ""
        return f"((type({v}) is int{big}{bounds}) or (type({v}) is float and _float_ok({v}){whole}{bounds}))"

    # ------------------------------------------------------------ containers, inlined
    def value(self, schema, v: str, depth: int, ind: int, count: bool):
        """Emit statements that ``return -1`` unless ``v`` (present, at ``depth``) is valid;
        with ``count``, add the keys it holds to ``nk``."""
        if depth > self.limit or schema is False:
            self.emit(ind, "return -1")
            return
        if _is_any(schema):
            c = self.var("c")
            self.emit(ind, f"{c} = _deep({v}, {self.limit - depth + 1!r})")
            self.emit(ind, f"if {c} < 0:")
            self.emit(ind + 1, "return -1")
            if count:
                self.emit(ind, f"nk += {c}")
            return
        if not isinstance(schema, dict):
            raise _Unsupported("schema is not an object")
        t = schema.get("type")
        if t is None or isinstance(t, list):
            raise _Unsupported("type must be one name")
        inline = self.scalar(schema, v)
        if inline is not None:
            self.emit(ind, f"if not {inline}:")
            self.emit(ind + 1, "return -1")
        elif t == "object":
            self.obj(schema, v, depth, ind, count)
        elif t == "array":
            self.arr(schema, v, depth, ind, count)
        else:
            raise _Unsupported(f"type {t} with {sorted(set(schema) - ANNOTATIONS)}")

    def obj(self, schema, x: str, depth: int, ind: int, count: bool):
        if set(schema) - ANNOTATIONS - OBJECT_KEYS:
            raise _Unsupported(", ".join(sorted(set(schema) - ANNOTATIONS - OBJECT_KEYS)))
        props = schema.get("properties", {})
        add = schema.get("additionalProperties", True)
        pats = schema.get("patternProperties", {})
        if add is not True and add is not False:
            if not _is_any(add):
                raise _Unsupported("additionalProperties schema")
            add = True
        if not all(type(p) is str and text_ok(p) for p in props):
            raise _Unsupported("property names other than UTF-8 strings")
        required = schema.get("required", [])
        if not isinstance(required, list) or not all(type(r) is str for r in required):
            raise _Unsupported("required")
        self.emit(ind, f"if type({x}) is not dict:")
        self.emit(ind + 1, "return -1")
        if count:
            self.emit(ind, f"nk += len({x})")
        known = self.const(frozenset(props))
        # Each property present adds one to `m` (the required ones up front); when `m`
        # falls short of len(x) the object has other keys, walked at the end.
        m = self.var("m")
        self.emit(ind, f"{m} = {sum(1 for r in set(required) if r in props)!r}")
        for r in required:
            if r not in props:
                self.emit(ind, f"if {r!r} not in {x}:")
                self.emit(ind + 1, "return -1")
        for key in sorted(props):
            v = self.var("v")
            # `in` then `[]`: an absent optional key (most of a wide schema's) costs one
            # membership test, cheaper than a .get call with a sentinel.
            if key in required:
                self.emit(ind, f"if {key!r} not in {x}:")
                self.emit(ind + 1, "return -1")
                self.emit(ind, f"{v} = {x}[{key!r}]")
                self.value(props[key], v, depth + 1, ind, count)
            else:
                self.emit(ind, f"if {key!r} in {x}:")
                self.emit(ind + 1, f"{m} += 1")
                self.emit(ind + 1, f"{v} = {x}[{key!r}]")
                self.value(props[key], v, depth + 1, ind + 1, count)
        # Keys outside `properties` must match a pattern when additionalProperties is false;
        # their values are walked for depth (a pattern's own schema is checked below).
        k, w, c = self.var("k"), self.var("w"), self.var("c")
        self.emit(ind, f"if len({x}) != {m}:")
        self.emit(ind + 1, f"for {k}, {w} in {x}.items():")
        self.emit(ind + 2, f"if {k} in {known}:")
        self.emit(ind + 3, "continue")
        self.emit(ind + 2, f"if type({k}) is not str or not _text_ok({k}):")
        self.emit(ind + 3, "return -1")
        if add is False:
            tests = " and ".join(f"{self.const(re.compile(p), 're')}.search({k}) is None" for p in sorted(pats))
            self.emit(ind + 2, f"if {tests or 'True'}:")
            self.emit(ind + 3, "return -1")
        self.emit(ind + 2, f"{c} = _deep({w}, {self.limit - depth!r})")
        self.emit(ind + 2, f"if {c} < 0:")
        self.emit(ind + 3, "return -1")
        if count:
            self.emit(ind + 2, f"nk += {c}")
        for p in sorted(pats):
            if _is_any(pats[p]):
                continue
            rx = self.const(re.compile(p), "re")
            k2, w2 = self.var("k"), self.var("w")
            self.emit(ind, f"for {k2}, {w2} in {x}.items():")
            self.emit(ind + 1, f"if type({k2}) is not str:")
            self.emit(ind + 2, "return -1")
            self.emit(ind + 1, f"if {rx}.search({k2}) is not None:")
            self.value(pats[p], w2, depth + 1, ind + 2, False)  # counted with the property or the extras

    def arr(self, schema, x: str, depth: int, ind: int, count: bool):
        if set(schema) - ANNOTATIONS - ARRAY_KEYS:
            raise _Unsupported(", ".join(sorted(set(schema) - ANNOTATIONS - ARRAY_KEYS)))
        self.emit(ind, f"if type({x}) is not list:")
        self.emit(ind + 1, "return -1")
        if "minItems" in schema:
            self.emit(ind, f"if len({x}) < {int(schema['minItems'])!r}:")
            self.emit(ind + 1, "return -1")
        if "maxItems" in schema:
            self.emit(ind, f"if len({x}) > {int(schema['maxItems'])!r}:")
            self.emit(ind + 1, "return -1")
        items = schema.get("items", True)
        i = self.var("i")
        self.emit(ind, f"for {i} in {x}:")
        self.value(items, i, depth + 1, ind + 1, count)
        unique = schema.get("uniqueItems", False)
        if unique is True:
            strings = isinstance(items, dict) and items.get("type") == "string"
            test = f"len(set({x})) != len({x})" if strings else f"not _unique({x})"
            self.emit(ind, f"if {test}:")
            self.emit(ind + 1, "return -1")
        elif unique is not False:
            raise _Unsupported("uniqueItems")


def compile_scan(schema, max_depth: int | None = None):
    """``scan(value) -> int`` for ``schema`` (see the module docstring), or None if the
    schema uses keywords outside the subset."""
    g = _Gen(max_depth)
    try:
        g.emit(0, "def _scan(x0):")
        g.emit(1, "nk = 0")
        g.value(schema, "x0", 1, 1, True)
        g.emit(1, "return nk")
    except (_Unsupported, re.error, TypeError, ValueError):
        return None
    ns = {"__builtins__": {"type": type, "len": len, "int": int, "float": float, "str": str, "dict": dict,
                           "list": list, "bool": bool, "set": set},
          "_text_ok": text_ok, "_date_ok": _date_ok, "_month_ok": _month_ok, "_float_ok": _float_ok,
          "_deep": _deep, "_unique": _unique,
          "_MEMO_LIMIT": MEMO_LIMIT}
    for name, value in g.consts.values():
        ns[name] = value
    src = "\n".join(g.helpers + g.lines) + "\n"
    exec(compile(src, "<rulecite fastcheck>", "exec"), ns)  # noqa: S102 - built from repr() only
    fn = ns["_scan"]
    fn.__rulecite_source__ = src
    return fn


def compile_check(schema):
    """A fast validity check for ``schema`` (True only when valid), or None if the schema
    uses unsupported keywords."""
    scan = compile_scan(schema)
    if scan is None:
        return None

    def check(value) -> bool:
        return scan(value) >= 0

    check.__rulecite_source__ = scan.__rulecite_source__
    return check


