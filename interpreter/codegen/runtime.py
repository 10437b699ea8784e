"""Helpers that compiled packs and the tracing evaluator call at run time.

Every helper is pure, never reads the clock, and propagates absence: an absent
(``None``) argument gives an absent result unless the helper says otherwise.
Dates are ISO ``YYYY-MM-DD`` strings and months ``YYYY-MM`` strings; the facts are
validated before any rule runs, so these helpers may slice them safely.
"""

from __future__ import annotations

import calendar
import math

EMPTY: dict = {}

# Bounds on the work and the numbers of one record's evaluation (see docs/guides/reliability.md).
DEFAULT_MAX_STEPS = 10_000_000  # items visited by quantifiers, aggregates and `in` over lists
MAX_MAGNITUDE = 2**63  # an arithmetic result beyond +-2**63, or not finite, stops the evaluation


class EvaluationLimit(ArithmeticError):
    """A record's evaluation went past a bound; the engine rejects the record and names the
    rule that was running (``CompiledPack.limit_reason``)."""


class StepLimitExceeded(EvaluationLimit):
    pass


class NumberTooLarge(EvaluationLimit):
    pass


class _Unset:
    __slots__ = ()

    def __repr__(self):
        return "UNSET"


UNSET = _Unset()  # a derived value not computed yet for this record


def num(x):
    """``x`` if it is a number within +-MAX_MAGNITUDE; anything else numeric stops evaluation."""
    if -MAX_MAGNITUDE <= x <= MAX_MAGNITUDE:
        return x
    raise NumberTooLarge("an arithmetic result went past +-2**63 or is not a finite number")


def over_budget(state):
    """Called when a record's step budget (``state[0]``) has gone below zero."""
    raise StepLimitExceeded("the evaluation went past its step budget")


def isin(a, b, state):
    """``a in b`` where ``b`` is computed at run time: a list or text costs its length in steps."""
    if type(b) is list or type(b) is str or type(b) is tuple:
        state[0] -= len(b)
        if state[0] < 0:
            over_budget(state)
    return a in b


def field(obj, name):
    """A field of a value the schema leaves untyped: absent unless ``obj`` is an object."""
    return obj.get(name) if isinstance(obj, dict) else None


def month_index(m):
    """Months since year 0 of a ``YYYY-MM`` or ``YYYY-MM-DD`` string."""
    return int(m[0:4]) * 12 + int(m[5:7]) - 1


def months_between(a, b):
    if a is None or b is None:
        return None
    return month_index(b) - month_index(a)


def days_between(a, b):
    if a is None or b is None:
        return None
    from datetime import date

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
    from datetime import date, timedelta

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


def div(a, b):
    if a is None or b is None or b == 0:
        return None
    return num(a / b)


def sum_opt(values):
    return sum(v for v in values if v is not None)


def min_opt(values):
    return min((v for v in values if v is not None), default=None)


def max_opt(values):
    return max((v for v in values if v is not None), default=None)


def count_distinct(values):
    seen = []
    keys = set()
    for v in values:
        if v is None:
            continue
        k = repr(v) if isinstance(v, (dict, list)) else v
        if k not in keys:
            keys.add(k)
            seen.append(v)
    return len(seen)


def collect(values):
    return [v for v in values if v is not None]


# Name in the language -> helper. The compiler and the tracing evaluator share it.
FUNCTIONS = {
    "months_between": months_between,
    "days_between": days_between,
    "month_of": month_of,
    "year_of": year_of,
    "add_months": add_months,
    "add_days": add_days,
    "first_day": first_day,
    "last_day": last_day,
    "floor": floor_,
    "ceil": ceil_,
    "round": round_,
    "abs": abs_,
    "starts_with": starts_with,
    "lower": lower,
    "upper": upper,
    "len": len_,
    "min": min_n,
    "max": max_n,
}
