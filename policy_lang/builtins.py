"""The built-in functions of the language, in one table: ``BUILTINS``.

Takes nothing; gives one ``Builtin`` entry per built-in: its name and form (a plain
call, a quantifier ``any(x in L where C)`` or an aggregate ``sum(E for x in L)``),
its arity, its typing rule, its implementation (the pure Python function compiled
code and the tracing evaluator call), the line that documents it, and whether the
compiler writes it in place instead of calling the implementation (``codegen``).

Everything else reads this table: the checker types calls from it
(``policy_lang.check``), the run-time helpers take their ``FUNCTIONS`` from it
(``interpreter.codegen.runtime``), the tracing evaluator calls through ``call``,
``keywords.BUILTIN_FUNCTIONS`` (the Pygments lexer, the TextMate grammars, the
language server) lists its names, and a test checks that ``docs/language.md`` gives
every entry's signature and doc line.

Every implementation is pure, never reads the clock, and propagates absence: an
absent (``None``) argument gives an absent result unless the entry says otherwise.
Dates are ISO ``YYYY-MM-DD`` strings and months ``YYYY-MM`` strings; the facts are
validated before any rule runs, so the helpers may slice them safely.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Callable
from datetime import date, timedelta

import attrs

from rulecite.policy_lang import types as T

# ---------------------------------------------------------------- implementations


def month_index(m):
    """Months since year 0 of a ``YYYY-MM`` or ``YYYY-MM-DD`` string."""
    return int(m[0:4]) * 12 + int(m[5:7]) - 1


def present(x):
    return x is not None


def default(x, y):
    return x if x is not None else y


def months_between(a, b):
    if a is None or b is None:
        return None
    return month_index(b) - month_index(a)


def days_between(a, b):
    if a is None or b is None:
        return None
    return (date.fromisoformat(b) - date.fromisoformat(a)).days


def month_of(d):
    return None if d is None else d[:7]


def year_of(d):
    return None if d is None else int(d[:4])


def add_months(m, n):
    if m is None or n is None:
        return None
    i = month_index(m) + int(n)
    return f"{i // 12:04d}-{i % 12 + 1:02d}"


def add_days(d, n):
    if d is None or n is None:
        return None
    return (date.fromisoformat(d) + timedelta(days=int(n))).isoformat()


def first_day(m):
    return None if m is None else m[:7] + "-01"


def last_day(m):
    if m is None:
        return None
    y, mo = int(m[:4]), int(m[5:7])
    return f"{m[:7]}-{calendar.monthrange(y, mo)[1]:02d}"


def floor_(x):
    return None if x is None else math.floor(x)


def ceil_(x):
    return None if x is None else math.ceil(x)


def round_(x):
    # Round half away from zero: what people expect on paper, unlike Python's banker's rounding.
    if x is None:
        return None
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def abs_(x):
    return None if x is None else abs(x)


def starts_with(s, p):
    if s is None or p is None:
        return None
    return s.startswith(p)


def lower(s):
    return None if s is None else s.lower()


def upper(s):
    return None if s is None else s.upper()


def len_(x):
    return 0 if x is None else len(x)


def min_n(*xs):
    return None if any(x is None for x in xs) else min(xs)


def max_n(*xs):
    return None if any(x is None for x in xs) else max(xs)


def program_of(pack, code):
    """The ``program`` the pack's code catalog gives ``code`` (absent for an unknown code)."""
    c = pack.code(code) if isinstance(code, str) else None
    return c.program if c else None


# ---------------------------------------------------------------- typing rules
# A rule takes the argument types and gives the result type, or None: "these arguments
# do not fit" (the checker reports E304).


def _numeric(args):
    if not all(T.is_numeric(a) for a in args):
        return None
    return T.Type("int" if all(a.kind == "int" for a in args) else "decimal",
                  optional=any(a.optional for a in args))


def _to_int(args):
    if not T.is_numeric(args[0]):
        return None
    return T.Type("int", optional=args[0].optional)


def _kinds(*allowed, result):
    def rule(args):
        for a, ok in zip(args, allowed):
            if a.kind != "any" and a.kind not in ok:
                return None
        return attrs.evolve(result, optional=any(a.optional for a in args))
    return rule


def _minmax(args):
    t = args[0]
    for a in args[1:]:
        if not T.comparable(t, a):
            return None
        t = T.join(t, a)
    return t


def _default(args):
    a, b = args
    if not T.comparable(a, b) and a.kind != b.kind:
        return None
    return attrs.evolve(T.join(a, b), optional=b.optional)


def _len(args):
    return T.INT if args[0].kind in {"list", "set", "string", "any"} else None


def _program_of(args):
    return T.Type("string") if args[0].kind in {"string", "any"} else None


def _quantifier_result(func):
    return lambda args: T.INT if func == "count" else T.BOOL


def _sum(args):
    # args: the type of the summed value (the checker reports a value that is no number)
    return T.Type("decimal" if args[0].kind == "decimal" else "int", optional=False)


def _fold_extreme(args):
    return attrs.evolve(args[0], optional=True)


def _collect(args):
    return T.Type("list", item=attrs.evolve(args[0], optional=False), optional=False)


# ---------------------------------------------------------------- the table

CALL, QUANTIFIER, AGGREGATE = "call", "quantifier", "aggregate"
INLINE = "inline"  # ``codegen``: the compiler writes the call in place, not through ``FUNCTIONS``


@attrs.frozen
class Builtin:
    """One built-in. ``typing`` takes the argument types (for a quantifier: none; for an
    aggregate: the type of its value) and gives the result type, or None when the
    arguments do not fit. ``implementation`` is None for quantifiers and aggregates,
    which the compiler writes as loops; ``reads_pack`` says the implementation takes the
    checked pack first (``program_of`` reads the code catalog)."""

    name: str
    form: str  # CALL, QUANTIFIER or AGGREGATE
    signature: str  # as docs/language.md writes it, e.g. "add_days(date, n)"
    doc: str  # one line, as docs/language.md gives it
    typing: Callable
    arity: tuple = (1, 1)  # (least, most) arguments of a call
    implementation: Callable | None = None
    codegen: str | None = None  # INLINE, or None: compiled code calls ``implementation``
    reads_pack: bool = False


_DM = {"date", "month"}
_EXAMPLE = "E for x in L where C"

BUILTINS: tuple[Builtin, ...] = (
    # plain calls
    Builtin("present", CALL, "present(x)", "true when `x` has a value", lambda args: T.BOOL,
            implementation=present, codegen=INLINE),
    Builtin("default", CALL, "default(x, y)", "`x`, or `y` when `x` is absent", _default, (2, 2),
            default, codegen=INLINE),
    Builtin("len", CALL, "len(list)", "the number of items of a list or set, or of characters of a text (0 when absent)",
            _len, implementation=len_),
    Builtin("min", CALL, "min(a, b, ...)", "the smallest of two or more values", _minmax, (2, 99), min_n),
    Builtin("max", CALL, "max(a, b, ...)", "the largest of two or more values", _minmax, (2, 99), max_n),
    Builtin("floor", CALL, "floor(x)", "`x` rounded down to a whole number", _to_int, implementation=floor_),
    Builtin("ceil", CALL, "ceil(x)", "`x` rounded up to a whole number", _to_int, implementation=ceil_),
    Builtin("round", CALL, "round(x)", "`x` rounded to the nearest whole number, halves away from zero", _to_int,
            implementation=round_),
    Builtin("abs", CALL, "abs(x)", "`x` without its sign", _numeric, implementation=abs_),
    Builtin("month_of", CALL, "month_of(date)", "the month of a date (a month gives itself)",
            _kinds(_DM, result=T.MONTH), implementation=month_of),
    Builtin("year_of", CALL, "year_of(date or month)", "the year, a whole number", _kinds(_DM, result=T.INT),
            implementation=year_of),
    Builtin("months_between", CALL, "months_between(a, b)", "whole months from `a` to `b`; dates or months",
            _kinds(_DM, _DM, result=T.INT), (2, 2), months_between),
    Builtin("days_between", CALL, "days_between(a, b)", "days from date `a` to date `b`",
            _kinds({"date"}, {"date"}, result=T.INT), (2, 2), days_between),
    Builtin("add_months", CALL, "add_months(month, n)", "the month `n` months after `month` (`n` may be negative)",
            _kinds(_DM, {"int"}, result=T.MONTH), (2, 2), add_months),
    Builtin("add_days", CALL, "add_days(date, n)", "the date `n` days after `date` (`n` may be negative)",
            _kinds({"date"}, {"int"}, result=T.DATE), (2, 2), add_days),
    Builtin("first_day", CALL, "first_day(month)", "the first day of a month (or of a date's month)",
            _kinds(_DM, result=T.DATE), implementation=first_day),
    Builtin("last_day", CALL, "last_day(month)", "the last day of a month (or of a date's month)",
            _kinds(_DM, result=T.DATE), implementation=last_day),
    Builtin("starts_with", CALL, "starts_with(text, prefix)", "true when `text` begins with `prefix`",
            _kinds({"string"}, {"string"}, result=T.BOOL), (2, 2), starts_with),
    Builtin("program_of", CALL, "program_of(code)", "the `program` the code catalog gives a code "
            "(absent for an unknown code)", _program_of, implementation=program_of, codegen=INLINE,
            reads_pack=True),
    Builtin("lower", CALL, "lower(text)", "`text` in lower case", _kinds({"string"}, result=T.STRING),
            implementation=lower),
    Builtin("upper", CALL, "upper(text)", "`text` in upper case", _kinds({"string"}, result=T.STRING),
            implementation=upper),
    # quantifiers: `func(x in L where C)`
    Builtin("any", QUANTIFIER, "any(x in L where C)", "some element of `L` satisfies `C`",
            _quantifier_result("any"), (0, 0)),
    Builtin("all", QUANTIFIER, "all(x in L where C)", "every element of `L` satisfies `C` (true for an empty list)",
            _quantifier_result("all"), (0, 0)),
    Builtin("count", QUANTIFIER, "count(x in L where C)", "how many elements satisfy `C` (`where` optional)",
            _quantifier_result("count"), (0, 0)),
    # aggregates: `func(E for x in L where C)`
    Builtin("sum", AGGREGATE, f"sum({_EXAMPLE})", "sum of `E` (0 for none)", _sum),
    Builtin("min", AGGREGATE, f"min({_EXAMPLE})", "smallest `E` (absent for none)", _fold_extreme),
    Builtin("max", AGGREGATE, f"max({_EXAMPLE})", "largest `E` (absent for none)", _fold_extreme),
    Builtin("count_distinct", AGGREGATE, f"count_distinct({_EXAMPLE})", "number of distinct values of `E`",
            lambda args: T.INT),
    Builtin("collect", AGGREGATE, f"collect({_EXAMPLE})", "the list of values of `E`", _collect),
)

CALLS: dict[str, Builtin] = {b.name: b for b in BUILTINS if b.form == CALL}
QUANTIFIERS: dict[str, Builtin] = {b.name: b for b in BUILTINS if b.form == QUANTIFIER}
AGGREGATES: dict[str, Builtin] = {b.name: b for b in BUILTINS if b.form == AGGREGATE}
# Every name a call may use, sorted (a name may be both a call and an aggregate: min, max).
NAMES: tuple[str, ...] = tuple(sorted({b.name for b in BUILTINS}))
# The calls compiled code makes through ``runtime.FUNCTIONS``: every call the compiler does not inline.
IMPLEMENTATIONS: dict = {b.name: b.implementation for b in CALLS.values() if b.codegen is None}


def call(name: str, args, pack):
    """The value of the built-in call ``name`` on evaluated ``args`` (the tracing
    evaluator's way in; ``pack`` is the checked pack, for calls that read it)."""
    b = CALLS[name]
    return b.implementation(pack, *args) if b.reads_pack else b.implementation(*args)


__all__ = [
    "AGGREGATE",
    "AGGREGATES",
    "BUILTINS",
    "CALL",
    "CALLS",
    "IMPLEMENTATIONS",
    "INLINE",
    "NAMES",
    "QUANTIFIER",
    "QUANTIFIERS",
    "Builtin",
    "call",
]
