"""Validate one record against the pack's facts schema, and explain a failure.

Takes a decoded JSON value; gives ``None`` (valid) or a ``Problem`` (JSON path,
reason, count of other errors). The detailed reason always comes from
``jsonschema`` (``best_match``); the yes/no fast path is a validator compiled once
per pack (``fastcheck``), which falls back to jsonschema when a schema uses
keywords it does not compile.
"""

from __future__ import annotations

import datetime as _dt
import re
import sys

import attrs

from rulecite.interpreter.engine.decode import huge_int, json_path, non_text_key, unwritable

_MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])\Z")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")


def __getattr__(name):
    """``FORMATS`` (the formats the engine checks: ``date`` and ``month``) and ``TYPES``
    (the type checker: a caller's tuple counts as an array) are made on first use, with
    the validator that uses both (``_jsonschema``): importing jsonschema takes a tenth of
    a start-up, and a run whose records all pass the fast check never needs it."""
    if name in ("FORMATS", "TYPES"):
        return _jsonschema()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_MADE: dict = {}


def _jsonschema() -> dict:
    if not _MADE:
        import jsonschema
        from jsonschema import Draft202012Validator, FormatChecker

        formats = FormatChecker(formats=())
        formats.checks("date", raises=ValueError)(_is_date)
        formats.checks("month", raises=ValueError)(_is_month)
        # A caller's dict may hold a tuple where the schema wants an array: read as one (the fast
        # validator, ``fastvalidate``, cannot tell them apart, and results write it as an array).
        types = Draft202012Validator.TYPE_CHECKER.redefine(
            "array", lambda checker, instance: isinstance(instance, (list, tuple)))
        validator = jsonschema.validators.extend(Draft202012Validator, type_checker=types)
        _MADE.update(FORMATS=formats, TYPES=types, Validator=validator)
    return _MADE


def _is_date(value) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE.match(value):
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")
    _dt.date.fromisoformat(value)
    return True


def _is_month(value) -> bool:
    if not isinstance(value, str):
        return True
    if not _MONTH.match(value):
        raise ValueError(f"{value!r} is not a month (YYYY-MM)")
    return True


ERRORS_KEPT = 20  # errors a rejection lists; `other_errors` counts them all


@attrs.frozen
class Problem:
    path: str
    reason: str
    others: int = 0
    errors: tuple = ()  # (path, reason) of every error, at most ERRORS_KEPT, the first being path and reason


def _reason(err) -> str:
    msg = err.message
    if len(msg) > 300:
        msg = msg[:297] + "..."
    if err.validator == "format":
        return msg
    return msg


def _described(err) -> list:
    """The (JSON path, reason) pairs of one jsonschema error: one per unknown field for an
    ``additionalProperties`` error (its own path, and what a vendor field looks like when
    the schema says), else the error's own."""
    if err.validator == "additionalProperties" and isinstance(err.instance, dict) and isinstance(err.schema, dict):
        props = err.schema.get("properties") or {}
        pats = err.schema.get("patternProperties") or {}
        try:
            extra = [k for k in err.instance
                     if k not in props and not any(re.search(p, str(k)) for p in pats)]
        except re.error:
            extra = []
        if extra:
            hint = _vendor_hint(pats)
            out = []
            for k in extra:
                path = json_path(tuple(err.absolute_path) + (k,))
                out.append((path, f"unknown field `{_short(k)}` at `{path}`{hint}"))
            return out
    return [(json_path(err.absolute_path), _reason(err))]


_PREFIX = re.compile(r"\^([A-Za-z0-9_-]+)\Z")


def _vendor_hint(patterns) -> str:
    """What names the schema allows besides its properties, in a few words."""
    if not patterns:
        return ""
    prefixes = [m.group(1) for m in map(_PREFIX.match, patterns) if m]
    if len(prefixes) == len(patterns):
        return " (vendor fields start with " + " or ".join(f"`{p}`" for p in prefixes) + ")"
    return " (other field names must match " + " or ".join(f"`{p}`" for p in patterns) + ")"


def _short(key) -> str:
    text = str(key)
    return text if len(text) <= 80 else text[:77] + "..."


class RecordValidator:
    """Validates records for one pack. Thread-safe; compiled once."""

    def __init__(self, schema: dict):
        self.schema = schema
        self._validator = None
        from rulecite.interpreter.codegen.schema import compile_check

        self.fast = compile_check(schema)  # None when the schema needs the general validator

    @property
    def validator(self):
        """jsonschema's validator of the schema, made when first needed (a record the fast
        check does not accept, or a schema it does not compile)."""
        if self._validator is None:
            made = _jsonschema()
            self._validator = made["Validator"](self.schema, format_checker=made["FORMATS"])
        return self._validator

    def is_valid(self, record) -> bool:
        try:
            if self.fast is not None:
                return self.fast(record)
            return self.validator.is_valid(record)
        except TypeError:  # a key that is not text: `problem` names it
            return False

    def problem(self, record) -> Problem | None:
        where = non_text_key(record)
        if where is not None:
            return Problem(where, "an object key that is not text (JSON object keys are strings)")
        try:
            errors = list(self.validator.iter_errors(record))
        except ValueError:
            # jsonschema writes the value into its message; an integer too long for
            # str() (over sys.get_int_max_str_digits() digits) cannot be written.
            where = huge_int(record)
            if where is None:
                raise
            return _too_long(where)
        if not errors:
            return None
        from jsonschema.exceptions import best_match

        best = _described(best_match(errors))
        found = sorted({e for err in errors for e in _described(err)} - set(best))
        listed = (best + found)[:ERRORS_KEPT]
        total = len(best) + len(found)
        return Problem(listed[0][0], listed[0][1], total - 1, tuple(listed))

    def check(self, record) -> Problem | None:
        if self.fast is not None and self.fast(record):
            return None  # the fast check accepts no integer too long to write
        problem = self.problem(record)
        if problem is None:  # valid for jsonschema (the fast check declined, or there is none)
            # An integer too long to write, or a NaN or infinity (possible only in a decoded
            # record handed to the API) may be valid for the schema, but no result could
            # carry it: reject it, as the JSON decoder rejects it in text.
            found = unwritable(record)
            if found is not None:
                where, kind = found
                if kind == "int":
                    return _too_long(where)
                return Problem(json_path(where), "a number that is not finite (NaN or infinity)")
        return problem


def _too_long(where) -> Problem:
    return Problem(json_path(where), f"a number too long to read (over {sys.get_int_max_str_digits()} digits)")
