"""Verifying a decision log: the chain, the runs' counts, the pack, and every decision.

Takes the lines of a log (format 1 or 2), the pack as it is now, the facts records and a
function that evaluates them; gives a ``VerifyReport``: chain breaks, incomplete runs,
footer counts that do not match, pack changes, facts records with no entry, entries used
twice, malformed entries (bad lines, never a crash), and decisions that differ.
"""

from __future__ import annotations

import json
from collections import defaultdict

import attrs

from rulecite.interpreter.tools.audit import LOG_FORMAT, LOG_FORMAT_1, RawTee, decision_log, is_blank, sha256

@attrs.frozen
class Mismatch:
    entry: dict  # as logged
    now: dict | None  # as re-evaluated; None when the input is not in the facts
    differences: tuple  # readable
    line: int | None = None  # the entry's line in the log


@attrs.frozen
class LogProblem:
    """Something wrong with the log itself rather than with one decision."""

    line: int | None  # the log line it is about (None: the whole log)
    kind: str  # CHAIN (a line does not follow the one before), RUN (a header, entry or footer does not
    # fit its run), INCOMPLETE (a run with no footer, or one that says it stopped early)
    message: str


@attrs.frozen
class VerifyReport:
    checked: int
    same: int
    mismatches: tuple  # Mismatch, input differs or decision differs
    missing: tuple  # Mismatch with now=None
    bad_entries: tuple  # (log line number, reason)
    pack_now: dict
    packs_logged: tuple  # distinct pack dicts in the log
    problems: tuple = ()  # LogProblem, in log order
    pack_changes: tuple = ()  # (log line, logged pack): a run (or format 1 entry) logged with another pack
    unlogged: tuple = ()  # re-evaluated entries (with the facts' input_line) that no log entry matches
    twice: tuple = ()  # Mismatch: a second entry of one run for a record the facts hold once
    runs: int = 0  # headers seen
    unchained: tuple = ()  # log line numbers of format 1 entries
    last_line: tuple | None = None  # (log line number, sha256 of its bytes): keep it to detect a rewrite
    allow_other_pack: bool = False

    @property
    def ok(self) -> bool:
        return not (self.mismatches or self.missing or self.bad_entries or self.problems or self.unlogged
                    or self.twice or (self.pack_changes and not self.allow_other_pack))


_COMPARED = ("id", "period", "verdicts", "findings", "rejected", "result_sha256")


# ------------------------------------------------ reading a log: shapes


def _hex64(v) -> bool:
    return isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v)


def _int(v, least: int = 0) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= least


def _date_problem(v) -> str | None:
    import datetime as _dt

    if v is None:
        return None
    if isinstance(v, str) and len(v) == 10:
        try:
            _dt.date.fromisoformat(v)
            return None
        except ValueError:
            pass
    return f"as_of must be null or a date (YYYY-MM-DD), not {_show(v)}"


def _pack_problem(v) -> str | None:
    if not isinstance(v, dict) or not all(isinstance(v.get(k), str) for k in ("name", "version", "sha256")):
        return f"pack must be an object with name, version and sha256 (text), not {_show(v)}"
    return None


def _show(v) -> str:
    text = json.dumps(v, ensure_ascii=True, default=str)
    return text if len(text) <= 60 else text[:60] + "..."


def _entry_problem(e: dict) -> str | None:
    """Why a decision entry (either format) cannot be used, or None."""
    if not _int(e.get("input_line"), 1):
        return f"input_line must be a whole number from 1, not {_show(e.get('input_line'))}"
    if not _hex64(e.get("input_sha256")):
        return f"input_sha256 must be a sha256 (64 hex digits), not {_show(e.get('input_sha256'))}"
    h = e.get("history_sha256", [])
    if not isinstance(h, list) or not all(_hex64(x) for x in h):
        return f"history_sha256 must be a list of sha256s, not {_show(h)}"
    for problem in (_date_problem(e.get("as_of")), _pack_problem(e.get("pack"))):
        if problem:
            return problem
    if "rejected" in e:
        r = e["rejected"]
        if not isinstance(r, dict):
            return f"rejected must be an object (path, reason), not {_show(r)}"
        return None
    v = e.get("verdicts")
    if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
        return f"verdicts must be a list of objects, not {_show(v)}"
    f = e.get("findings")
    if not isinstance(f, list) or not all(isinstance(x, dict) and isinstance(x.get("rule"), str) for x in f):
        return f"findings must be a list of objects with a rule id, not {_show(f)}"
    if not _hex64(e.get("result_sha256")):
        return f"result_sha256 must be a sha256 (64 hex digits), not {_show(e.get('result_sha256'))}"
    return None


def _line_problem(e: dict) -> str | None:
    """Why a format 2 line (header, decision or footer) cannot be used, or None."""
    kind = e.get("type")
    prev = e.get("prev")
    if kind == "header":
        if prev is not None and not _hex64(prev):
            return f"prev must be null or a sha256, not {_show(prev)}"
        for problem in (_pack_problem(e.get("pack")), _date_problem(e.get("as_of"))):
            if problem:
                return problem
        o = e.get("options", {})
        if not isinstance(o, dict) or not all(_int(x, 1) for x in o.values()):
            return f"options must be an object of whole numbers, not {_show(o)}"
        return None
    if not _hex64(prev):
        return f"prev must be a sha256 (64 hex digits), not {_show(prev)}"
    if kind == "decision":
        return _entry_problem(e)
    if kind == "footer":
        if not isinstance(e.get("complete"), bool):
            return f"complete must be true or false, not {_show(e.get('complete'))}"
        for k in ("records", "entries", "results", "rejections"):
            if not _int(e.get(k)):
                return f"{k} must be a whole number, not {_show(e.get(k))}"
        return None
    return f"type must be header, decision or footer, not {_show(kind)}"


def parse_log(lines) -> tuple:
    """Decision-log lines -> (decision entries with their line numbers, bad lines).

    Only the shape of each line is checked here; :func:`verify` checks the chain."""
    scan = _scan(lines, None)
    return [(n, e) for n, e, _ in scan["entries"]], scan["bad"]


def _as_bytes(line) -> bytes:
    if isinstance(line, (bytes, bytearray)):
        return bytes(line).rstrip(b"\n")
    return str(line).rstrip("\n").encode("utf-8", "surrogatepass")


def _scan(lines, pack_now) -> dict:
    """Read a log line by line: its entries, bad lines, chain and run problems."""
    entries, bad, problems, packs_v1, unchained, headers = [], [], [], [], [], []
    last_h = last_n = None
    run = None  # the open run: its header line, header, counts
    orphan = False
    for n, raw in enumerate(lines, 1):
        b = _as_bytes(raw)
        if is_blank(b):
            continue
        h = sha256(b)
        try:
            e = json.loads(b)
        except (ValueError, RecursionError) as exc:
            bad.append((n, f"not JSON ({_why(exc)})"))
            last_h, last_n = h, n
            continue
        fmt = e.get("log") if isinstance(e, dict) else None
        if fmt == LOG_FORMAT_1:
            problem = _entry_problem(e)
            if problem:
                bad.append((n, problem))
            else:
                unchained.append(n)
                entries.append((n, e, None))
                if run is not None:
                    problems.append(LogProblem(n, "RUN", "a format 1 entry inside a chained run: format 2 "
                                                         "runs never hold one"))
                elif pack_now is not None and e["pack"] != pack_now and e["pack"] not in [p for _, p in packs_v1]:
                    packs_v1.append((n, e["pack"]))
            last_h, last_n = h, n
            continue
        if fmt != LOG_FORMAT:
            bad.append((n, f"not a decision-log line ({LOG_FORMAT} or {LOG_FORMAT_1})"))
            last_h, last_n = h, n
            continue
        problem = _line_problem(e)
        if problem:
            bad.append((n, problem))
            last_h, last_n = h, n
            continue
        prev = e["prev"]
        if prev != last_h:
            if last_h is None:
                msg = "the log starts in the middle of a chain: the lines before it are missing"
            elif prev is None:
                msg = (f"a new chain starts here, but log line {last_n} comes before it: lines before it "
                       "were deleted, or logs were joined")
            else:
                msg = (f"does not follow log line {last_n}: a line was deleted, inserted, moved or edited "
                       "here")
            problems.append(LogProblem(n, "CHAIN", msg))
        kind = e["type"]
        if kind == "header":
            if run is not None:
                problems.append(LogProblem(run["line"], "INCOMPLETE", "the run has no footer: it stopped before "
                                           f"its end or the log was cut (the next run starts at log line {n})"))
            run = {"line": n, "header": e, "entries": 0, "results": 0, "rejections": 0, "last_input": 0,
                   "id": len(headers)}
            headers.append((n, e))
            orphan = False
        elif kind == "decision":
            if run is None:
                if not orphan:
                    problems.append(LogProblem(n, "RUN", "a decision outside a run: no header before it "
                                                         "(it was deleted, or the entry was not written here)"))
                orphan = True
                entries.append((n, e, None))
            else:
                head = run["header"]
                run["entries"] += 1
                run["rejections" if "rejected" in e else "results"] += 1
                if e["pack"] != head["pack"]:
                    problems.append(LogProblem(n, "RUN", f"the entry names the pack {_pack_text(e['pack'])}; "
                                               f"its run's header names {_pack_text(head['pack'])}"))
                if e.get("as_of") != head.get("as_of"):
                    problems.append(LogProblem(n, "RUN", f"the entry's as_of is {_show(e.get('as_of'))}; its "
                                               f"run's header says {_show(head.get('as_of'))}"))
                if e["input_line"] <= run["last_input"]:
                    problems.append(LogProblem(n, "RUN", f"input line {e['input_line']} does not follow input "
                                               f"line {run['last_input']}: entries out of order or repeated"))
                run["last_input"] = max(run["last_input"], e["input_line"])
                entries.append((n, e, run))
        else:  # footer
            if run is None:
                problems.append(LogProblem(n, "RUN", "a footer with no run: its header is missing"))
            else:
                problems.extend(_footer_problems(n, e, run))
                run = None
        last_h, last_n = h, n
    if run is not None:
        problems.append(LogProblem(run["line"], "INCOMPLETE", "the run has no footer: it stopped before its end "
                                                              "or the log was cut"))
    if not headers and not entries:
        problems.append(LogProblem(None, "INCOMPLETE", "the log holds no run"))
    return {"entries": entries, "bad": bad, "problems": problems, "headers": headers, "packs_v1": packs_v1,
            "unchained": unchained, "last": (last_n, last_h) if last_n is not None else None}


def _why(exc) -> str:
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc).splitlines()[0][:120] if str(exc) else exc.__class__.__name__


def _footer_problems(n: int, foot: dict, run: dict):
    have = run["entries"]
    if foot["entries"] != have:
        yield LogProblem(n, "RUN", f"the footer counts {foot['entries']} entries; the run has {have}: entries "
                                   "were deleted or added")
    elif (foot["results"], foot["rejections"]) != (run["results"], run["rejections"]):
        yield LogProblem(n, "RUN", f"the footer counts {foot['results']} results and {foot['rejections']} "
                                   f"rejections; the run has {run['results']} and {run['rejections']}")
    if foot["complete"] and foot["records"] != foot["entries"]:
        yield LogProblem(n, "RUN", f"the footer says the run is complete, with {foot['records']} records read "
                                   f"but {foot['entries']} entries")
    if not foot["complete"]:
        reason = foot.get("reason")
        yield LogProblem(n, "INCOMPLETE", "the run stopped before its end"
                         + (f" ({reason})" if isinstance(reason, str) and reason else ""))


def _pack_text(p) -> str:
    if not isinstance(p, dict):
        return _show(p)
    return f"{p.get('name')} {p.get('version')} (lock {str(p.get('sha256'))[:12]})"


def _limits(options):
    """The record limits a run's header names, as the engine takes them (unknown options left out)."""
    from rulecite.interpreter.engine.evaluator import DEFAULT_LIMITS, Limits

    if not options:
        return DEFAULT_LIMITS
    known = attrs.fields_dict(Limits)
    return attrs.evolve(DEFAULT_LIMITS, **{k: v for k, v in options.items() if k in known})


def verify(log_lines, pack, facts_items, evaluate_fn, *, allow_other_pack: bool = False,
           subset: bool = False) -> VerifyReport:
    """Check a decision log: its chain and runs, then every logged decision against what
    the pack decides now.

    ``log_lines`` are the log's lines (bytes as written, or text), in order.
    ``facts_items`` is a callable giving a fresh iterable of input items (it is read
    once per distinct clock and options in the log); ``evaluate_fn(pack, items,
    as_of=..., limits=...)`` is :func:`rulecite.interpreter.evaluate` (``limits`` is
    passed only when a run's header names other limits than the default). Entries are
    matched by input hash and history hashes, so the facts may be in another order than
    when logged. Facts records that no entry matches are reported (unless ``subset``:
    the log covers only part of the facts), as are two entries of one run for a record
    the facts hold once. A run logged with another pack than ``pack`` fails the check
    unless ``allow_other_pack`` (an update's impact: the decisions that differ).
    """
    from rulecite.interpreter.engine.evaluator import DEFAULT_LIMITS

    pack_now = {"name": pack.name, "version": pack.version, "sha256": pack.lock}
    scan = _scan(log_lines, pack_now)
    by_clock = defaultdict(list)
    clocks = set()
    for _, head in scan["headers"]:
        clocks.add((head.get("as_of"), _limits(head.get("options"))))
    for n, e, run in scan["entries"]:
        limits = _limits(run["header"].get("options")) if run is not None else DEFAULT_LIMITS
        by_clock[(e.get("as_of"), limits)].append((n, e, run))
        clocks.add((e.get("as_of"), limits))
    mismatches, missing, unlogged, twice = [], [], [], []
    same = 0
    for as_of, limits in sorted(clocks, key=lambda c: (str(c[0]), repr(c[1]))):
        group = by_clock.get((as_of, limits), [])
        tee = RawTee(facts_items())
        kw = {} if limits == DEFAULT_LIMITS else {"limits": limits}
        pairs = ((r, tee.pop(r.input_line)) for r in evaluate_fn(pack, tee, as_of=as_of, **kw))
        now: dict = defaultdict(list)
        for entry in decision_log(pairs, pack, as_of):
            now[_key(entry)].append(entry)
        used: dict = defaultdict(list)  # (run, key) -> log lines
        for n, e, run in group:
            key = _key(e)
            rid = None if run is None else run["id"]
            lines_used = used[(rid, key)]
            lines_used.append(n)
            found = now.get(key)
            if not found:
                missing.append(Mismatch(e, None, ("the input record is not in the facts (or its history differs)",),
                                        n))
                continue
            cur = found[min(len(lines_used), len(found)) - 1]
            if run is not None and len(lines_used) > len(found):
                why = f"log line {n} and log line {lines_used[0]}: one run logged a record the facts hold once"
                twice.append(Mismatch(e, cur, (why,), n))
            diffs = tuple(_differences(e, cur))
            if diffs:
                mismatches.append(Mismatch(e, cur, diffs, n))
            else:
                same += 1
        if not subset:
            most: dict = defaultdict(int)
            for (_, key), ns in used.items():
                most[key] = max(most[key], len(ns))
            for key, found in now.items():
                unlogged.extend(found[most.get(key, 0):])
    unlogged.sort(key=lambda e: (e.get("input_line") or 0, str(e.get("as_of"))))
    packs = []
    for _, e, _ in scan["entries"]:
        if e.get("pack") not in packs:
            packs.append(e.get("pack"))
    for _, head in scan["headers"]:
        if head["pack"] not in packs:
            packs.append(head["pack"])
    changes = [(n, head["pack"]) for n, head in scan["headers"] if head["pack"] != pack_now] + scan["packs_v1"]
    return VerifyReport(
        len(scan["entries"]), same, tuple(mismatches), tuple(missing), tuple(scan["bad"]), pack_now, tuple(packs),
        problems=tuple(scan["problems"]), pack_changes=tuple(sorted(changes, key=lambda c: c[0])),
        unlogged=tuple(unlogged), twice=tuple(twice), runs=len(scan["headers"]),
        unchained=tuple(scan["unchained"]), last_line=scan["last"], allow_other_pack=allow_other_pack)


def _key(e: dict):
    return (e.get("input_sha256"), tuple(e.get("history_sha256") or ()))


def _differences(logged: dict, now: dict):
    for k in _COMPARED:
        a, b = logged.get(k), now.get(k)
        if a == b:
            continue
        if k in ("id", "period"):
            yield f"{k} was {_plain(a)}; now {_plain(b)}"
        elif k == "verdicts" and isinstance(a, list) and isinstance(b, list):
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


def _plain(v) -> str:
    return v if isinstance(v, str) else _show(v)


def _rej(r) -> str:
    if isinstance(r, dict):
        return f"{r.get('path')}: {r.get('reason')}" if r else "none"
    return "none" if r is None else _show(r)


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
        text += " by " + _names(v["rules"])
    if v.get("warnings"):
        text += " (warnings: " + _names(v["warnings"]) + ")"
    return text


def _names(v) -> str:
    return ", ".join(map(str, v)) if isinstance(v, list) else _show(v)


