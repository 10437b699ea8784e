"""Helpers that compiled packs and the tracing evaluator call at run time.

The built-in functions themselves (``months_between``, ``round``, ...) are defined with
their types and docs in ``rulecite.policy_lang.builtins``; ``FUNCTIONS`` is taken from
that table. What is here is the rest: bounds, ``in``, division and the aggregate helpers.

Every helper is pure, never reads the clock, and propagates absence: an absent
(``None``) argument gives an absent result unless the helper says otherwise.
Dates are ISO ``YYYY-MM-DD`` strings and months ``YYYY-MM`` strings; the facts are
validated before any rule runs, so these helpers may slice them safely.
"""

from __future__ import annotations

from bisect import bisect_right

from rulecite.policy_lang.builtins import (  # noqa: F401 - the helpers compiled code and tools call by name
    IMPLEMENTATIONS, abs_, add_days, add_months, ceil_, days_between, first_day, floor_, last_day, len_, lower,
    max_n, min_n, month_index, month_of, months_between, round_, starts_with, upper, year_of,
)

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


def number(x):
    """``x`` if it is a number (or absent), for an operand of ``+``, ``-`` or ``*`` that the
    schema does not type: anything else stops the evaluation *before* the operator runs
    (``"ab" * 9000000000`` would ask for gigabytes of text, a list ``* n`` likewise)."""
    if x is None or type(x) is int or type(x) is float or type(x) is bool:
        return x
    raise TypeError(f"arithmetic on a value that is not a number ({_kind_of(x)})")


def _kind_of(x) -> str:
    return {str: "text", list: "a list", tuple: "a list", dict: "an object"}.get(type(x), type(x).__name__)


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


def concat(a, b, state):
    """``a + b`` of two lists: the new list costs its length in steps (so a chain of
    derived values each doubling a list cannot grow memory past the record's budget)."""
    out = list(a or ()) + list(b or ())
    state[0] -= len(out)
    if state[0] < 0:
        over_budget(state)
    return out


_MONTH_ENDS: dict = {}  # month text -> last_day(month): a record reads it once or more, a batch few months


def month_end(m):
    """``last_day(m)``, remembered for a month given as text (bounded: at most 4,096 kept;
    a value of any other type goes to ``last_day`` as it is, with its own error)."""
    if type(m) is str:
        d = _MONTH_ENDS.get(m)
        if d is None:
            d = last_day(m)
            if len(_MONTH_ENDS) < 4096:
                _MONTH_ENDS[m] = d
        return d
    return last_day(m)


def record_day(rec, shape):
    """The record's own service date (``shape``: (period field, "first" | "last")): the day
    a top-level derived value reads a dated parameter on."""
    period = rec[shape[0]]
    return month_end(period) if shape[1] == "last" else period[:7] + "-01"


def in_force(values, sd, rec, shape):
    """The value of a dated parameter in force on ``sd`` (the record's day when ``sd`` is None):
    ``values`` holds (start day, value) in date order; None before the first."""
    day = sd if sd is not None else record_day(rec, shape)
    k = bisect_right(values, day, key=_start) - 1  # a read is not charged: it never walks the values
    return values[k][1] if k >= 0 else None


def _start(value):
    return value[0]


def call_step(state):
    """A call of a definition costs one step of the record's budget."""
    state[0] -= 1
    if state[0] < 0:
        over_budget(state)


def field(obj, name):
    """A field of a value the schema leaves untyped: absent unless ``obj`` is an object."""
    return obj.get(name) if isinstance(obj, dict) else None


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


# Name in the language -> helper, from the one table of built-ins (``policy_lang.builtins``):
# every call the compiler does not write in place. The compiler and the tracing evaluator share it.
FUNCTIONS = IMPLEMENTATIONS
