"""Synthetic records for demos and benchmarks, made from a pack's own tests.

Takes a ``RulePack``, a count and a seed; gives that many records, the same for the
same seed on every machine. Nothing here knows a domain: each subject is a copy of
the records of one of the pack's tests (so the mix of clean and faulty cases is the
one the pack's authors wrote), given a fresh id, moved in time by whole months
within the pack's coverage (every schema date and month together), and with some
numbers nudged within the bounds of the facts schema. A variant the pack would
reject falls back to the un-nudged copy, so every record is valid input.
"""

from __future__ import annotations

import random

from rulecite.interpreter.engine.evaluator import Evaluator
from rulecite.interpreter.tools.timeshift import Shifter, month_index

JITTER = 0.25  # share of numbers nudged


class SynthError(ValueError):
    """The pack gives nothing to build records from."""


def synthesize(pack, n: int, seed: int = 0):
    """Yield ``n`` records (dicts), subjects grouped and their periods in order."""
    model = pack.model
    shape = model.shape
    templates = _templates(pack)
    if not templates and n > 0:
        raise SynthError(f"pack {model.name} has no tests with valid facts to build records from")
    rng = random.Random(seed)
    shifter = Shifter(model.schema)
    jitter = _Jitter(model.schema, shape, rng)
    check = Evaluator(pack.compiled(None))
    id_type = (model.schema.get("properties") or {}).get(shape.id, {}).get("type")
    lo, hi = _coverage_months(model)
    made = 0
    subject = 0
    while made < n:
        subject += 1
        records = rng.choice(templates)
        periods = [month_index(r[shape.period]) for r in records]
        a, b = lo - min(periods), hi - max(periods)
        offset = rng.randint(a, b) if a <= b else 0
        sid = subject if id_type == "integer" else f"SYN{subject:07d}"
        for rec in records:
            if made >= n:
                break
            moved = dict(shifter.shift(rec, offset))
            moved[shape.id] = sid
            nudged = jitter.apply(moved)
            if nudged is not moved and not isinstance(check.prepare(nudged, 1), dict):
                nudged = moved
            made += 1
            yield nudged


def _templates(pack) -> list:
    model = pack.model
    shape = model.shape
    check = Evaluator(pack.compiled(None))
    out = []
    for t in model.tests:
        if any(x.kind == "rejected" for x in t.expectations):
            continue
        records = [dict(r) for r in t.records if isinstance(r, dict)]
        if not records or any(not isinstance(check.prepare(r, 1), dict) for r in records):
            continue
        ids = {str(r.get(shape.id)) for r in records}
        if len(ids) != 1:
            continue
        out.append(sorted(records, key=lambda r: r[shape.period]))
    return out


def _coverage_months(model) -> tuple:
    cov = model.coverage
    lo = cov.start.year * 12 + cov.start.month - 1 if cov.start else None
    hi = cov.end.year * 12 + cov.end.month - 1 if cov.end else None
    periods = [month_index(r[model.shape.period]) for t in model.tests for r in t.records
               if isinstance(r, dict) and isinstance(r.get(model.shape.period), str)]
    if lo is None:
        lo = (min(periods) if periods else 0) - 12
    if hi is None:
        hi = (max(periods) if periods else 0) + 12
    return lo, hi


class _Jitter:
    """Nudges some whole numbers and decimals within their schema bounds."""

    def __init__(self, schema: dict, shape, rng: random.Random):
        self.shifter = Shifter(schema)  # for $ref resolution
        self.root = schema
        self.rng = rng
        self.skip = {shape.line_id}

    def apply(self, rec: dict):
        changed = [False]
        out = self._walk(rec, self.root, changed, None)
        return out if changed[0] else rec

    def _walk(self, value, node, changed, key):
        node = self.shifter._node(node)
        if isinstance(value, bool) or key in self.skip:
            return value
        if isinstance(value, (int, float)):
            if "enum" in node or "const" in node or self.rng.random() >= JITTER:
                return value
            new = self._nudge(value, node)
            if new != value:
                changed[0] = True
            return new
        if isinstance(value, dict):
            props = node.get("properties") or {}
            return {k: (self._walk(v, props[k], changed, k) if k in props else v) for k, v in value.items()}
        if isinstance(value, list):
            items = node.get("items")
            if isinstance(items, dict):
                return [self._walk(v, items, changed, None) for v in value]
        return value

    def _nudge(self, value, node):
        rng = self.rng
        span = max(1, round(abs(value) * 0.2))
        if isinstance(value, int):
            new = value + rng.choice([-1, 1]) * rng.randint(1, span)
        else:
            new = round(value * rng.uniform(0.8, 1.2), 2)
        lo = node.get("minimum")
        hi = node.get("maximum")
        if isinstance(node.get("exclusiveMinimum"), (int, float)):
            lo = node["exclusiveMinimum"] + (1 if isinstance(value, int) else 0.01)
        if isinstance(node.get("exclusiveMaximum"), (int, float)):
            hi = node["exclusiveMaximum"] - (1 if isinstance(value, int) else 0.01)
        if isinstance(lo, (int, float)) and new < lo:
            new = lo
        if isinstance(hi, (int, float)) and new > hi:
            new = hi
        if isinstance(value, int):
            new = int(new)
        return new
