"""The only text the compiler writes into generated Python, and the checks on it.

Takes values read from a checked ``Pack`` (which may be forged: a tampered cache entry
can hold anything); gives source tokens that are safe to paste into a module:

- operator, function and mode tokens *selected* from the fixed tables below (the model's
  value picks an entry; the entry's own text is written) -- ``pick``;
- Python identifiers checked against ``[A-Za-z_][A-Za-z0-9_]*`` -- ``ident``; names made
  from pack text (rule ids, set names) are first reduced to that whitelist by ``Names``;
- literals written with ``repr()`` of exactly ``str``, ``int``, ``float``, ``bool``,
  ``None`` or tuples of them (a subclass could carry its own ``repr``) -- ``lit``;
- comments holding pack text reduced to a whitelist of characters that cannot end the
  comment line -- ``comment``.

Anything else is a :class:`CompileError`, raised before any source is executed.
"""

from __future__ import annotations

import datetime as _dt
import re

from rulecite.policy_lang.errors import RuleciteError

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
LO, HI = "0000-00-00", "9999-99-99"

# The only tokens the generated source ever takes from a model's operator and function
# fields: the model's value selects an entry; the entry's own text is what is written.
BINOPS = {"+": "+", "-": "-", "*": "*", "/": "/"}
CMPOPS = {"==": "==", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
QUANTS = {"any": "any", "all": "all", "count": "count"}
FOLDS = {"sum": "sum", "min": "_rt.min_opt", "max": "_rt.max_opt", "count_distinct": "_rt.count_distinct",
         "collect": "_rt.collect"}
SPECIALS = {"history": "hist", "service_date": "sd"}
REF_KINDS = {"fact": "fact", "let": "let", "var": "var", "set": "set", "special": "special", "param": "param"}
MODES = {"when": "when", "unless": "unless"}
SCOPES = {"line": "line", "record": "record"}
DAYS = {"first": "first", "last": "last"}
SEVERITIES = {"deny": "deny", "warn": "warn", "info": "info"}
LITERALS = {"int": int, "decimal": str, "string": str, "date": str, "month": str, "bool": bool}
SPECIAL_CALLS = {"present": 1, "default": 2, "program_of": 1}

# What a comment may hold of pack text: nothing that ends a line (for Python or for
# ``str.splitlines``, which numbers the lines of the line map), nothing outside ASCII.
_COMMENT_UNSAFE = re.compile(r"[^A-Za-z0-9 _.,:;/+=@()\[\]{}<>*&%$!?~^|'\"-]")
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9]+")
COMMENT_CHARS = 120
NAME_CHARS = 48


class CompileError(RuleciteError, ValueError):
    """The model holds something the checker never gives (a forged or corrupt cache entry):
    an operator, function, mode or name outside the compiler's tables, or a value of
    another type than text, number, date or node where one is expected."""


def show(value) -> str:
    """A short, safe description of a model value for an error message (never its own repr)."""
    if isinstance(value, str):
        return str.__repr__(str(value)[:60])
    return f"a {type(value).__name__}"


def pick(table: dict, key, what: str) -> str:
    """The table's own token for ``key``; anything not a plain ``str`` key of it is refused."""
    if type(key) is not str or key not in table:
        raise CompileError(f"{what} {show(key)} is not one the language has")
    return table[key]


def text(value, what: str) -> str:
    if type(value) is not str:
        raise CompileError(f"{what} must be text, not {show(value)}")
    return value


def ident(prefix: str, name) -> str:
    """``prefix + name``, where ``name`` must be exactly a ``str`` and a Python identifier."""
    if type(name) is not str or not IDENT.match(name):
        raise CompileError(f"not an identifier: {show(name)}")
    return prefix + name


def lit(value) -> str:
    """A Python literal for a pack constant (str, int, float, bool, None, tuples), of
    exactly those types: a subclass could bring its own ``repr``."""
    t = type(value)
    if value is None or t is bool or t is int or t is str:
        return repr(value)
    if t is float:
        r = repr(value)
        if r in ("inf", "-inf", "nan"):
            raise CompileError("non-finite number in pack")
        return r
    if t is tuple:
        return "(" + "".join(lit(v) + ", " for v in value) + ")"
    raise CompileError(f"cannot embed {show(value)}")


def day(d, default: str) -> str:
    if d is None:
        return default
    if type(d) is not _dt.date:
        raise CompileError(f"a window bound must be a date, not {show(d)}")
    return d.isoformat()


def codes(values, what: str):
    if values is None:
        return None
    if type(values) is not tuple:
        raise CompileError(f"{what} must be a tuple of codes")
    return tuple(text(c, what) for c in values)


def parts(tpl, what: str) -> tuple:
    out = getattr(tpl, "parts", None)
    if type(out) is not tuple:
        raise CompileError(f"{what} has no parts")
    return out


def comment(*words) -> str:
    """A ``# ...`` comment line holding pack text (rule ids, file names, codes): every
    character outside a printable-ASCII whitelist becomes ``?`` and the text is cut, so
    nothing in it can end the line or the comment. Non-text words become ``?``."""
    body = " ".join(w if type(w) is str else "?" for w in words)
    body = _COMMENT_UNSAFE.sub("?", body)
    if len(body) > COMMENT_CHARS:
        body = body[:COMMENT_CHARS - 3] + "..."
    return "# " + body


class Names:
    """Unique module-level names made from pack text: ``prefix_`` + the text with every run
    of characters outside ``[A-Za-z0-9]`` made one ``_`` (``ccm.99439.minutes`` ->
    ``rule_ccm_99439_minutes``), cut to NAME_CHARS; a name already taken gets ``_2``,
    ``_3``... Fixed names of the module are reserved first. Every result is re-checked
    by ``ident``."""

    def __init__(self, reserved=()):
        self.taken = set(reserved)

    def reserve(self, name: str) -> str:
        name = ident("", name)
        if name in self.taken:
            raise CompileError(f"the name {name} is taken twice")
        self.taken.add(name)
        return name

    def take(self, prefix: str, source) -> str:
        body = _NAME_UNSAFE.sub("_", text(source, "a name")).strip("_")[:NAME_CHARS].rstrip("_") or "x"
        base = ident("", prefix + "_" + body)
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        return self.reserve(name)
