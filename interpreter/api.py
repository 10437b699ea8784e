"""The public API vendors embed: ``load_pack``, ``evaluate``, ``explain``.

Load a pack once, evaluate many records. Everything here is thread-safe: a loaded
pack is immutable, compiled variants (one per publication clock ``as_of``) are
created under a lock and cached, and evaluation reads no files, no clock and no
environment.
"""

from __future__ import annotations

import datetime as _dt
import threading
from typing import Iterable, Iterator

from rulecite.policy_lang import PackError, RuleciteError, load as _load_model
from rulecite.policy_lang.check import DEFAULT_MAX_DEPTH
from rulecite.policy_lang.model import Pack

from rulecite.interpreter.codegen.compiler import CompiledPack
from rulecite.interpreter.engine.evaluator import DEFAULT_LIMITS, Evaluator, Limits
from rulecite.interpreter.engine.results import Rejection, Result


class RulePack:
    """A checked and compiled pack. Create it with :func:`load_pack`.

    ``model`` is the checked pack (:class:`rulecite.policy_lang.Pack`); ``warnings``
    the checker's warnings (:class:`rulecite.policy_lang.Diagnostic`).

    Thread safety: one ``RulePack`` may be shared by every thread of a process and
    used by all of them at once. The checked model is immutable (frozen attrs classes
    and tuples, never changed after checking); the compiled code of each publication
    clock (:meth:`compiled`) is built once, under a lock, and then only read; each
    :func:`evaluate` or :func:`explain` call keeps its own working state (caches, step
    counters, ``let`` slots) in objects of its own, so calls never see each other's
    records. What is not shared safely is an iterator: the lazy iterator one
    :func:`evaluate` call returns belongs to the thread that advances it (give each
    thread its own call).
    """

    def __init__(self, model: Pack, warnings=()):
        self.model = model
        self.warnings = tuple(warnings)
        self._variants: dict = {}
        self._lock = threading.Lock()
        self.compiled(None)

    @property
    def name(self) -> str:
        """The pack's name (``pack.toml`` ``name``), as every result names it."""
        return self.model.name

    @property
    def version(self) -> str:
        """The pack's version (``pack.toml`` ``version``)."""
        return self.model.version

    @property
    def lock(self) -> str:
        """sha256 of the pack's normalized content; every result carries it."""
        return self.model.lock

    def compiled(self, as_of: _dt.date | None) -> CompiledPack:
        """The pack compiled for one publication clock (``as_of``: only sources published
        on or before that day; None: every source). Built once per clock, under a lock,
        and cached; the compiled pack is only read afterwards. :func:`evaluate` calls it."""
        cp = self._variants.get(as_of)
        if cp is None:
            with self._lock:
                cp = self._variants.get(as_of)
                if cp is None:
                    cp = CompiledPack(self.model, as_of)
                    self._variants[as_of] = cp
        return cp

    def __repr__(self) -> str:
        return f"<RulePack {self.name} {self.version} {self.lock[:12]}>"


def load_pack(path_or_name, *, max_quantifier_depth: int = DEFAULT_MAX_DEPTH, cache: bool = True) -> RulePack:
    """Parse, check and compile a pack once.

    ``path_or_name`` is a pack folder (holding ``pack.toml``) or the name of a bundled
    pack such as ``"cms-care-management"``. Raises :class:`PackError` with every
    diagnostic when the pack has errors.

    With ``cache`` (the default), a pack whose files, Rulecite version and settings
    match one loaded before is read from the checked-pack cache instead of being
    parsed and checked again (see :mod:`rulecite.policy_lang.cache`: where it lives,
    how entries are keyed and why reading one cannot run code; ``RULECITE_NO_CACHE=1``
    turns it off). The result is the same pack, with the same lock, either way.
    """
    if cache:
        from rulecite.policy_lang.cache import load_cached

        loaded, _ = load_cached(path_or_name, max_depth=max_quantifier_depth)
    else:
        loaded = _load_model(path_or_name, max_depth=max_quantifier_depth)
    if not loaded.ok:
        err = PackError([d for d in loaded.diagnostics])
        err.texts = loaded.texts
        raise err
    return RulePack(loaded.pack, [d for d in loaded.diagnostics if d.severity == "warning"])


def as_date(as_of) -> _dt.date | None:
    if as_of is None or isinstance(as_of, _dt.date):
        return as_of
    return _dt.date.fromisoformat(str(as_of))


def evaluate(pack: RulePack, records: Iterable, *, as_of=None, limits: Limits = DEFAULT_LIMITS,
             trusted: bool = False) -> Iterator[Result | Rejection]:
    """Evaluate records lazily; yield one :class:`Result` or :class:`Rejection` per record, in input order.

    ``records`` may hold dicts or JSON text lines (``str`` or ``bytes``). ``as_of``
    (a date or ``YYYY-MM-DD``) evaluates with only the sources published on or before
    that day; by default every source counts. Rules are always picked by each line's
    date of service, never by today's date. No exception escapes for bad input: a
    record that is not JSON, not an object, or fails the pack's facts schema becomes
    a :class:`Rejection` with its input line number, JSON path and reason.

    A single record (a mapping, or one JSON text) is a mistake of the call, not of the
    input: it raises ``TypeError`` saying to wrap it in a list.

    ``trusted=True`` is for records already validated against the pack's facts schema
    (by you, upstream): it skips schema validation. Text is still decoded in full (not
    JSON, a repeated key, too large or too deep is still a rejection), and any failure
    inside a rule (a missing field, a value of the wrong type) becomes a
    :class:`Rejection` naming the rule and its file:line, never an exception. What it
    does not check: a record that breaks the schema in a way no rule trips over gets a
    result, and values no result can carry (NaN, half a surrogate pair) may make
    ``to_json`` raise. See docs/guides/embedding.md.
    """
    from collections.abc import Mapping

    if isinstance(records, Mapping):
        raise TypeError("evaluate() takes an iterable of records; got one record (a mapping): "
                        "write evaluate(pack, [record])")
    if isinstance(records, (str, bytes, bytearray)):
        raise TypeError("evaluate() takes an iterable of records; got one text: write evaluate(pack, [line]), "
                        "or pass an open file of JSON Lines")
    cp = pack.compiled(as_date(as_of))
    return Evaluator(cp, limits, trusted=bool(trusted)).run(records)


def explain(pack: RulePack, record, line=None, *, as_of=None, history=()) -> dict:
    """The trace of one record: every rule considered, why it applied or not, the
    value of each condition and sub-expression, the outcome, and for each denial the
    smallest change to the facts that would make it pass.

    ``line`` restricts the trace to the line with that id; a record without such a line
    raises :class:`LineNotFound` (what ``rulecite explain --line`` reports). ``history``
    holds earlier records of the same subject.
    """
    from rulecite.interpreter.explain import explain_record

    trace = explain_record(pack.compiled(as_date(as_of)), record, line, list(history))
    if line is not None and "rejected" not in trace and not trace.get("lines"):
        shape = pack.model.shape
        lines = record.get(shape.lines) if isinstance(record, dict) else None
        have = ", ".join(str(ln.get(shape.line_id)) for ln in lines or [] if isinstance(ln, dict))
        raise LineNotFound(f"{shape.id} `{record.get(shape.id)}` has no {shape.lines} line {line}",
                           hints=(f"its lines: {have or 'none'}",))
    return trace


class LineNotFound(RuleciteError, LookupError):
    """``explain(..., line=N)`` for a record that has no line N."""


__all__ = ["RulePack", "load_pack", "evaluate", "explain", "Result", "Rejection", "PackError", "Limits"]
