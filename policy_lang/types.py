"""Value types of the language, and how a facts JSON Schema maps onto them.

Takes a JSON Schema (a dict); gives ``Type`` values the checker uses to type every
field a rule reads. Only a plain subset of JSON Schema is read (``type``,
``properties``, ``items``, ``enum``, ``format``, ``default``, ``required``); anything
else is accepted by validation but gives the type ``any``.
"""

from __future__ import annotations

from attrs import evolve, field, frozen


@frozen
class Type:
    kind: str  # int decimal bool string date month list record set any
    item: "Type | None" = None
    fields: tuple = ()  # ((name, Type), ...) for records, sorted by name
    optional: bool = True  # may be absent at run time
    enum: tuple | None = None
    default: object = field(default=None, eq=False)
    description: str | None = field(default=None, eq=False)

    def field(self, name: str) -> "Type | None":
        for n, t in self.fields:
            if n == name:
                return t
        return None

    @property
    def field_names(self) -> list:
        return [n for n, _ in self.fields]

    def required(self) -> "Type":
        return evolve(self, optional=False)

    def __str__(self) -> str:
        if self.kind == "list":
            return f"list of {self.item}" if self.item else "list"
        if self.kind == "record":
            return "record"
        return {"decimal": "number", "int": "whole number", "bool": "true/false", "set": "code set"}.get(
            self.kind, self.kind
        )


INT = Type("int", optional=False)
DECIMAL = Type("decimal", optional=False)
BOOL = Type("bool", optional=False)
STRING = Type("string", optional=False)
DATE = Type("date", optional=False)
MONTH = Type("month", optional=False)
ANY = Type("any")
SET = Type("set", item=STRING, optional=False)

NUMERIC = {"int", "decimal"}


def is_numeric(t: Type) -> bool:
    return t.kind in NUMERIC or t.kind == "any"


def comparable(a: Type, b: Type) -> bool:
    if a.kind == "any" or b.kind == "any":
        return True
    if a.kind in NUMERIC and b.kind in NUMERIC:
        return True
    return a.kind == b.kind and a.kind in {"string", "date", "month", "bool"}


def join(a: Type, b: Type) -> Type:
    if a.kind == b.kind:
        return evolve(a, optional=a.optional or b.optional)
    if a.kind in NUMERIC and b.kind in NUMERIC:
        return Type("decimal", optional=a.optional or b.optional)
    return ANY


def from_schema(schema: dict, required: bool = False) -> Type:
    """The language type of one JSON Schema node."""
    if not isinstance(schema, dict):
        return ANY
    t = schema.get("type")
    desc = schema.get("description")
    opt = not required
    default = schema.get("default")
    if not _default_fits(default, t):  # a default of another type than the field's is ignored
        default = None
    if default is not None:
        opt = False
    enum = tuple(schema["enum"]) if isinstance(schema.get("enum"), list) else None
    if t == "integer":
        return Type("int", optional=opt, enum=enum, default=default, description=desc)
    if t == "number":
        return Type("decimal", optional=opt, enum=enum, default=default, description=desc)
    if t == "boolean":
        return Type("bool", optional=opt, default=default, description=desc)
    if t == "string":
        fmt = schema.get("format")
        kind = {"date": "date", "month": "month"}.get(fmt, "string")
        return Type(kind, optional=opt, enum=enum, default=default, description=desc)
    if t == "array":
        # An absent list is empty, so lists are never optional.
        return Type("list", item=from_schema(schema.get("items", {}), required=True), optional=False,
                    description=desc)
    if t == "object":
        req = set(schema.get("required", []))
        props = schema.get("properties", {})
        fields = tuple(sorted((k, from_schema(v, k in req)) for k, v in props.items()))
        return Type("record", fields=fields, optional=opt, description=desc)
    return Type("any", description=desc)


def _default_fits(value, t) -> bool:
    if value is None:
        return True
    if t == "integer":
        return type(value) is int
    if t == "number":
        return type(value) in (int, float)
    if t == "boolean":
        return type(value) is bool
    if t == "string":
        return type(value) is str
    return False
