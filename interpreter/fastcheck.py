"""Compile a JSON Schema (a plain subset) into one fast yes/no Python function.

Takes a schema dict; gives ``check(value) -> bool`` or ``None`` when the schema uses
a keyword outside the subset (the caller then uses ``jsonschema`` for every record).
The subset is what facts schemas need: ``type`` (one type), ``properties``,
``required``, ``additionalProperties`` (boolean), ``patternProperties`` (to any
schema), ``items``, ``enum``, ``const``, ``minimum``/``maximum``,
``exclusiveMinimum``/``exclusiveMaximum``, ``minLength``/``maxLength``, ``pattern``,
``minItems``/``maxItems``, ``format`` (``date``, ``month``; others ignored, as
jsonschema does), plus annotations (``description``, ``title``, ``default``, ...).

The generated source is built from fixed templates and ``repr()`` of schema values
only, so a hostile schema cannot inject code; tests compare it with jsonschema on
generated values.
"""

from __future__ import annotations

import datetime as _dt
import re

_ANNOTATIONS = {"$schema", "$id", "$comment", "title", "description", "default", "examples", "deprecated",
                "readOnly", "writeOnly", "format", "x-rulecite"}
_MISSING = object()
_DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_MONTH_RE = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])\Z")


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


class _Unsupported(Exception):
    pass


class _Gen:
    def __init__(self):
        self.lines: list = []
        self.consts: dict = {}
        self.n = 0

    def const(self, value, kind="v") -> str:
        key = (kind, repr(value))
        if key not in self.consts:
            self.consts[key] = (f"_c{len(self.consts)}", value)
        return self.consts[key][0]

    def node(self, schema) -> str:
        """Emit a function for ``schema``; return its name."""
        if schema is True or schema == {}:
            return "_any"
        if schema is False:
            return "_never"
        if not isinstance(schema, dict):
            raise _Unsupported("schema is not an object")
        self.n += 1
        name = f"_v{self.n}"
        body = self.body(schema, "x")
        self.lines.append(f"def {name}(x):")
        self.lines.extend("    " + b for b in body)
        self.lines.append("    return True")
        return name

    def scalar(self, schema, v: str) -> str | None:
        """An inline boolean expression for a scalar schema, or None if not scalar."""
        t = schema.get("type")
        if t not in ("string", "integer", "number", "boolean", "null") or set(schema) - _ANNOTATIONS - {
                "type", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                "minLength", "maxLength", "pattern"}:
            return None
        parts = []
        if t == "string":
            parts.append(f"type({v}) is str")
            fmt = schema.get("format")
            if fmt == "date":
                parts.append(f"_date_ok({v})")
            elif fmt == "month":
                parts.append(f"_month_ok({v})")
            if "minLength" in schema:
                parts.append(f"len({v}) >= {int(schema['minLength'])!r}")
            if "maxLength" in schema:
                parts.append(f"len({v}) <= {int(schema['maxLength'])!r}")
            if "pattern" in schema:
                parts.append(f"{self.const(re.compile(schema['pattern']), 're')}.search({v}) is not None")
        elif t == "integer":
            parts.append(f"(type({v}) is int or (type({v}) is float and {v}.is_integer()))")
        elif t == "number":
            parts.append(f"(type({v}) is int or type({v}) is float)")
        elif t == "boolean":
            parts.append(f"type({v}) is bool")
        else:
            parts.append(f"{v} is None")
        for kw, op in (("minimum", ">="), ("maximum", "<="), ("exclusiveMinimum", ">"), ("exclusiveMaximum", "<")):
            if kw in schema:
                bound = schema[kw]
                if type(bound) not in (int, float):
                    raise _Unsupported(kw)
                parts.append(f"{v} {op} {bound!r}")
        if "enum" in schema:
            vals = schema["enum"]
            if not all(type(x) is str for x in vals):
                raise _Unsupported("non-string enum")
            parts.append(f"{v} in {self.const(frozenset(vals))}")
        if "const" in schema:
            if type(schema["const"]) is not str:
                raise _Unsupported("non-string const")
            parts.append(f"{v} == {schema['const']!r}")
        return "(" + " and ".join(parts) + ")"

    def body(self, schema, x: str) -> list:
        unknown = set(schema) - _ANNOTATIONS - {
            "type", "properties", "required", "additionalProperties", "patternProperties", "items", "enum",
            "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
            "pattern", "minItems", "maxItems"}
        if unknown:
            raise _Unsupported(", ".join(sorted(unknown)))
        t = schema.get("type")
        if t is None or isinstance(t, list):
            raise _Unsupported("type must be one name")
        inline = self.scalar(schema, x)
        if inline is not None:
            return [f"if not {inline}:", "    return False"]
        out = []
        if t == "object":
            out += [f"if type({x}) is not dict:", "    return False"]
            props = schema.get("properties", {})
            add = schema.get("additionalProperties", True)
            pats = schema.get("patternProperties", {})
            if add is False:
                known = self.const(frozenset(props))
                pat_checks = [self.const(re.compile(p), "re") for p in sorted(pats)]
                cond = f"k not in {known}" + "".join(f" and {c}.search(k) is None" for c in pat_checks)
                out += [f"for k in {x}:", f"    if {cond}:", "        return False"]
            elif add is not True:
                raise _Unsupported("additionalProperties schema")
            for p in sorted(pats):
                sub = pats[p]
                if sub in (True, {}):
                    continue
                fn = self.node(sub)
                rx = self.const(re.compile(p), "re")
                out += [f"for k, v in {x}.items():", f"    if {rx}.search(k) is not None and not {fn}(v):",
                        "        return False"]
            for r in schema.get("required", []):
                out += [f"if {r!r} not in {x}:", "    return False"]
            for key in sorted(props):
                sub = props[key]
                out.append(f"v = {x}.get({key!r}, _MISSING)")
                inline = self.scalar(sub, "v") if isinstance(sub, dict) else None
                if inline is not None:
                    out += [f"if v is not _MISSING and not {inline}:", "    return False"]
                else:
                    fn = self.node(sub)
                    out += [f"if v is not _MISSING and not {fn}(v):", "    return False"]
        elif t == "array":
            out += [f"if type({x}) is not list:", "    return False"]
            if "minItems" in schema:
                out += [f"if len({x}) < {int(schema['minItems'])!r}:", "    return False"]
            if "maxItems" in schema:
                out += [f"if len({x}) > {int(schema['maxItems'])!r}:", "    return False"]
            items = schema.get("items", True)
            if items not in (True, {}):
                inline = self.scalar(items, "i") if isinstance(items, dict) else None
                if inline is not None:
                    out += [f"for i in {x}:", f"    if not {inline}:", "        return False"]
                else:
                    fn = self.node(items)
                    out += [f"for i in {x}:", f"    if not {fn}(i):", "        return False"]
        else:
            raise _Unsupported(f"type {t}")
        return out


def compile_check(schema):
    """A fast validity check for ``schema``, or None if it uses unsupported keywords."""
    g = _Gen()
    try:
        root = g.node(schema)
    except (_Unsupported, re.error, TypeError, ValueError):
        return None
    ns = {"__builtins__": {"type": type, "len": len, "int": int, "float": float, "str": str, "dict": dict,
                           "list": list, "bool": bool},
          "_MISSING": _MISSING, "_date_ok": _date_ok, "_month_ok": _month_ok,
          "_any": lambda x: True, "_never": lambda x: False}
    for name, value in g.consts.values():
        ns[name] = value
    src = "\n".join(g.lines) + "\n"
    exec(compile(src, "<rulecite fastcheck>", "exec"), ns)  # noqa: S102 - built from repr() only
    fn = ns[root]
    fn.__rulecite_source__ = src
    return fn
