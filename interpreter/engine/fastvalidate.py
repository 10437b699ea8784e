"""The accept path of validation: the facts schema compiled by ``jsonschema_rs``.

Takes a pack's facts schema and the engine's depth limit; gives ``accepts(value) ->
bool`` (``compile_fast``), or ``None`` when ``jsonschema_rs`` (the ``fast`` extra) is not
installed or the schema uses a keyword outside the subset of ``codegen/schema.py``. The
engine then uses the compiled Python scan (``codegen.schema.compile_scan``).

``accepts`` is a fast path, never the judge: ``True`` promises what the Python scan's
non-negative answer promises (valid for ``jsonschema`` with the engine's formats, nested
no deeper than the limit, no half of a surrogate pair in any string, no number of
magnitude 2**63 or more, only JSON types); ``False`` means "not sure", and the engine
asks ``jsonschema`` (``validate``), which gives the verdict and the reason.

The Rust validator's semantics differ from ``jsonschema``'s in places; the schema it is
given is rewritten so that it accepts no value ``jsonschema`` rejects
(``tests/test_fast_validator.py`` checks this on generated values over every bundled
schema):

- regex dialect: Python's ``$`` also matches before a final newline (``"123\\n"``
  matches ``^[0-9]{3}$``), Rust's only at the end: each ``$`` outside a class becomes
  ``(?:\\n?\\z)``, Python's ``\\Z`` becomes ``\\z``;
- formats: the engine checks ``date`` and ``month`` only (``validate.FORMATS``); every
  other ``format`` is dropped (an annotation, as for ``jsonschema`` here); ``month``
  becomes its pattern; ``date`` stays (RFC 3339 full-date) and a year ``0000``, which
  Python's calendar does not have, is refused;
- numbers: integers past 64 bits and whole floats of magnitude 2**63 or more (what a fast
  decoder makes of a long integer) are refused by bounds added to every number; an
  integer too long to write as text (over ``sys.get_int_max_str_digits()`` digits) passes
  Rust's ``integer``, its bounds and a list of types, but not ``number``, which every
  integer node and every open place requires;
  ``NaN`` and infinities are not numbers for Rust;
- anything the schema leaves open (``{}``, ``true``, a missing ``items``, extra
  properties) becomes a schema that admits only JSON types nested within the depth
  limit, so every value is converted and checked (a half surrogate pair, a subclass of
  ``str``, a set, a key other than a string make the conversion fail: that is a "not
  sure"); a string whose text no other keyword reads gets the pattern ``^``, because
  Rust checks a string's type without reading its text;
- a tuple is an array for Rust; the engine's ``jsonschema`` reads it as one too
  (``validate.TYPES``), so that both judge a caller's dict the same way.
"""

from __future__ import annotations

import copy

from rulecite.interpreter.codegen.schema import (ANNOTATIONS, ARRAY_KEYS, NUMBER_KEYS, OBJECT_KEYS, STRING_KEYS,
                                                 compile_scan)

try:
    import jsonschema_rs as _rs
except ImportError:  # the `fast` extra is not installed
    _rs = None

BIG = 9.2e18  # as codegen.schema: below 2**63, above every int64 a record needs
_ANY_TYPES = ["null", "boolean", "number", "string", "array", "object"]
_MONTH = "^[0-9]{4}-(0[1-9]|1[0-2])\\z"


class Unsupported(Exception):
    """The schema uses a keyword the rewrite does not know: no fast validator."""


def rust_pattern(pattern: str) -> str:
    """A Python ``re`` pattern as Rust's ``regex`` must read it to match the same strings
    (for the constructs facts schemas use; an unknown one fails to compile, or shows up in
    the differential test)."""
    out = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            out.append("\\z" if nxt == "Z" and not in_class else c + nxt)
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
        elif c == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "^":
                out.append("[^")
                i += 2
                if pattern[i:i + 1] == "]":  # a literal ] first in a class
                    out.append("\\]")
                    i += 1
                continue
            if pattern[i + 1:i + 2] == "]":
                out.append("[\\]")
                i += 2
                continue
        elif c == "$":
            out.append("(?:\\n?\\z)")
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


class _Rewrite:
    def __init__(self, limit: int, read_text: bool = True):
        self.limit = limit
        self.read_text = read_text
        self.defs: dict = {}

    def any(self, room: int):
        """A schema admitting any JSON value nested within ``room`` levels (itself one)."""
        if room < 1:
            return False
        name = f"rulecite_any_{room}"
        if name not in self.defs:
            inner = self.any(room - 1)
            self.defs[name] = {"type": _ANY_TYPES, "minimum": -BIG, "maximum": BIG,
                               "not": {"type": "integer", "not": {"type": "number"}},  # too long to write
                               "items": inner, "additionalProperties": inner}
            if self.read_text:
                self.defs[name]["pattern"] = "^"
        return {"$ref": f"#/$defs/{name}"}

    def node(self, schema, depth: int):
        """The rewritten schema for a value at ``depth`` (the record is 1)."""
        room = self.limit - depth + 1
        if room < 1 or schema is False:
            return False
        if schema is True or (isinstance(schema, dict) and not (set(schema) - ANNOTATIONS)
                              and schema.get("format") not in ("date", "month")):
            return self.any(room)
        if not isinstance(schema, dict):
            raise Unsupported("schema is not an object")
        t = schema.get("type")
        keys = set(schema) - ANNOTATIONS
        allowed = {"string": STRING_KEYS, "integer": NUMBER_KEYS, "number": NUMBER_KEYS, "boolean": {"type"},
                   "null": {"type"}, "object": OBJECT_KEYS, "array": ARRAY_KEYS}.get(t)
        if allowed is None or keys - allowed:
            raise Unsupported(f"type {t!r} with {sorted(keys)}")
        out = {k: copy.deepcopy(schema[k]) for k in keys if k not in ("properties", "patternProperties", "items",
                                                                      "additionalProperties", "pattern")}
        if t == "string":
            checks = []
            if "pattern" in schema:
                checks.append({"pattern": rust_pattern(schema["pattern"])})
            fmt = schema.get("format")
            if fmt == "month":
                checks.append({"pattern": _MONTH})
            elif fmt == "date":
                checks.append({"format": "date", "not": {"pattern": "^0000"}})
            if not checks and "enum" not in out and "const" not in out and self.read_text:
                checks.append({"pattern": "^"})  # reads the text, so half a surrogate pair fails (see above)
            # The first check goes into the node itself (its keywords are not there: the
            # pattern was taken out above, and the subset has no ``not``), the others into
            # ``allOf``: the same conjunction, and each ``allOf`` costs Rust a level.
            if checks:
                out.update(checks[0])
            if len(checks) > 1:
                out["allOf"] = checks[1:]
        elif t in ("integer", "number"):
            if t == "integer":  # an integer too long to write as text is an integer for Rust, not a number
                out["allOf"] = [{"type": "number"}]
            for kw, bound in (("minimum", -BIG), ("maximum", BIG)):
                if kw not in out:
                    out[kw] = bound
                else:
                    b = out[kw]
                    if type(b) not in (int, float) or b != b or b - b != 0:
                        raise Unsupported(kw)
                    out[kw] = max(b, bound) if kw == "minimum" else min(b, bound)  # both bounds hold
        elif t == "object":
            props = schema.get("properties", {})
            out["properties"] = {k: self.node(v, depth + 1) for k, v in props.items()}
            pats = schema.get("patternProperties", {})
            if pats:
                out["patternProperties"] = {rust_pattern(p): self.node(v, depth + 1) for p, v in pats.items()}
            add = schema.get("additionalProperties", True)
            if add is False:
                out["additionalProperties"] = False
            elif add is True or (isinstance(add, dict) and not (set(add) - ANNOTATIONS)):
                out["additionalProperties"] = self.any(room - 1)
            else:
                raise Unsupported("additionalProperties schema")
        elif t == "array":
            out["items"] = self.node(schema.get("items", True), depth + 1)
        return out


def rust_schema(schema, max_depth: int, read_text: bool = True) -> dict:
    """The facts schema rewritten for ``jsonschema_rs`` (see the module docstring). Without
    ``read_text``, for values a decoder made from UTF-8 text (which holds no half surrogate
    pair), strings get no ``^`` pattern: about a fifth of the time on a typical record."""
    rw = _Rewrite(max_depth, read_text)
    root = rw.node(schema, 1)
    if root is False:
        return {"not": {}}
    root = dict(root)
    if rw.defs:
        root["$defs"] = rw.defs
    root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return root


def compile_fast(schema, max_depth: int, read_text: bool = True):
    """``accepts(value) -> bool`` for ``schema`` and the depth limit, or None (no
    ``jsonschema_rs``, or a schema outside the subset). ``read_text=False`` gives the one
    for values decoded from UTF-8 text (see ``rust_schema``)."""
    if _rs is None or compile_scan(schema, max_depth) is None:  # the same subset as the Python scan
        return None
    try:
        validator = _rs.validator_for(rust_schema(schema, max_depth, read_text), validate_formats=True)
    except Exception:  # noqa: BLE001 - a schema the Rust side refuses: the scan does the work
        return None
    is_valid = validator.is_valid

    def accepts(value) -> bool:
        try:
            return is_valid(value)
        except Exception:  # noqa: BLE001 - a value Rust cannot convert (half a surrogate pair, a str subclass...)
            return False

    accepts.validator = validator
    return accepts
