"""The shape of each decision-log line: what a header, an entry (any format) or a footer
must hold to be used, and why not. Pure functions of one parsed line; ``tools.verify``
reads a log with them (a line with a problem is a bad line, never a crash).
"""

from __future__ import annotations

import json

from rulecite.interpreter.tools.audit import LOG_FORMAT

def hex64(v) -> bool:
    return isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v)


def whole_number(v, least: int = 0) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= least


def date_problem(v) -> str | None:
    import datetime as _dt

    if v is None:
        return None
    if isinstance(v, str) and len(v) == 10:
        try:
            _dt.date.fromisoformat(v)
            return None
        except ValueError:
            pass
    return f"as_of must be null or a date (YYYY-MM-DD), not {show(v)}"


def pack_problem(v) -> str | None:
    if not isinstance(v, dict) or not all(isinstance(v.get(k), str) for k in ("name", "version", "sha256")):
        return f"pack must be an object with name, version and sha256 (text), not {show(v)}"
    return None


def show(v) -> str:
    text = json.dumps(v, ensure_ascii=True, default=str)
    return text if len(text) <= 60 else text[:60] + "..."


def entry_problem(e: dict) -> str | None:
    """Why a decision entry (either format) cannot be used, or None."""
    if not whole_number(e.get("input_line"), 1):
        return f"input_line must be a whole number from 1, not {show(e.get('input_line'))}"
    if not hex64(e.get("input_sha256")):
        return f"input_sha256 must be a sha256 (64 hex digits), not {show(e.get('input_sha256'))}"
    h = e.get("history_sha256", [])
    if not isinstance(h, list) or not all(hex64(x) for x in h):
        return f"history_sha256 must be a list of sha256s, not {show(h)}"
    for problem in (date_problem(e.get("as_of")), pack_problem(e.get("pack"))):
        if problem:
            return problem
    if "rejected" in e:
        r = e["rejected"]
        if not isinstance(r, dict):
            return f"rejected must be an object (path, reason), not {show(r)}"
        return None
    v = e.get("verdicts")
    if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
        return f"verdicts must be a list of objects, not {show(v)}"
    f = e.get("findings")
    if not isinstance(f, list) or not all(isinstance(x, dict) and isinstance(x.get("rule"), str) for x in f):
        return f"findings must be a list of objects with a rule id, not {show(f)}"
    for x in f:
        problem = kept_problem(x)
        if problem:
            return f"finding {x['rule']}: {problem}"
    if not hex64(e.get("result_sha256")):
        return f"result_sha256 must be a sha256 (64 hex digits), not {show(e.get('result_sha256'))}"
    return None


def kept_problem(f: dict) -> str | None:
    """Why a kept finding (format 3: message, evidence, citations) cannot be read, or None."""
    if "message" in f and not isinstance(f["message"], str):
        return f"message must be text, not {show(f['message'])}"
    ev = f.get("evidence", [])
    if not isinstance(ev, list) or not all(isinstance(x, dict) and isinstance(x.get("expr"), str)
                                           and (x.get("path") is None or isinstance(x.get("path"), str)) for x in ev):
        return f"evidence must be a list of objects with expr and path, not {show(ev)}"
    cites = f.get("citations", [])
    if not isinstance(cites, list) or not all(isinstance(x, dict) for x in cites):
        return f"citations must be a list of objects, not {show(cites)}"
    return None


KEPT = ("message", "evidence", "citations")  # what a full run keeps of every finding


# Every field a format 3 line may hold, by kind (``tools.audit`` writes them): a field
# rulecite never writes (a note, an "approved" flag) is not part of any decision and
# would go unchecked, so such a line is a bad line.
_FIELDS = {
    "header": {"log", "type", "prev", "pack", "as_of", "options", "findings", "rulecite", "logged_at"},
    "decision": {"log", "type", "prev", "input_line", "input_sha256", "history_sha256", "id", "period", "pack",
                 "as_of", "verdicts", "findings", "result_sha256", "input_form", "rejected", "rulecite",
                 "logged_at"},
    "footer": {"log", "type", "prev", "complete", "records", "entries", "results", "rejections", "reason",
               "rulecite", "logged_at"},
}


def unknown_fields(e: dict) -> str | None:
    """The fields of a format 3 line that rulecite never writes there, or None."""
    extra = sorted(set(e) - _FIELDS.get(e.get("type"), set(e)), key=str)
    if not extra:
        return None
    return (f"{', '.join(show(k) for k in extra[:5])}{' and more' if len(extra) > 5 else ''}: "
            f"field{'s' if len(extra) > 1 else ''} rulecite never writes in a {e.get('type')} line")


def line_problem(e: dict) -> str | None:
    """Why a format 2 or 3 line (header, decision or footer) cannot be used, or None."""
    kind = e.get("type")
    prev = e.get("prev")
    if e.get("log") == LOG_FORMAT and kind in _FIELDS:
        extra = unknown_fields(e)
        if extra:
            return extra
    if kind == "header":
        if prev is not None and not hex64(prev):
            return f"prev must be null or a sha256, not {show(prev)}"
        for problem in (pack_problem(e.get("pack")), date_problem(e.get("as_of"))):
            if problem:
                return problem
        o = e.get("options", {})
        if not isinstance(o, dict) or not all(whole_number(x, 1) for x in o.values()):
            return f"options must be an object of whole numbers, not {show(o)}"
        if e.get("log") == LOG_FORMAT and e.get("findings") not in ("full", "lean"):
            return f"findings must be \"full\" or \"lean\", not {show(e.get('findings'))}"
        return None
    if not hex64(prev):
        return f"prev must be a sha256 (64 hex digits), not {show(prev)}"
    if kind == "decision":
        return entry_problem(e)
    if kind == "footer":
        if not isinstance(e.get("complete"), bool):
            return f"complete must be true or false, not {show(e.get('complete'))}"
        for k in ("records", "entries", "results", "rejections"):
            if not whole_number(e.get(k)):
                return f"{k} must be a whole number, not {show(e.get(k))}"
        return None
    return f"type must be header, decision or footer, not {show(kind)}"
