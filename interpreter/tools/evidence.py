"""Evidence packets: one record's evidence, gathered as plain data and rendered by
``reports.evidence`` (HTML for a browser and print, Markdown for a letter).

Takes a compiled pack, one record and its history; gives an ``EvidencePacket`` whose
data holds the facts the rules read, each verdict, the rule text, the citations, the
hashes of the input and the result, and the pack lock.
"""

from __future__ import annotations

import attrs

from rulecite.interpreter.engine.results import Rejection, Result
from rulecite.interpreter.reports.evidence import packet_html, packet_markdown
from rulecite.interpreter.tools.audit import input_hash, result_hash

@attrs.frozen
class EvidencePacket:
    name: str  # a safe file stem: <id>-<period>
    html: str
    markdown: str


def evidence_packet(pack, record: dict, history=(), *, as_of=None, generated_by: str = "") -> EvidencePacket:
    """One record's evidence: the facts the rules read, each verdict, the rule text, the
    citations with links, and the pack lock. Every value from the facts is escaped."""
    from rulecite.interpreter.api import evaluate, explain

    shape = pack.model.shape
    history = [h for h in history if isinstance(h, dict)]
    results = list(evaluate(pack, [*history, record], as_of=as_of))
    result = results[-1] if results and results[-1].input_line == len(history) + 1 else \
        next((r for r in results if r.input_line == len(history) + 1), None)
    trace = explain(pack, record, as_of=as_of, history=history)
    data = _packet_data(pack, record, history, result, trace, as_of, generated_by)
    stem = _safe_name(f"{record.get(shape.id)}-{record.get(shape.period)}")
    return EvidencePacket(stem, packet_html(data), packet_markdown(data))


def _safe_name(text: str) -> str:
    import re

    name = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "record"
    return name[:100]


def _packet_data(pack, record, history, result, trace, as_of, generated_by) -> dict:
    model = pack.model
    shape = model.shape
    rules = {(r.id, r.version): r for r in model.rules}
    findings = []
    if isinstance(result, Result):
        for f in result.findings:
            rule = rules.get((f.rule, f.version))
            findings.append({
                "rule": f.rule, "version": f.version, "severity": f.severity, "line": f.line,
                "title": f.title or (rule.title if rule else ""), "message": f.message,
                "citations": [dict(c) for c in f.citations],
                "evidence": [(e.expr, e.value, e.path) for e in f.evidence],
                "text": rule.source_text if rule else _builtin_text(f.rule),
                "file": rule.file if rule else None,
            })
    read: dict = {}
    for node in trace.get("rules", []):
        if not node.get("applies"):
            continue
        key = node.get("line")
        bucket = read.setdefault(key, {})
        for part in ("where", "condition"):
            if part in node:
                _leaves(node[part], bucket)
        for name, value in (node.get("lets") or {}).items():
            bucket.setdefault(name, value)
    order = [None] + [v.line for v in result.lines] if isinstance(result, Result) else [None]
    read = {k: read[k] for k in sorted(read, key=lambda k: order.index(k) if k in order else len(order))}
    return {
        "id_field": shape.id, "period_field": shape.period,
        "id": record.get(shape.id), "period": record.get(shape.period),
        "pack": {"name": model.name, "version": model.version, "sha256": model.lock, "title": model.title},
        "as_of": as_of.isoformat() if hasattr(as_of, "isoformat") else as_of,
        "input_sha256": input_hash(record),
        "history": [(h.get(shape.period), input_hash(h)) for h in history],
        "result_sha256": result_hash(result) if isinstance(result, Result) else None,
        "rejected": result.to_dict() if isinstance(result, Rejection) else None,
        "lines": [v.to_dict() for v in result.lines] if isinstance(result, Result) else [],
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
    }.get(rule_id, "")


def _leaves(node: dict, bucket: dict):
    kids = node.get("children") or []
    if not kids:
        expr = node.get("expr", "")
        if expr and not expr[:1].isdigit() and not expr.startswith('"') and expr not in ("true", "false"):
            bucket.setdefault(expr, node.get("value"))
        return
    for k in kids:
        _leaves(k, bucket)


