"""Evidence packets: a record's evidence, gathered as plain data and rendered by
``reports.evidence`` (HTML for a browser and print, Markdown for a letter).

Takes a compiled pack, one record and its history (or, for ``evidence_packets``, a
whole stream of records); gives an ``EvidencePacket`` whose data holds, per claim line,
what an appeal letter needs (line, code, date of service, verdict, the amount at stake
when the pack has amounts, each finding's message, citations and evidence), the facts
the rules read as the record's JSON paths and values (``facts_read``: never internal
expressions or ``let`` names), the rule text, the hashes of the input and the result,
and the pack lock.
"""

from __future__ import annotations

import datetime as _dt
import json
import re

import attrs

from rulecite.interpreter.codegen.reads import evidence_items
from rulecite.interpreter.engine.results import Rejection, Result
from rulecite.interpreter.reports.evidence import index_html, index_markdown, packet_html, packet_markdown
from rulecite.interpreter.tools.audit import input_hash, result_hash
from rulecite.interpreter.tools.facts_read import ABSENT, fields_read, paths_of
from rulecite.policy_lang.syntax.formatter import format_expr


# How many of the record's fields are listed per finding's evidence item and per line's
# facts read (a real record of the CMS pack reads at most 11 and 49): an aggregate over a
# record of many lines reads every line from every line, which would make a packet grow
# with the square of its lines. The rest is counted ("and N more") and the input record is
# always shown whole.
SHOWN_PLACES = 50
SHOWN_READ = 100


@attrs.frozen
class EvidencePacket:
    """One record's packet: ``name`` (a safe file stem ``<id>-<period>``), the page as
    ``html`` and as ``markdown``, and ``summary`` (id, period, lines, denied lines)."""

    name: str  # a safe file stem: <id>-<period>
    html: str
    markdown: str
    summary: dict = attrs.field(factory=dict)


def evidence_packet(pack, record: dict, history=(), *, as_of=None, generated_by: str = "") -> EvidencePacket:
    """One record's evidence: per line the verdict, the rule's message, citations and the
    record's fields behind it; the facts the rules read; the rule text; the pack lock.
    Every value from the facts is escaped."""
    from rulecite.interpreter.api import evaluate

    history = [h for h in history if isinstance(h, dict)]
    results = list(evaluate(pack, [*history, record], as_of=as_of))
    result = next((r for r in results if r.input_line == len(history) + 1), None)
    return packet_for(pack, record, history, result, as_of=as_of, generated_by=generated_by)


def packet_for(pack, record: dict, history, result, *, as_of=None, generated_by: str = "") -> EvidencePacket:
    """The packet of a record already evaluated (``result``: its Result or Rejection)."""
    from rulecite.interpreter.api import explain

    shape = pack.model.shape
    trace = explain(pack, record, as_of=as_of, history=history) if isinstance(result, Result) else {}
    data = packet_data(pack, record, history, result, trace, as_of, generated_by)
    stem = safe_name(f"{record.get(shape.id)}-{record.get(shape.period)}")
    return EvidencePacket(stem, packet_html(data), packet_markdown(data), _summary(data))


def evidence_packets(pack, items, *, as_of=None, generated_by: str = "", denied_only: bool = False):
    """A packet for every record of ``items`` (as ``evaluate`` takes them), in input
    order, each with the history ``evaluate`` gave it; with ``denied_only``, only records
    with a denied line. Yields ``EvidencePacket`` or, for a record that could not be
    evaluated, its ``Rejection`` (it has no packet; the index lists it). File stems are
    unique, ignoring case (a repeated id and period, or one differing only in case, gets
    ``-2``, ``-3``...: a case-blind disk keeps every packet)."""
    from rulecite.interpreter.api import evaluate

    taken: set = set()
    group: list = []  # results of the current subject group (consecutive ids), in order
    for r in evaluate(pack, items, as_of=as_of):
        if isinstance(r, Rejection):
            yield r
            continue
        if group and r.id != group[-1].id:
            group = []
        history = [g.record for g in group if g.period < r.period and isinstance(g.record, dict)]
        group.append(r)
        if denied_only and not any(v.verdict == "deny" for v in r.lines):
            continue
        packet = packet_for(pack, r.record, history, r, as_of=as_of, generated_by=generated_by)
        name, n = packet.name, 1
        while name.lower() in taken:
            n += 1
            name = f"{packet.name}-{n}"
        taken.add(name.lower())
        yield attrs.evolve(packet, name=name)


def packets_index(pack, entries, *, as_of=None, generated_by: str = "", denied_only: bool = False) -> tuple:
    """The index page of a set of packets, ``(html, markdown)``: one row per packet
    (linked) or rejected record. ``entries`` are what ``evidence_packets`` yielded."""
    model = pack.model
    rows = []
    for e in entries:
        if isinstance(e, Rejection):
            rows.append({"id": e.id, "period": e.period, "input_line": e.input_line, "file": None, "lines": 0,
                         "denied": 0,
                         "rejected": f"{e.reason} (at {e.path})"})
        else:
            rows.append({**e.summary, "file": e.name, "rejected": None})
    meta = {"pack": {"name": model.name, "version": model.version, "sha256": model.lock, "title": model.title},
            "id_field": model.shape.id, "period_field": model.shape.period,
            "as_of": as_of.isoformat() if hasattr(as_of, "isoformat") else as_of,
            "filter": "records with a denied line" if denied_only else "every record",
            "generated_by": generated_by}
    return index_html(meta, rows), index_markdown(meta, rows)


def safe_name(text: str) -> str:
    """A file stem from record text: letters, digits, ``._-`` only, at most 100 characters,
    never starting with ``-`` (read as an option) or ``.`` (hidden), never a name Windows
    keeps for a device (``CON``, ``NUL``, ``COM1``...)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")[:100].rstrip("._-") or "record"
    if _DEVICE.fullmatch(name.split(".")[0]):
        name = f"record-{name}"
    return name


_DEVICE = re.compile(r"CON|PRN|AUX|NUL|COM[0-9]|LPT[0-9]", re.I)


def _summary(d: dict) -> dict:
    return {"id": d["id"], "period": d["period"], "lines": len(d["lines"]),
            "denied": sum(1 for v in d["lines"] if v["verdict"] == "deny")}


# ---------------------------------------------------------------- gathering


def _value(v):
    return {"absent": True} if v is ABSENT else {"value": v}


def reader_citation(c: dict) -> dict:
    """A citation as the formatter shows it to a reader: the citation text (or the
    source's title when it has none), never the pack's internal source id."""
    out = {k: v for k, v in dict(c).items() if k != "source"}
    if not out.get("citation"):
        out["citation"] = out.pop("title", None) or "source document"
    return out


def _same(a, b) -> bool:
    """Two line ids are the same id (``1`` is not ``true`` nor ``1.0``)."""
    return type(a) is type(b) and a == b


def _key(line_id) -> tuple:
    """A line id as a dict key (ids may be any JSON value; ``1`` is not ``true``)."""
    return type(line_id).__name__, json.dumps(line_id, sort_keys=True, default=str)


def _line_index(record: dict, shape, line_id, nth: int = 0):
    """The index in the record's lines of the ``nth`` (0-based) line whose id is
    ``line_id``: a record may repeat a line id, and its lines are judged in order."""
    lines = record.get(shape.lines)
    if not isinstance(lines, list):
        return None
    for i, item in enumerate(lines):
        if isinstance(item, dict) and _same(item.get(shape.line_id), line_id):
            if nth == 0:
                return i
            nth -= 1
    return None


def _count(seen: dict, line_id) -> int:
    """How many times ``line_id`` has been seen, this one included."""
    n = seen.get(_key(line_id), 0) + 1
    seen[_key(line_id)] = n
    return n


def _slots(record, shape, result) -> tuple:
    """Where each verdict and each finding of ``result`` sits in the record, told apart
    even when the record repeats a line id: ``(items, spots)``, ``items`` the index in
    the record's lines of each verdict (its k-th line with that id), ``spots`` per
    finding ``(verdict position or None, item index or None)``. A finding goes to the
    lines with its id whose verdict names its rule (else to every line with its id), the
    k-th such finding of a rule to the k-th such line."""
    items, by_id = [], {}
    for k, v in enumerate(result.lines):
        same = by_id.setdefault(_key(v.line), [])
        items.append(_line_index(record, shape, v.line, len(same)))
        same.append(k)
    spots, used = [], {}
    for f in result.findings:
        if f.line is None:
            spots.append((None, None))
            continue
        same = by_id.get(_key(f.line), [])
        pool = [k for k in same if f.rule in result.lines[k].rules or f.rule in result.lines[k].warnings] or same
        if not pool:
            spots.append((None, _line_index(record, shape, f.line)))
            continue
        n = used.get((f.rule, tuple(pool)), 0)
        used[(f.rule, tuple(pool))] = n + 1
        k = pool[min(n, len(pool) - 1)]
        spots.append((k, items[k]))
    return items, spots


def _service_date(record, shape, item) -> _dt.date | None:
    text = item.get(shape.line_date) if isinstance(item, dict) else None
    try:
        return _dt.date.fromisoformat(text) if isinstance(text, str) and len(text) == 10 else None
    except ValueError:
        return None


def _amount(model, code, day, item) -> dict | None:
    """What the line is worth by the pack's amounts table (``[amounts]``), or None when
    the pack has none; ``amount`` None when no row prices the code on that day."""
    amounts = getattr(model, "amounts", None)
    if amounts is None or day is None:
        return None
    units = 1
    if amounts.units_field and isinstance(item, dict):
        u = item.get(amounts.units_field)
        units = u if isinstance(u, int) and not isinstance(u, bool) and u > 0 else 1
    value = amounts.amount_for(code, day, units)
    return {"amount": None if value is None else f"{value:.2f}", "currency": amounts.currency,
            "label": amounts.label, "units": units}


def _finding(model, rules, record, f, spot) -> dict:
    rule = rules.get((f.rule, f.version))
    slot, index = spot
    by_text = {}
    if rule is not None:
        for it in evidence_items(rule.condition):
            by_text.setdefault(format_expr(it), it)
    evidence = []
    for e in f.evidence:
        if e.path:
            where = [(e.path, e.value)]
        elif rule is not None and e.expr in by_text:
            where = paths_of(model, rule, by_text[e.expr], record, index)
        else:
            where = []
        evidence.append({"expr": e.expr, "value": e.value,
                         "where": [{"path": p, **_value(v)} for p, v in where[:SHOWN_PLACES]],
                         "more": max(0, len(where) - SHOWN_PLACES)})
    return {
        "rule": f.rule, "version": f.version, "severity": f.severity, "line": f.line, "slot": slot,
        "title": f.title or (rule.title if rule else ""), "message": f.message,
        "citations": [reader_citation(c) for c in f.citations],
        "evidence": evidence,
        "text": rule.source_text if rule else _builtin_text(f.rule),
    }


def packet_data(pack, record, history, result, trace, as_of, generated_by) -> dict:
    """The packet as plain data (what ``reports.evidence`` renders)."""
    model = pack.model
    shape = model.shape
    rules = {(r.id, r.version): r for r in model.rules}
    findings, lines = [], []
    items_of: list = []
    if isinstance(result, Result):
        items_of, spots = _slots(record, shape, result)
        findings = [_finding(model, rules, record, f, spot) for f, spot in zip(result.findings, spots)]
        items = record.get(shape.lines) if isinstance(record.get(shape.lines), list) else []
        repeats: dict = {}
        for k, v in enumerate(result.lines):
            i = items_of[k]
            item = items[i] if i is not None else None
            day = _service_date(record, shape, item)
            named = set(v.rules) | set(v.warnings)
            lines.append({
                "line": v.line, "code": v.code, "verdict": v.verdict,
                "repeat": _count(repeats, v.line),
                "date": day.isoformat() if day else None,
                "path": f"$.{shape.lines}[{i}]" if i is not None else None,
                "amount": _amount(model, v.code, day, item),
                "rules": list(v.rules), "warnings": list(v.warnings),
                "findings": [f for f in findings if f["slot"] == k
                             or (f["line"] is None and f["rule"] in named)],
            })
    # the facts each applying rule read, per line of the record (a repeated line id told
    # apart by its place: the trace judges a rule's lines in record order)
    slots_of: dict = {}
    for k, v in enumerate(lines):
        slots_of.setdefault(_key(v["line"]), []).append(k)
    buckets: dict = {}  # (0, 0) the whole record, (1, k) the k-th verdict's line, (2, n) a line with no verdict
    labels: dict = {(0, 0): None}
    nth: dict = {}
    for node in trace.get("rules", []):
        line = node.get("line")
        where, index = (0, 0), None
        if line is not None:
            count = (node.get("rule"), node.get("version"), _key(line))
            n = nth.get(count, 0)
            nth[count] = n + 1
            hits = slots_of.get(_key(line), [])
            if n < len(hits):
                where, index = (1, hits[n]), items_of[hits[n]]
            else:
                index = _line_index(record, shape, line, n)
                where = (2, index if index is not None else -1)
            labels[where] = line
        rule = rules.get((node.get("rule"), node.get("version")))
        if not node.get("applies") or rule is None:
            continue
        bucket = buckets.setdefault(where, {})
        for path, value in fields_read(model, rule, record, index):
            bucket.setdefault(path, _value(value))
    read = [(labels[w], [{"path": p, **v} for p, v in list(buckets[w].items())[:SHOWN_READ]],
             max(0, len(buckets[w]) - SHOWN_READ)) for w in sorted(buckets)]
    return {
        "id_field": shape.id, "period_field": shape.period,
        "id": record.get(shape.id), "period": record.get(shape.period),
        "pack": {"name": model.name, "version": model.version, "sha256": model.lock, "title": model.title},
        "as_of": as_of.isoformat() if hasattr(as_of, "isoformat") else as_of,
        "input_sha256": input_hash(record),
        "history": [(h.get(shape.period), input_hash(h)) for h in history],
        "result_sha256": result_hash(result) if isinstance(result, Result) else None,
        "rejected": result.to_dict() if isinstance(result, Rejection) else None,
        "lines": lines,
        "findings": findings,
        "suggestions": [s.to_dict() for s in result.suggestions] if isinstance(result, Result) else [],
        "read": read,
        "record": record,
        "generated_by": generated_by,
    }


def _builtin_text(rule_id: str) -> str:
    return {
        "catalog.window": "Built-in rule: a line whose service date is outside its code's effective window "
                          "(from the pack's code catalog) is denied.",
        "catalog.unknown-code": "Built-in rule: a line whose code the pack's code catalog lacks.",
        "coverage.outside": "Built-in rule: a line dated outside the service dates the pack covers is denied "
                            "(no rule of the pack judges it).",
    }.get(rule_id, "")
