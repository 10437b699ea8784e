"""What the engine reads off a compiled pack's rules before evaluating, and the checks of
what rendering gave.

Takes rules and compiled packs (``codegen``); gives ``plain_evidence`` (whether a rule's
findings may be rendered when first read rather than at once: no evidence item can be a
list or a number that is not finite), ``uses_history`` (whether any expression reads
``history``, so records must be grouped by subject), ``non_finite`` (the first value of
rendered findings or suggestions the JSON contract cannot hold), ``omitted_note`` (the
note on evidence lists cut short), and the bounds on one finding (``EVIDENCE_ITEMS``,
``MESSAGE_CHARS``). ``pack_facts`` keeps the first two per compiled pack. ``evaluator`` uses all of them.
"""

from __future__ import annotations

import math
import weakref

# Bounds on one finding, so that output stays linear in the input: an evidence value that
# is a list keeps its first EVIDENCE_ITEMS items (a note on the result says how many were
# left out), and a message keeps its first MESSAGE_CHARS characters.
EVIDENCE_ITEMS = 50
MESSAGE_CHARS = 2000
LISTS = frozenset((tuple, list))


_PLAIN_KINDS = frozenset(("bool", "string", "date", "month", "int"))
_PLAIN_CALLS = frozenset(("len", "present", "starts_with", "lower", "upper", "year_of", "months_between",
                          "days_between", "add_months", "add_days", "first_day", "last_day", "month_of",
                          "program_of"))


def plain_evidence(rule) -> bool:
    """Whether every evidence item of ``rule`` is text, a date, a boolean or a whole number,
    never a list or a decimal: then rendering its findings later cannot find a value that
    is not finite (whole numbers are Python ints, arithmetic on them is bounded by the
    runtime, and a record's own numbers were validated finite) nor cut a list short.
    Anything not known to be one of those renders at once."""
    from rulecite.interpreter.codegen.reads import evidence_items, expression_type
    from rulecite.policy_lang.model import Apply, Ref
    from rulecite.policy_lang.syntax import nodes as ast

    def kind(e):
        if isinstance(e, (ast.Compare, ast.In, ast.And, ast.Or, ast.Not)):
            return "bool"
        if isinstance(e, ast.Quant):
            return "bool" if e.func in ("any", "all") else ("int" if e.func == "count" else None)
        if isinstance(e, (Ref, ast.Field)):
            t = expression_type(e) if isinstance(e, ast.Field) else e.type
            return t.kind if t is not None else None
        if isinstance(e, Apply):
            return e.type.kind if e.type is not None else None
        if isinstance(e, ast.Call) and e.func in _PLAIN_CALLS:
            return "plain"
        if isinstance(e, ast.BinOp) and e.op in ("+", "-", "*"):
            return "int" if kind(e.left) == "int" and kind(e.right) == "int" else None
        if isinstance(e, ast.Literal):
            return e.kind if e.kind in _PLAIN_KINDS else None
        return None

    try:
        return all(kind(it) in _PLAIN_KINDS or kind(it) == "plain" for it in evidence_items(rule.condition))
    except Exception:  # noqa: BLE001 - a node this does not know: render at once, as before
        return False


def uses_history(cp) -> bool:
    """Whether any expression the compiled pack runs reads ``history``."""
    from rulecite.policy_lang.model import Ref
    from rulecite.policy_lang.syntax import nodes as ast

    roots = [d.expr for d in cp.pack.derived]
    for r in cp.rules:
        roots += [r.where, r.condition, r.message, r.suggest] + [lt.expr for lt in r.lets]
    for sg in cp.suggestions:
        roots += [sg.where, sg.when, sg.units, sg.reason]
    return any(isinstance(x, Ref) and x.kind == "special" and x.name == "history"
               for root in roots if root is not None for x in ast.walk(root))


def pack_facts(cp) -> tuple:
    """``(uses_history(cp), (plain_evidence(rule) per rule index))``, worked out once per
    compiled pack (walking every expression takes milliseconds on the CMS pack, and each
    ``evaluate`` call makes an evaluator)."""
    found = _FACTS.get(cp)
    if found is None:
        found = _FACTS[cp] = (uses_history(cp), tuple(plain_evidence(i.rule) for i in cp.infos))
    return found


_FACTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # compiled pack -> pack_facts


def finite(v) -> bool:
    t = type(v)
    if t is float:
        return math.isfinite(v)
    if t is list or t is tuple:
        return all(map(finite, v))
    if t is dict:
        return all(map(finite, v.values()))
    return True


def non_finite(findings, suggestions):
    """(JSON path, what) of the first value in rendered findings or suggestions that is a
    float but not finite; None when there is none."""
    for f in findings:
        rule, message, evidence = f[0], f[4], f[6]
        for expr, v, path in evidence:
            if not finite(v):
                return path or "$", f"the evidence {expr} of rule {rule}"
        if not finite(message):
            return "$", f"the message of rule {rule}"
    for s in suggestions:
        if not finite(s[1]):
            return "$", f"the units of suggestion {s[3]}"
    return None


def omitted_note(omitted: list) -> str:
    rule, line, expr, more = omitted[0]
    where = f" on line {line}" if line is not None else ""
    others = f"; and in {len(omitted) - 1:,} more evidence values" if len(omitted) > 1 else ""
    return (f"evidence lists are cut to their first {EVIDENCE_ITEMS} values: rule {rule}{where}, {expr}: "
            f"{more:,} more values left out{others}")


def plain_number(v):
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v




def info_paths(info) -> tuple:
    """A rule's evidence paths, as written (``{i}`` for the line's index)."""
    return tuple(path for _, path in info.evidence_paths)
