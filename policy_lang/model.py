"""The checked pack model: what ``check`` gives and every later stage reads.

Names are resolved (expressions carry ``Ref`` nodes instead of bare names), windows
are final (after supersede and retire), citations point at their sources, and every
expression has been typed against the pack's facts schema. Nothing here refers to
Lark, to raw ``.policy`` text layout, or to any domain: a rule pack for library loans
and one for Medicare billing give the same kinds of objects.
"""

from __future__ import annotations

import datetime as _dt

import attrs
from attrs import evolve, field, frozen

from rulecite.policy_lang.syntax.nodes import NOWHERE, Span
from rulecite.policy_lang.types import Type


@frozen
class Ref:
    """A resolved name in an expression. ``kind``: fact, let, var, set, special, param."""

    kind: str
    name: str
    type: Type = field(eq=False)
    span: Span = field(default=NOWHERE, eq=False, repr=False, kw_only=True)


@frozen
class Apply:
    """A checked call of a definition (``def``): its name, the checked arguments, the
    type of its result, and how deep quantifiers nest inside its body (counted where it
    is called, as a `let` is)."""

    name: str
    args: tuple
    type: Type = field(eq=False)
    depth: int = field(default=0, eq=False)
    span: Span = field(default=NOWHERE, eq=False, repr=False, kw_only=True)


@frozen
class Concat:
    """A checked ``a + b`` of two lists (the items of ``a``, then those of ``b``)."""

    left: object
    right: object
    span: Span = field(default=NOWHERE, eq=False, repr=False, kw_only=True)


@frozen
class Definition:
    """A checked ``def``: parameters ((name, Type), ...), the body with its parameters as
    ``Ref("var", ...)``, the result type, the quantifier nesting inside it, and ``size``:
    how many expression nodes it stands for with every definition it calls written out
    (the checker bounds it, so a chain of definitions cannot grow work exponentially)."""

    name: str
    params: tuple
    expr: object
    type: Type = field(eq=False)
    span: Span = field(eq=False, repr=False)
    depth: int = 0
    size: int = 1
    deps: tuple = ()  # names of the definitions it calls
    signature: str = field(default="", eq=False)  # the parameters as written: "l: line, days: int"


@frozen
class ParamValue:
    """One value of a dated parameter: in force from ``start`` until the next value's start."""

    start: _dt.date
    value: object  # int, float, str (text, ISO date or month), bool, or a tuple of those
    citations: tuple  # Citation, ...
    span: Span = field(eq=False, repr=False)


@frozen
class Parameter:
    """A dated parameter: a named value that changes by date of service. Read as a name
    (``Ref("param", ...)``): the value in force on the line's service date (a record-level
    rule's, or a top-level `let`'s: the record's date). Before its first value it is absent."""

    name: str
    title: str | None
    type: Type = field(eq=False)
    values: tuple  # ParamValue, ..., in date order
    pack: str
    span: Span = field(eq=False, repr=False)

    def value_on(self, day: _dt.date) -> "ParamValue | None":
        found = None
        for v in self.values:
            if v.start <= day:
                found = v
        return found


@frozen
class Source:
    name: str
    title: str
    citation: str | None
    document: str | None
    published: _dt.date | None
    effective: _dt.date | None
    url: str | None
    kind: str | None
    note: str | None
    pack: str
    span: Span = field(eq=False, repr=False)


@frozen
class Citation:
    source: Source
    section: str | None
    page: str | None
    quote: str | None
    # `cite X restates`: X is a later restatement of an older policy (a manual or booklet
    # published after the rule took effect), so its date is not the rule's.
    restates: bool = False

    @property
    def page_verified(self) -> bool:
        return self.page is not None

    def to_dict(self) -> dict:
        s = self.source
        out = {"source": s.name, "title": s.title, "citation": s.citation}
        if self.section:
            out["section"] = self.section
        out["page"] = self.page if self.page else "unverified"
        if self.quote:
            out["quote"] = self.quote
        if s.url:
            out["url"] = s.url
        return out


@frozen
class Window:
    """Inclusive service-date window; ``None`` means open on that side."""

    start: _dt.date | None = None
    end: _dt.date | None = None

    def contains(self, d: _dt.date) -> bool:
        return (self.start is None or self.start <= d) and (self.end is None or d <= self.end)

    def overlaps(self, other: "Window") -> bool:
        lo = max(self.start or _dt.date.min, other.start or _dt.date.min)
        hi = min(self.end or _dt.date.max, other.end or _dt.date.max)
        return lo <= hi

    @property
    def empty(self) -> bool:
        return self.start is not None and self.end is not None and self.end < self.start

    def __str__(self) -> str:
        a = self.start.isoformat() if self.start else "always"
        b = self.end.isoformat() if self.end else "open"
        return f"{a}..{b}"


@frozen
class Code:
    name: str
    description: str
    program: str | None
    window: Window
    replaced_by: tuple
    citations: tuple
    note: str | None
    pack: str
    span: Span = field(eq=False, repr=False)


@frozen
class CodeSet:
    name: str
    members: tuple  # sorted code names (sets flattened)
    title: str | None
    pack: str
    span: Span = field(eq=False, repr=False)


@frozen
class Derived:
    name: str
    expr: object
    type: Type = field(eq=False)
    span: Span = field(eq=False, repr=False)
    deps: tuple = ()  # names of other derived values it reads


@frozen
class Dispute:
    text: str
    source: Source | None


def known(citations, as_of) -> bool:
    """The publication clock: a rule, code or cut is known on ``as_of`` when some of its
    citations was published by then (always, without a clock or a citation)."""
    if as_of is None or not citations:
        return True
    return any(c.source.published is None or c.source.published <= as_of for c in citations)


@frozen
class Cut:
    """What ends a rule version before its declared end: a superseding rule (``by``: its
    id) or a ``retire`` (``by``: None), from ``start``, the first day the version is no
    longer in force. ``citations`` (the superseding rule's, or the retire's) say from when
    the cut is known: under a publication clock before that, the version stays in force."""

    start: _dt.date
    by: str | None
    citations: tuple


@frozen
class Rule:
    """One version of a rule, with its final window."""

    id: str
    version: int  # 1-based among the versions of this id, in window order
    title: str
    summary: str | None
    severity: str  # deny | warn | info
    window: Window  # after supersede / retire
    declared_window: Window  # as written
    supersedes: str | None
    superseded_by: str | None
    retired: object  # Retirement | None
    citations: tuple
    disputes: tuple
    scope: str  # "line" | "record"
    var: str | None
    where: object
    lets: tuple  # Derived, rule-local
    mode: str  # when | unless
    condition: object
    message: object  # Template with resolved parts
    suggest: object
    tags: tuple
    codes: tuple | None  # codes the rule can apply to (from its where clause), None = any
    pack: str
    file: str
    source_text: str
    span: Span = field(eq=False, repr=False)
    cuts: tuple = ()  # Cut, ...: every supersede and retire of this version, binding or not

    @property
    def key(self) -> str:
        return f"{self.id}@{self.version}"

    def as_of(self, as_of: _dt.date | None) -> "Rule":
        """This version as the publication clock ``as_of`` knows it: ended only by the cuts
        known by then (``window`` is the version ended by every cut)."""
        if as_of is None or all(known(c.citations, as_of) for c in self.cuts):
            return self
        end, by, retired = self.declared_window.end, None, None
        for c in self.cuts:
            last = c.start - _dt.timedelta(days=1)
            if known(c.citations, as_of) and (end is None or last < end):
                end, by, retired = last, c.by, (self.retired if c.by is None else None)
        return evolve(self, window=Window(self.declared_window.start, end), superseded_by=by, retired=retired)


@frozen
class Retirement:
    rule_id: str
    from_date: _dt.date
    citations: tuple
    reason: str | None
    span: Span = field(eq=False, repr=False)


@frozen
class Suggestion:
    id: str
    title: str | None
    window: Window
    scope: str
    var: str | None
    where: object
    when: object
    code: str
    units: object
    reason: object
    codes: tuple | None
    pack: str
    span: Span = field(eq=False, repr=False)
    citations: tuple = ()  # Citation, ...: checked and linked like a rule's


@frozen
class PackTest:
    name: str
    records: tuple  # JSON records; the expectations apply to the last
    as_of: _dt.date | None
    expectations: tuple  # ast.Expectation
    pack: str
    file: str
    span: Span = field(eq=False, repr=False)


@frozen
class RecordShape:
    """Which fields of a record the engine reads (pack.toml ``[record]``): the core knows
    no field name of any domain."""

    id: str
    period: str
    lines: str
    line_id: str
    line_code: str
    line_date: str
    default_day: str = "first"  # service date of an undated line: "first" or "last" day of the period


@frozen
class Pack:
    """A checked pack: the model the interpreter compiles and every report reads.

    Made by :func:`load`; frozen, never changed once made, so one
    ``Pack`` may be shared by threads. It holds the pack's identity (``name``,
    ``version``, ``title``, ``lock``: the sha256 of its normalized content), the service
    dates it covers (``coverage``), the shape of its records (``shape``: id, period,
    lines) and facts ``schema``, and its declarations: ``sources``, ``codes``, ``sets``,
    ``derived`` values, ``definitions``, ``rules`` (every version, sorted by id and
    version), ``retirements``, ``suggestions`` and ``tests``. Look one up by name with
    :meth:`code`, :meth:`source`, :meth:`set`, :meth:`definition` and
    :meth:`rule_versions`.
    """

    name: str
    version: str
    title: str
    language: str
    extends: tuple  # names of the packs this one extends, nearest first
    coverage: Window
    shape: RecordShape
    unknown_codes: str
    schema: dict = field(eq=False, repr=False)
    record_type: Type = field(eq=False, repr=False)
    sources: tuple = ()
    codes: tuple = ()
    sets: tuple = ()
    derived: tuple = ()  # top-level lets, in dependency order
    definitions: tuple = ()  # `def`s, in dependency order (callees first)
    parameters: tuple = ()  # dated parameters, sorted by name
    rules: tuple = ()  # every version, sorted by (id, version)
    retirements: tuple = ()
    suggestions: tuple = ()
    tests: tuple = ()
    lock: str = ""
    root: str = ""
    # pack.toml ``[docs] document_url``: the link of a source that has a ``document`` number
    # and no ``url`` ("{document}" is replaced), e.g. the Federal Register's permanent links.
    document_url: str | None = None
    files: tuple = field(default=(), eq=False, repr=False)  # ((relative path, text), ...)
    warnings: tuple = field(default=(), eq=False, repr=False)
    # pack.toml ``[amounts]``: the checked amounts per code (``policy_lang.amounts.Amounts``) or None
    amounts: object = field(default=None, eq=False, repr=False)

    def code(self, name: str) -> Code | None:
        return _index(self.codes).get(name)

    def source(self, name: str) -> Source | None:
        return _index(self.sources).get(name)

    def set(self, name: str) -> CodeSet | None:
        return _index(self.sets).get(name)

    def definition(self, name: str) -> Definition | None:
        return _index(self.definitions).get(name)

    def parameter(self, name: str) -> Parameter | None:
        return _index(self.parameters).get(name)

    def rule_versions(self, rule_id: str) -> list:
        return [r for r in self.rules if r.id == rule_id]

    @property
    def rule_ids(self) -> list:
        return sorted({r.id for r in self.rules})


_INDEX_CACHE: dict = {}


def _index(items: tuple) -> dict:
    key = id(items)
    hit = _INDEX_CACHE.get(key)
    if hit is None or hit[0] is not items:
        hit = (items, {x.name: x for x in items})
        _INDEX_CACHE[key] = hit
    return hit[1]


def params_read(pack, rule) -> tuple:
    """The names of the dated parameters a rule (or suggestion) reads, through its lets, the
    top-level lets and the definitions it calls, sorted."""
    found: set = set()
    seen: set = set()
    stack = [getattr(rule, "where", None), getattr(rule, "condition", None), getattr(rule, "when", None),
             getattr(rule, "units", None), *(lt.expr for lt in getattr(rule, "lets", ())),
             *(getattr(getattr(rule, k, None), "parts", ()) or () for k in ("message", "suggest", "reason"))]
    while stack:  # iterative: a long chain of lets cannot exhaust the stack
        x = stack.pop()
        if isinstance(x, tuple):
            stack.extend(x)
            continue
        if isinstance(x, Ref):
            if x.kind == "param":
                found.add(x.name)
            elif x.kind == "let" and ("let", x.name) not in seen:
                seen.add(("let", x.name))
                dv = next((d for d in pack.derived if d.name == x.name), None)
                if dv is not None:
                    stack.append(dv.expr)
            continue
        if isinstance(x, Apply) and ("def", x.name) not in seen:
            seen.add(("def", x.name))
            d = pack.definition(x.name)
            if d is not None:
                stack.append(d.expr)
        if attrs.has(type(x)):
            stack.extend(getattr(x, a.name) for a in attrs.fields(type(x)) if a.name not in ("span", "type"))
    return tuple(sorted(found))
