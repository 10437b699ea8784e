"""The audit trail: decision-log entries, their verification, and evidence packets.

Takes results as ``evaluate`` yields them (and the raw input items they came from);
gives plain data: one decision-log entry (a JSON-ready dict) per input record, a
``VerifyReport`` comparing logged decisions with a re-evaluation, and an evidence
packet (self-contained HTML and Markdown) for one record. Nothing here opens a file
or prints: the CLI reads and writes.

A decision-log entry holds what it takes to reproduce a decision later: the sha256
of the canonical input record (and of the earlier records of the same subject that
it saw as history), the pack's name, version and lock, the publication clock
(``as_of``), the verdicts, and the sha256 of the whole result.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict

import attrs

from .results import Rejection, Result

LOG_FORMAT = "rulecite-decision/1"


# ---------------------------------------------------------------- hashing


def canonical_json(value) -> bytes:
    """One byte string per JSON value: keys sorted, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def input_hash(record) -> str:
    """sha256 of a parsed input record in canonical form (key order and spacing do not count)."""
    return sha256(canonical_json(record))


def raw_hash(raw) -> str:
    """sha256 of an input item that could not be parsed: its bytes, without the line ending."""
    if isinstance(raw, (bytes, bytearray)):
        data = bytes(raw)
    elif isinstance(raw, str):
        data = raw.encode("utf-8", "surrogatepass")
    else:
        try:
            return input_hash(raw)
        except (TypeError, ValueError):
            data = repr(raw).encode("utf-8", "backslashreplace")
    return sha256(data.rstrip(b"\r\n"))


def result_hash(result: Result) -> str:
    """sha256 of the result as the Results contract gives it, less its position in the
    input and the pack reference (a decision-log entry records the pack on its own)."""
    d = result.to_dict()
    d.pop("input_line", None)
    d.pop("pack", None)
    return sha256(canonical_json(d))


# ---------------------------------------------------------------- the decision log


class RawTee:
    """Passes input items through while keeping each until its result asks for it.

    When nothing iterates the tee (an engine that reads the input itself), ``pop``
    reads ahead on its own to the item asked for.
    """

    def __init__(self, items):
        self._it = iter(items)
        self.kept: dict = {}
        self.n = 0

    def _next(self):
        item = next(self._it)
        self.n += 1
        self.kept[self.n] = item
        return item

    def __iter__(self):
        while True:
            try:
                yield self._next()
            except StopIteration:
                return

    def pop(self, n: int):
        while n > self.n:
            try:
                self._next()
            except StopIteration:
                break
        return self.kept.pop(n, None)


def _record_hash(result, raw) -> str | None:
    """The input hash of an evaluated record: from the record the result keeps, or else
    (a parallel engine's results keep none) from the raw item it came from."""
    if result.record is not None:
        return input_hash(result.record)
    if isinstance(raw, dict):
        return input_hash(raw)
    if isinstance(raw, (bytes, bytearray, str)):
        try:
            return input_hash(json.loads(raw))
        except (ValueError, RecursionError, UnicodeDecodeError):
            return raw_hash(raw)
    return None


class DecisionLogger:
    """Builds decision-log entries from a result stream, in input order.

    History is reconstructed the way the engine groups it: consecutive results with
    the same subject id form a group (rejections in between do not break it), and a
    record's history is the group's records of earlier periods. Entries of a group are
    released when the group ends, so ``add`` returns zero or more entries.
    """

    def __init__(self, pack, as_of=None, rulecite_version: str = "", logged_at: str | None = None):
        self.pack = {"name": pack.name, "version": pack.version, "sha256": pack.lock}
        self.as_of = as_of.isoformat() if hasattr(as_of, "isoformat") else as_of
        self.version = rulecite_version
        self.logged_at = logged_at
        self.group: list = []  # (item, input hash)
        self.gid = _NONE

    def add(self, item, raw=None) -> list:
        ready = []
        if isinstance(item, Result):
            if self.gid is not _NONE and item.id != self.gid and any(isinstance(i, Result) for i, _ in self.group):
                ready = self._flush()
            self.gid = item.id
            self.group.append((item, _record_hash(item, raw)))
        else:
            self.group.append((item, raw_hash(raw) if raw is not None else None))
        return ready

    def finish(self) -> list:
        return self._flush()

    def _flush(self) -> list:
        results = [(i, h) for i, h in self.group if isinstance(i, Result)]
        out = []
        for item, h in self.group:
            if isinstance(item, Result):
                hist = sorted(((r.period, rh) for r, rh in results if r.period < item.period))
                out.append(self._result_entry(item, h, [rh for _, rh in hist]))
            else:
                out.append(self._rejection_entry(item, h))
        self.group = []
        self.gid = _NONE
        return out

    def _head(self, n: int, h: str | None) -> dict:
        return {"log": LOG_FORMAT, "input_line": n, "input_sha256": h}

    def _tail(self, entry: dict) -> dict:
        entry["rulecite"] = self.version
        if self.logged_at is not None:
            entry["logged_at"] = self.logged_at
        return entry

    def _result_entry(self, r: Result, h, history) -> dict:
        entry = self._head(r.input_line, h)
        entry.update({
            "history_sha256": history,
            "id": r.id, "period": r.period,
            "pack": r.pack.to_dict(), "as_of": r.as_of,
            "verdicts": [v.to_dict() for v in r.lines],
            "findings": [{"rule": f.rule, "severity": f.severity, "line": f.line} for f in r.findings],
            "result_sha256": result_hash(r),
        })
        return self._tail(entry)

    def _rejection_entry(self, r: Rejection, h) -> dict:
        entry = self._head(r.input_line, h)
        entry.update({"input_form": "raw", "id": r.id, "period": r.period, "pack": dict(self.pack),
                      "as_of": self.as_of, "rejected": {"path": r.path, "reason": r.reason}})
        return self._tail(entry)


_NONE = object()


def decision_log(results_with_raw, pack, as_of=None, rulecite_version: str = "", logged_at=None):
    """Every entry for a stream of ``(result, raw item)`` pairs, in input order."""
    logger = DecisionLogger(pack, as_of, rulecite_version, logged_at)
    for item, raw in results_with_raw:
        yield from logger.add(item, raw)
    yield from logger.finish()


# ---------------------------------------------------------------- verification


@attrs.frozen
class Mismatch:
    entry: dict  # as logged
    now: dict | None  # as re-evaluated; None when the input is not in the facts
    differences: tuple  # readable


@attrs.frozen
class VerifyReport:
    checked: int
    same: int
    mismatches: tuple  # Mismatch, input differs or decision differs
    missing: tuple  # Mismatch with now=None
    bad_entries: tuple  # (log line number, reason)
    pack_now: dict
    packs_logged: tuple  # distinct pack dicts in the log

    @property
    def ok(self) -> bool:
        return not (self.mismatches or self.missing or self.bad_entries)


_COMPARED = ("verdicts", "findings", "rejected", "result_sha256")


def parse_log(lines) -> tuple:
    """Decision-log text lines -> (entries with their line numbers, bad lines)."""
    entries, bad = [], []
    for n, line in enumerate(lines, 1):
        if isinstance(line, (bytes, bytearray)):
            line = bytes(line).decode("utf-8", "replace")
        if not line.strip():
            continue
        try:
            e = json.loads(line)
        except ValueError as exc:
            bad.append((n, f"not JSON: {exc}"))
            continue
        if not isinstance(e, dict) or e.get("log") != LOG_FORMAT or not isinstance(e.get("input_sha256"), str):
            bad.append((n, f"not a {LOG_FORMAT} entry"))
            continue
        entries.append((n, e))
    return entries, bad


def verify(log_lines, pack, facts_items, evaluate_fn) -> VerifyReport:
    """Re-evaluate the facts and compare every logged decision with what the pack decides now.

    ``facts_items`` is a callable giving a fresh iterable of input items (it is read
    once per distinct ``as_of`` in the log); ``evaluate_fn(pack, items, as_of=...)`` is
    :func:`rulecite.interpreter.evaluate`. Entries are matched by input hash and
    history hashes, so the facts may be in another order than when logged.
    """
    entries, bad = parse_log(log_lines)
    by_clock = defaultdict(list)
    for n, e in entries:
        by_clock[e.get("as_of")].append((n, e))
    mismatches, missing = [], []
    same = 0
    for as_of, group in sorted(by_clock.items(), key=lambda kv: str(kv[0])):
        tee = RawTee(facts_items())
        pairs = ((r, tee.pop(r.input_line)) for r in evaluate_fn(pack, tee, as_of=as_of))
        now: dict = defaultdict(list)
        for entry in decision_log(pairs, pack, as_of):
            now[_key(entry)].append(entry)
        for _, e in group:
            found = now.get(_key(e))
            if not found:
                missing.append(Mismatch(e, None, ("the input record is not in the facts (or its history differs)",)))
                continue
            cur = found.pop(0) if len(found) > 1 else found[0]
            diffs = tuple(_differences(e, cur))
            if diffs:
                mismatches.append(Mismatch(e, cur, diffs))
            else:
                same += 1
    packs = []
    for _, e in entries:
        if e.get("pack") not in packs:
            packs.append(e.get("pack"))
    pack_now = {"name": pack.name, "version": pack.version, "sha256": pack.lock}
    return VerifyReport(len(entries), same, tuple(mismatches), tuple(missing), tuple(bad), pack_now, tuple(packs))


def _key(e: dict):
    return (e.get("input_sha256"), tuple(e.get("history_sha256") or ()))


def _differences(logged: dict, now: dict):
    for k in _COMPARED:
        a, b = logged.get(k), now.get(k)
        if a == b:
            continue
        if k == "verdicts" and isinstance(a, list) and isinstance(b, list):
            yield from _verdict_differences(a, b)
        elif k == "result_sha256":
            if logged.get("verdicts") == now.get("verdicts") and logged.get("findings") == now.get("findings"):
                yield "same verdicts and findings, but the result differs (messages, evidence or suggestions)"
        elif k == "findings":
            ra = sorted({f.get("rule") for f in a or [] if isinstance(f, dict)}, key=str)
            rb = sorted({f.get("rule") for f in b or [] if isinstance(f, dict)}, key=str)
            if ra != rb:
                yield f"findings were {', '.join(map(str, ra)) or 'none'}; now {', '.join(map(str, rb)) or 'none'}"
            else:
                yield "findings differ in severity or line"
        elif k == "rejected":
            yield f"rejection was {_rej(a)}; now {_rej(b)}"


def _rej(r) -> str:
    return "none" if not r else f"{r.get('path')}: {r.get('reason')}"


def _verdict_differences(a: list, b: list):
    la = {str(v.get("line")): v for v in a if isinstance(v, dict)}
    lb = {str(v.get("line")): v for v in b if isinstance(v, dict)}
    for k in sorted(set(la) | set(lb)):
        va, vb = la.get(k), lb.get(k)
        if va == vb:
            continue
        yield f"line {k}: was {_v(va)}; now {_v(vb)}"


def _v(v) -> str:
    if v is None:
        return "absent"
    text = str(v.get("verdict"))
    if v.get("rules"):
        text += " by " + ", ".join(map(str, v["rules"]))
    if v.get("warnings"):
        text += " (warnings: " + ", ".join(map(str, v["warnings"])) + ")"
    return text


# ---------------------------------------------------------------- evidence packets


@attrs.frozen
class EvidencePacket:
    name: str  # a safe file stem: <id>-<period>
    html: str
    markdown: str


def evidence_packet(pack, record: dict, history=(), *, as_of=None, generated_by: str = "") -> EvidencePacket:
    """One record's evidence: the facts the rules read, each verdict, the rule text, the
    citations with links, and the pack lock. Every value from the facts is escaped."""
    from .api import evaluate, explain

    shape = pack.model.shape
    history = [h for h in history if isinstance(h, dict)]
    results = list(evaluate(pack, [*history, record], as_of=as_of))
    result = results[-1] if results and results[-1].input_line == len(history) + 1 else \
        next((r for r in results if r.input_line == len(history) + 1), None)
    trace = explain(pack, record, as_of=as_of, history=history)
    data = _packet_data(pack, record, history, result, trace, as_of, generated_by)
    stem = _safe_name(f"{record.get(shape.id)}-{record.get(shape.period)}")
    return EvidencePacket(stem, _html(data), _markdown(data))


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


def _json(value, indent=None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


def _href(url) -> str | None:
    if isinstance(url, str) and (url.startswith("https://") or url.startswith("http://")):
        return url
    return None


_CSS = """
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#1b1f24}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem;
margin-top:2rem}h3{font-size:1rem;margin-bottom:.3rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{border:1px solid #d0d7de;padding:.25rem .5rem;
text-align:left;vertical-align:top}th{background:#f6f8fa}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85rem}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-word}
.deny{color:#b42318;font-weight:600}.allow{color:#116329;font-weight:600}.warn{color:#9a6700;font-weight:600}
.info{color:#0969da}.meta td:first-child{width:12rem;color:#57606a}.finding{border-left:4px solid #d0d7de;
padding-left:.8rem;margin:1rem 0}.finding.f-deny{border-color:#b42318}.finding.f-warn{border-color:#9a6700}
footer{margin-top:2rem;color:#57606a;font-size:.8rem}
"""


def _html(d: dict) -> str:
    from html import escape

    def e(v) -> str:
        return escape("" if v is None else str(v), quote=True)

    def cite(c: dict) -> str:
        text = e(c.get("citation") or c.get("source"))
        if c.get("section"):
            text += f", section “{e(c['section'])}”"
        page = c.get("page")
        text += ", page not verified" if page in (None, "unverified") else f", page {e(page)}"
        title = f" — {e(c.get('title'))}" if c.get("title") else ""
        href = _href(c.get("url"))
        link = f' <a href="{e(href)}" rel="noreferrer noopener">{e(href)}</a>' if href else \
            (f" {e(c.get('url'))}" if c.get("url") else "")
        quote = f"<br><q>{e(c['quote'])}</q>" if c.get("quote") else ""
        return f"<li>{text}{title}{link}{quote}</li>"

    who = f"{d['id_field']} {d['id']}, {d['period_field']} {d['period']}"
    pk = d["pack"]
    p = []
    w = p.append
    w("<!DOCTYPE html>")
    w('<html lang="en"><head><meta charset="utf-8">')
    w("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">")
    w('<meta name="viewport" content="width=device-width, initial-scale=1">')
    w(f"<title>Evidence packet: {e(who)}</title><style>{_CSS}</style></head><body>")
    w(f"<h1>Evidence packet</h1><p>{e(who)}</p>")
    w('<table class="meta">')
    for k, v in (("Subject", f"{d['id_field']} {d['id']}"), ("Period", d["period"]),
                 ("Rule pack", f"{pk['name']} {pk['version']} ({pk['title']})"), ("Pack lock (sha256)", pk["sha256"]),
                 ("Publication clock (as_of)", d["as_of"] or "every source"),
                 ("Input record (sha256)", d["input_sha256"]),
                 ("Result (sha256)", d["result_sha256"] or "—")):
        w(f"<tr><td>{e(k)}</td><td><code>{e(v)}</code></td></tr>")
    if d["history"]:
        hist = "<br>".join(f"{e(per)}: <code>{e(h)}</code>" for per, h in d["history"])
        w(f"<tr><td>History seen (earlier periods)</td><td>{hist}</td></tr>")
    w("</table>")
    if d["rejected"]:
        r = d["rejected"]
        w("<h2>Rejected</h2>")
        w(f'<p class="deny">The record could not be evaluated: {e(r.get("reason"))} (at <code>{e(r.get("path"))}'
          "</code>).</p>")
    else:
        w("<h2>Verdicts</h2><table><tr><th>Line</th><th>Code</th><th>Verdict</th><th>Rules</th><th>Warnings</th></tr>")
        for v in d["lines"]:
            cls = "deny" if v["verdict"] == "deny" else "allow"
            w(f"<tr><td>{e(v['line'])}</td><td><code>{e(v['code'])}</code></td><td class=\"{cls}\">"
              f"{e(v['verdict'])}</td><td>{e(', '.join(v.get('rules', [])))}</td>"
              f"<td>{e(', '.join(v.get('warnings', [])))}</td></tr>")
        if not d["lines"]:
            w('<tr><td colspan="5">no claim lines</td></tr>')
        w("</table>")
    if d["findings"]:
        w("<h2>Findings</h2>")
    for f in d["findings"]:
        sev = f["severity"] if f["severity"] in ("deny", "warn", "info") else "info"
        where = "whole record" if f["line"] is None else f"line {f['line']}"
        w(f'<section class="finding f-{sev}"><h3><code>{e(f["rule"])}</code> '
          f'<span class="{sev}">{e(f["severity"])}</span> — {e(where)}</h3>')
        if f["title"]:
            w(f"<p><strong>{e(f['title'])}</strong></p>")
        w(f"<p>{e(f['message'])}</p>")
        if f["citations"]:
            w("<p>Citations:</p><ul>" + "".join(cite(c) for c in f["citations"]) + "</ul>")
        if f["evidence"]:
            w("<table><tr><th>Value read</th><th>Value</th><th>Where in the record</th></tr>")
            for expr, value, path in f["evidence"]:
                w(f"<tr><td><code>{e(expr)}</code></td><td><code>{e(_json(value))}</code></td>"
                  f"<td><code>{e(path or '')}</code></td></tr>")
            w("</table>")
        if f["text"]:
            w(f"<details><summary>Rule text (version {e(f['version'])})</summary><pre>{e(f['text'])}</pre></details>")
        w("</section>")
    if d["suggestions"]:
        w("<h2>Suggestions</h2><ul>")
        for s in d["suggestions"]:
            units = f" × {e(s['units'])}" if s.get("units") is not None else ""
            w(f"<li><code>{e(s['code'])}</code>{units}: {e(s['reason'])}</li>")
        w("</ul>")
    w("<h2>Facts the rules read</h2>")
    if not d["read"]:
        w("<p>No rule applied to this record.</p>")
    for key, values in d["read"].items():
        w(f"<h3>{'Whole record' if key is None else 'Line ' + e(key)}</h3>")
        w("<table><tr><th>Expression</th><th>Value</th></tr>")
        for expr, value in values.items():
            w(f"<tr><td><code>{e(expr)}</code></td><td><code>{e(_json(value))}</code></td></tr>")
        w("</table>")
    w("<h2>Input record</h2>")
    w(f"<pre>{e(_json(d['record'], 2))}</pre>")
    w(f"<footer>Generated by {e(d['generated_by'] or 'Rulecite')}. Re-evaluate with the same pack lock, "
      "clock and input (and history) to reproduce every verdict above.</footer>")
    w("</body></html>")
    return "\n".join(p) + "\n"


def _fence(text: str) -> str:
    import re

    longest = max((len(m) for m in re.findall(r"`+|~+", text)), default=0)
    return "`" * max(3, longest + 1)


def _markdown(d: dict) -> str:
    from rulecite.policy_lang.diff import md_escape as e

    def cite(c: dict) -> str:
        text = e(c.get("citation") or c.get("source"))
        if c.get("section"):
            text += f", section “{e(c['section'])}”"
        page = c.get("page")
        text += ", page not verified" if page in (None, "unverified") else f", page {e(page)}"
        href = _href(c.get("url"))
        if href:
            text += f" — <{href.replace('>', '%3E').replace('<', '%3C').replace(' ', '%20')}>"
        if c.get("quote"):
            text += f" — “{e(c['quote'])}”"
        return text

    pk = d["pack"]
    o = [f"# Evidence packet: {e(d['id_field'])} {e(d['id'])}, {e(d['period_field'])} {e(d['period'])}", ""]
    o += ["| | |", "|---|---|",
          f"| Rule pack | {e(pk['name'])} {e(pk['version'])} ({e(pk['title'])}) |",
          f"| Pack lock (sha256) | `{pk['sha256']}` |",
          f"| Publication clock (as_of) | {e(d['as_of'] or 'every source')} |",
          f"| Input record (sha256) | `{d['input_sha256']}` |",
          f"| Result (sha256) | `{d['result_sha256'] or '-'}` |"]
    for per, h in d["history"]:
        o.append(f"| History {e(per)} (sha256) | `{h}` |")
    o.append("")
    if d["rejected"]:
        r = d["rejected"]
        o += ["## Rejected", "", f"The record could not be evaluated: {e(r.get('reason'))} (at {e(r.get('path'))}).",
              ""]
    else:
        o += ["## Verdicts", "", "| Line | Code | Verdict | Rules | Warnings |", "|---|---|---|---|---|"]
        for v in d["lines"]:
            o.append(f"| {e(v['line'])} | {e(v['code'])} | **{e(v['verdict'])}** | {e(', '.join(v.get('rules', [])))} "
                     f"| {e(', '.join(v.get('warnings', [])))} |")
        o.append("")
    if d["findings"]:
        o += ["## Findings", ""]
    for f in d["findings"]:
        where = "whole record" if f["line"] is None else f"line {e(f['line'])}"
        o += [f"### {e(f['rule'])} ({e(f['severity'])}, {where})", ""]
        if f["title"]:
            o += [f"**{e(f['title'])}**", ""]
        o += [e(f["message"]), ""]
        for c in f["citations"]:
            o.append(f"- {cite(c)}")
        if f["citations"]:
            o.append("")
        if f["evidence"]:
            o += ["| Value read | Value | Where in the record |", "|---|---|---|"]
            for expr, value, path in f["evidence"]:
                o.append(f"| {e(expr)} | {e(_json(value))} | {e(path or '')} |")
            o.append("")
        if f["text"]:
            fence = _fence(f["text"])
            o += [f"Rule text (version {f['version']}):", "", fence, f["text"], fence, ""]
    if d["suggestions"]:
        o += ["## Suggestions", ""]
        for s in d["suggestions"]:
            units = f" × {e(s['units'])}" if s.get("units") is not None else ""
            o.append(f"- {e(s['code'])}{units}: {e(s['reason'])}")
        o.append("")
    o += ["## Facts the rules read", ""]
    if not d["read"]:
        o += ["No rule applied to this record.", ""]
    for key, values in d["read"].items():
        o += [f"### {'Whole record' if key is None else 'Line ' + e(key)}", "", "| Expression | Value |", "|---|---|"]
        for expr, value in values.items():
            o.append(f"| {e(expr)} | {e(_json(value))} |")
        o.append("")
    body = _json(d["record"], 2)
    fence = _fence(body)
    o += ["## Input record", "", fence + "json", body, fence, "",
          f"Generated by {e(d['generated_by'] or 'Rulecite')}. Re-evaluate with the same pack lock, clock and input "
          "(and history) to reproduce every verdict above.", ""]
    return "\n".join(o)
