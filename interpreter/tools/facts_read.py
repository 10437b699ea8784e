"""The record's fields a rule reads: JSON paths and their values, for evidence an auditor reads.

Takes a checked rule (``policy_lang.model.Rule``), the pack and one record; gives the
record's field paths the rule's ``where``, condition and ``let``s read (a ``let``, a
top-level derived value or a ``def`` is followed to the fields it reads: an auditor sees
``$.claims[1].minutes = 25``, never ``staff_minutes``) with the values the record holds
there. ``paths_of`` does the same for one expression (a finding's evidence item).

Paths are templates first (``[{i}]`` the line the rule is judging, ``[*]`` every item a
quantifier or aggregate walks) and are resolved against the record: one path per item,
in record order; a field the record lacks is listed with the value ``ABSENT``. Values
read from ``history`` (earlier records) are not fields of this record and are left out.
"""

from __future__ import annotations

import attrs

from rulecite.policy_lang.model import Apply, Ref
from rulecite.policy_lang.syntax import nodes as ast

ABSENT = object()  # a field the record does not have
_LINE = "{i}"
_EACH = "*"


class _Walk:
    def __init__(self, pack, rule=None):
        self.pack = pack
        self.rule = rule
        self.lets = {d.name: d for d in (rule.lets if rule is not None else ())}
        self.derived = {d.name: d for d in pack.derived}
        self.out: list = []  # path templates (tuples of steps), first use first
        self.seen_lets: set = set()

    def add(self, path):
        if path is not None and path not in self.out:
            self.out.append(path)

    def path(self, x, env) -> tuple | None:
        """The path template of a field expression, or None when ``x`` is not one."""
        names = []
        while isinstance(x, ast.Field):
            names.append(x.name)
            x = x.obj
        if not isinstance(x, Ref):
            return None
        if x.kind == "fact":
            root = (x.name,)
        elif x.kind == "var":
            root = env.get(x.name)
        elif x.kind == "special" and x.name == "service_date" and self.rule is not None and self.rule.var:
            shape = self.pack.shape
            root = (shape.lines, _LINE, shape.line_date)
        else:
            return None
        if root is None:
            return None
        return root + tuple(reversed(names))

    def go(self, x, env):
        if x is None:
            return
        p = self.path(x, env)
        if p is not None:
            self.add(p)
            return
        if isinstance(x, ast.Field):  # a field of something computed: read what it is computed from
            self.go(x.obj, env)
        elif isinstance(x, Ref):
            if x.kind == "let":
                key = ("rule" if x.name in self.lets else "pack", x.name)
                if key not in self.seen_lets:
                    self.seen_lets.add(key)
                    if x.name in self.lets:
                        self.go(self.lets[x.name].expr, env)
                    elif x.name in self.derived:
                        self.go(self.derived[x.name].expr, {})
        elif isinstance(x, (ast.Quant, ast.Fold)):
            self.go(x.source, env)
            src = self.path(x.source, env)
            inner = dict(env)
            inner[x.var] = None if src is None else src + (_EACH,)
            if isinstance(x, ast.Fold):
                self.go(x.value, inner)
            self.go(x.where, inner)
        elif isinstance(x, Apply):
            d = self.pack.definition(x.name)
            inner = {}
            for (pname, _), arg in zip(d.params if d is not None else (), x.args):
                self.go(arg, env)
                inner[pname] = self.path(arg, env)
            if d is not None and ("def", x.name, tuple(inner.items())) not in self.seen_lets:
                self.seen_lets.add(("def", x.name, tuple(inner.items())))
                self.go(d.expr, inner)
        elif attrs.has(type(x)):
            for f in attrs.fields(type(x)):
                if f.name in ("span", "type"):
                    continue
                self.go_value(getattr(x, f.name), env)

    def go_value(self, v, env):
        if isinstance(v, (tuple, list)):
            for item in v:
                self.go_value(item, env)
        elif attrs.has(type(v)):
            self.go(v, env)


def _env(pack, rule) -> dict:
    if rule is not None and rule.var:
        return {rule.var: (pack.shape.lines, _LINE)}
    return {}


def rule_paths(pack, rule) -> list:
    """Path templates of the fields ``rule`` reads (where clause, lets, condition), in
    the order first read."""
    w = _Walk(pack, rule)
    env = _env(pack, rule)
    w.go(rule.where, env)
    for d in rule.lets:
        w.go(Ref("let", d.name, None), env)
    w.go(rule.condition, env)
    return w.out


def expr_paths(pack, rule, expr) -> list:
    """Path templates of the fields one expression of ``rule`` reads."""
    w = _Walk(pack, rule)
    w.go(expr, _env(pack, rule))
    return w.out


def resolve(templates, record, line_index=None) -> list:
    """``[(path text, value)]``: each template resolved against ``record`` (``{i}`` is
    ``line_index``; ``[*]`` every item of that list), in order, without repeats. A list
    read only as a whole (``count(claims)``) is listed as a whole; one whose items are
    read is listed item by item (an empty or absent one as itself)."""
    templates = [t for t in templates if not any(len(o) > len(t) and o[:len(t)] == t for o in templates)]
    out: list = []
    seen: set = set()
    for t in templates:
        for text, value in _resolve(t, record, line_index):
            if text not in seen:
                seen.add(text)
                out.append((text, value))
    return out


def _resolve(steps, record, line_index):
    found = [("$", record, False)]  # (path, value, whole: no step applies past it)
    for step in steps:
        nxt = []
        for text, value, whole in found:
            if whole:
                nxt.append((text, value, True))
            elif step == _LINE or step == _EACH:
                if step == _LINE and line_index is None:
                    continue
                if not isinstance(value, list) or not value:
                    nxt.append((text, value, True))
                    continue
                idx = [line_index] if step == _LINE else range(len(value))
                for i in idx:
                    nxt.append((f"{text}[{i}]", value[i] if 0 <= i < len(value) else ABSENT, False))
            else:
                key = f".{step}" if step.isidentifier() else f"[{step!r}]"
                if isinstance(value, dict):
                    nxt.append((text + key, value.get(step, ABSENT), False))
                elif value is ABSENT:  # `$.member.fines` is absent when `$.member` is
                    nxt.append((text + key, ABSENT, False))
                else:  # the container is absent (or not an object): it is what the record shows
                    nxt.append((text, value, True))
        found = nxt
    return [(text, value) for text, value, _ in found]


def paths_of(pack, rule, expr, record, line_index=None) -> list:
    """``[(path text, value)]`` of the record's fields one expression of ``rule`` reads."""
    return resolve(expr_paths(pack, rule, expr), record, line_index)


def fields_read(pack, rule, record, line_index=None) -> list:
    """``[(path text, value)]`` of the record's fields ``rule`` reads judging the line at
    ``line_index`` (None for a record-level rule)."""
    return resolve(rule_paths(pack, rule), record, line_index)
