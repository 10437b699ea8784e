"""Reading one record: the one JSON-value walker every stage uses.

Takes an input item (a JSON Lines line as ``bytes`` or ``str``, a record already
decoded as a ``dict``, or an ``OversizedLine``); gives the record (a ``dict``) or the
``Rejection`` that says why it cannot be read: not UTF-8, not JSON, a repeated key (a
later value would silently replace an earlier one), a number JSON cannot hold
(``NaN``, ``Infinity``, ``1e999``), too large, nested too deep, half a surrogate pair
in a string, or not an object.

Every check on a JSON value lives here, once, as a public function: ``text_ok``
(a string can be written as UTF-8), ``value_depth_ok`` and ``text_depth_ok`` (nesting
within the limit), ``unwritable`` and ``huge_int`` (numbers no result could carry),
``unpaired_surrogate``, ``duplicate_path``, ``json_path``. The engine
(``evaluator``), the schema validator (``validate``) and the compiled schema scan
(``codegen/schema``) all use these; ``subjects.find_record`` (what ``explain`` and
``evidence`` read) reads through ``Evaluator.prepare``, which reads through here.

``fast_loads`` is the engine's fast path (orjson when installed): it never judges, it
only proposes a value that the compiled schema scan then confirms or sends here.
"""

from __future__ import annotations

import json
import math
import re
import sys

import attrs

from rulecite.interpreter.engine.reading import OversizedLine
from rulecite.interpreter.engine.results import Rejection


@attrs.frozen
class Limits:
    """Bounds on one input record; hitting one gives a rejection, never a crash."""

    max_record_bytes: int = 1_000_000
    max_depth: int = 32
    max_steps: int = 10_000_000  # evaluation steps for one record (runtime.DEFAULT_MAX_STEPS)
    max_lines: int = 1000  # lines (the pack's [record] lines) in one record
    max_group: int = 1000  # records (and rejections among them) one subject's group holds, for history


DEFAULT_LIMITS = Limits()

HALF_PAIR = "a string holds half a surrogate pair: not Unicode text"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# ---------------------------------------------------------------- checks on values


def json_path(parts) -> str:
    """``$.a[0]["b c"]`` for the path parts ``("a", 0, "b c")``."""
    out = "$"
    for p in parts:
        if isinstance(p, int):
            out += f"[{p}]"
        elif _NAME.fullmatch(str(p)):
            out += "." + str(p)
        else:
            out += "[" + repr(str(p)).replace("'", '"') + "]"
    return out


def text_ok(s) -> bool:
    """Whether ``s`` can be written as UTF-8 (holds no half of a surrogate pair)."""
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def value_depth_ok(value, limit: int, depth: int = 1) -> bool:
    """Whether a decoded value nests no deeper than ``limit`` levels (the value itself is one)."""
    if depth > limit:
        return False
    if isinstance(value, dict):
        return all(value_depth_ok(v, limit, depth + 1) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(value_depth_ok(v, limit, depth + 1) for v in value)
    return True


def text_depth_ok(text: str, limit: int) -> bool:
    """Whether JSON text nests no deeper than ``limit`` levels (read before decoding it)."""
    if text.count("{") + text.count("[") <= limit:
        return True
    depth = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            depth += 1
            if depth > limit:
                return False
        elif ch in "}]":
            depth -= 1
    return True


def unwritable(value):
    """(path parts, "int" | "float") of the first number that no JSON result could carry:
    an integer too long to turn into text, or a float that is NaN or infinite (both only
    possible in a decoded record handed to the API; JSON text cannot hold them). None
    when there is none."""
    limit = sys.get_int_max_str_digits()
    stack = [(value, ())]
    while stack:
        v, p = stack.pop()
        if type(v) is int and limit and v.bit_length() > limit * 3 and abs(v) >= 10 ** limit:
            return p, "int"
        if type(v) is float and not math.isfinite(v):
            return p, "float"
        if isinstance(v, dict):
            stack.extend((x, p + (k,)) for k, x in reversed(list(v.items())))
        elif isinstance(v, (list, tuple)):  # a caller's dict may hold tuples
            stack.extend((x, p + (i,)) for i, x in reversed(list(enumerate(v))))
    return None


def huge_int(value):
    """The path (parts) of the first integer too long to turn into text, or None."""
    found = unwritable(value)
    return found[0] if found is not None and found[1] == "int" else None


def non_text_key(value):
    """The JSON path of the first object key that is not text (a caller's dict may hold
    ``{1: 2}``; JSON's keys are strings), or None."""
    stack = [(value, ())]
    while stack:
        v, p = stack.pop()
        if isinstance(v, dict):
            for k, x in reversed(list(v.items())):
                if not isinstance(k, str):
                    return json_path(p + (repr(k)[:40],))
                stack.append((x, p + (k,)))
        elif isinstance(v, (list, tuple)):
            stack.extend((x, p + (i,)) for i, x in reversed(list(enumerate(v))))
    return None


def unpaired_surrogate(value):
    """The JSON path of the first string (or key) holding an unpaired surrogate, or None."""
    stack = [(value, ())]
    while stack:
        v, p = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                return json_path(p)
        elif isinstance(v, dict):
            for k, x in reversed(list(v.items())):
                stack.append((x, p + (k,)))
                stack.append((k, p))
        elif isinstance(v, (list, tuple)):  # a caller's dict may hold tuples
            stack.extend((x, p + (i,)) for i, x in reversed(list(enumerate(v))))
    return None


def surrogate_path(value):
    """Like ``unpaired_surrogate`` for a record given as a dict, fast when it holds none:
    one C-level serialization, and the walk only when that fails for any reason."""
    try:
        dumps_utf8(value)
        return None
    except (TypeError, ValueError, RecursionError, OverflowError):
        return unpaired_surrogate(value)


def json_type(v) -> str:
    """How a rejection names the kind of a JSON value."""
    if v is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}.get(
        type(v), type(v).__name__)


# ---------------------------------------------------------------- decoding text


class DuplicateKey(ValueError):
    """An object in JSON text repeats a key."""


def _pairs(pairs):
    d = dict(pairs)
    if len(d) != len(pairs):
        seen = set()
        for k, _ in pairs:
            if k in seen:
                raise DuplicateKey(f"duplicate key {k!r}")
            seen.add(k)
    return d


def finite_float(text):
    """``parse_float`` for JSON text: a number too large for a float is an error, not infinity."""
    v = float(text)
    if math.isinf(v):
        raise ValueError(f"number {text[:40]} is too large")
    return v


def no_constant(name):
    """``parse_constant`` for JSON text: ``NaN`` and ``Infinity`` are not JSON."""
    raise ValueError(f"{name} is not valid JSON")


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_float=finite_float, parse_constant=no_constant)
_PLAIN_DECODER = json.JSONDecoder(parse_float=finite_float, parse_constant=no_constant)


class _Keys(dict):
    duplicate = None


def duplicate_path(text: str) -> str:
    """The JSON path of the object that repeats a key (decoded again, only on this rare path)."""
    def hook(pairs):
        d = _Keys(pairs)
        if len(d) != len(pairs):
            d.duplicate = True
        return d

    try:
        value = json.JSONDecoder(object_pairs_hook=hook).decode(text)
    except (ValueError, RecursionError):
        return "$"
    stack = [(value, ())]
    while stack:
        v, p = stack.pop()
        if isinstance(v, _Keys) and v.duplicate:
            return json_path(p)
        if isinstance(v, dict):
            stack.extend((x, p + (k,)) for k, x in reversed(list(v.items())))
        elif isinstance(v, list):
            stack.extend((x, p + (i,)) for i, x in reversed(list(enumerate(v))))
    return "$"


def decode_line(raw, n: int, limits: Limits):
    """One input line -> a decoded JSON value, or a Rejection."""
    if isinstance(raw, (bytes, bytearray)):
        if len(raw) > limits.max_record_bytes:
            return Rejection(n, "$", f"record is {len(raw)} bytes; the limit is {limits.max_record_bytes}")
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as e:
            return Rejection(n, "$", f"not UTF-8 text (byte {e.start}: {e.reason})")
    text = raw
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.rstrip("\r\n")
    if len(text) > limits.max_record_bytes:
        return Rejection(n, "$", f"record is {len(text)} characters; the limit is {limits.max_record_bytes}")
    if not text.strip():
        return Rejection(n, "$", "empty line: expected one JSON object per line")
    if not text_depth_ok(text, limits.max_depth):
        return Rejection(n, "$", f"JSON nested deeper than {limits.max_depth} levels")
    try:
        value = _DECODER.decode(text)
    except DuplicateKey as e:
        return Rejection(n, duplicate_path(text), f"not valid for evaluation: {e} (a later value would silently "
                         "replace an earlier one)")
    except (ValueError, RecursionError) as e:
        msg = str(e).splitlines()[0] if str(e) else e.__class__.__name__
        return Rejection(n, "$", f"not JSON: {msg[:200]}")
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):
        where = unpaired_surrogate(value)
        if where is not None:
            return Rejection(n, where, "a \\u escape holds half a surrogate pair: not Unicode text")
    if not text_ok(text):  # text given as str can hold a half pair itself, unescaped
        where = unpaired_surrogate(value)
        if where is not None:
            return Rejection(n, where, HALF_PAIR)
    return value


def decode_record(item, n: int, limits: Limits):
    """The full (slow) reading of one input item: the record dict, or the Rejection that
    says why there is none. Schema validation and coverage come after (``Evaluator``)."""
    if type(item) is OversizedLine:
        return Rejection(n, "$", f"record is {item.size} bytes; the limit is {limits.max_record_bytes}")
    if isinstance(item, (str, bytes, bytearray)):
        item = decode_line(item, n, limits)
        if isinstance(item, Rejection):
            return item
    elif isinstance(item, dict):
        if not value_depth_ok(item, limits.max_depth):
            return Rejection(n, "$", f"record nested deeper than {limits.max_depth} levels")
        where = surrogate_path(item)  # a caller's dict, never read as UTF-8 text
        if where is not None:
            return Rejection(n, where, HALF_PAIR)
    if not isinstance(item, dict):
        return Rejection(n, "$", f"expected a JSON object, got {json_type(item)}")
    return item


def loads_lenient(item):
    """A best-effort reading of an input item that ``decode_record`` rejects, only to tell
    whose record it was (its id and period): a repeated key keeps its last value, as
    most JSON readers do. Never used to judge a record. None when it cannot be read."""
    if isinstance(item, dict):
        return item
    if not isinstance(item, (str, bytes, bytearray)):
        return None
    try:
        text = bytes(item).decode("utf-8-sig") if not isinstance(item, str) else item.lstrip("\ufeff")
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def loads_document(text: str):
    """A whole JSON document (a ``.json`` facts file): ``NaN`` and ``Infinity`` are errors."""
    return json.loads(text, parse_constant=no_constant)


# ---------------------------------------------------------------- the fast path


def _fast_loads_stdlib(raw):
    # Without orjson: the standard decoder, minus the per-object hook (repeated keys are
    # caught by the key count); text with \u escapes (or a half pair of its own, given as
    # str) takes the full path, which checks for halves of surrogate pairs.
    try:
        text = raw.decode("utf-8") if type(raw) is bytes else raw
        if "\\u" in text or not text_ok(text):
            return None
        return _PLAIN_DECODER.decode(text)
    except (ValueError, RecursionError):
        return None


try:
    import orjson as _orjson

    def fast_loads(raw):
        """A JSON line decoded fast, or None; a proposal only (see the module docstring)."""
        try:
            return _orjson.loads(raw)
        except _orjson.JSONDecodeError:
            return None

    dumps_utf8 = _orjson.dumps  # raises on half a surrogate pair
except ImportError:  # the `fast` extra is not installed
    fast_loads = _fast_loads_stdlib

    def dumps_utf8(value):
        return json.dumps(value, ensure_ascii=False).encode("utf-8")
