"""Verifying a decision log: the chain, the runs' counts, the pack, and every decision.

Takes the lines of a log (format 1, 2 or 3), the pack as it is now, the facts records and a
function that evaluates them; gives a ``VerifyReport``: chain breaks, incomplete runs,
footer counts that do not match, pack changes, facts records with no entry, entries used
twice, malformed entries (bad lines, never a crash), and decisions that differ: in
format 3, each finding's kept message, evidence and citations too (a run whose header says
findings are kept in full must keep them in every entry).
"""

from __future__ import annotations

import json
from collections import defaultdict

import attrs

from rulecite.interpreter.tools.audit import (
    CHAINED_FORMATS,
    LOG_FORMAT,
    LOG_FORMAT_1,
    LOG_FORMAT_2,
    RawTee,
    decision_log,
    is_blank,
    sha256,
)
from rulecite.interpreter.tools.log_shapes import KEPT, entry_problem, line_problem, show

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
            problem = entry_problem(e)
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
        if fmt not in CHAINED_FORMATS:
            bad.append((n, f"not a decision-log line ({LOG_FORMAT}, {LOG_FORMAT_2} or {LOG_FORMAT_1})"))
            last_h, last_n = h, n
            continue
        problem = line_problem(e)
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
                    problems.append(LogProblem(n, "RUN", f"the entry's as_of is {show(e.get('as_of'))}; its "
                                               f"run's header says {show(head.get('as_of'))}"))
                problems.extend(LogProblem(n, "RUN", m) for m in _kept_problems(e, head))
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


def _kept_problems(e: dict, head: dict):
    """An entry whose format or kept findings do not match its run's header."""
    if e.get("log") != head.get("log"):
        yield f"the entry is format {show(e.get('log'))}; its run's header is {show(head.get('log'))}"
        return
    if head.get("log") != LOG_FORMAT:
        return
    full = head.get("findings") == "full"
    for f in e.get("findings") or ():
        missing = [k for k in KEPT if k not in f]
        if full and missing:
            yield (f"the run keeps findings in full, but finding {f['rule']} has no {' or '.join(missing)}: "
                   "removed from the entry")
            return
        if not full and len(missing) < len(KEPT):
            yield f"the run is lean, but finding {f['rule']} keeps {', '.join(k for k in KEPT if k in f)}"
            return


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
        return show(p)
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
            diffs = tuple(_differences(e, _as_logged(e, cur)))
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
            per_line = list(_verdict_differences(a, b))
            yield from per_line or [f"the verdicts were {show(a)}; now {show(b)} (a line repeated, left out or "
                                    "moved)"]
        elif k == "result_sha256":
            if logged.get("verdicts") == now.get("verdicts") and logged.get("findings") == now.get("findings"):
                yield "same verdicts and findings, but the result differs (messages, evidence or suggestions)"
        elif k == "findings":
            ra = sorted({f.get("rule") for f in a or [] if isinstance(f, dict)}, key=str)
            rb = sorted({f.get("rule") for f in b or [] if isinstance(f, dict)}, key=str)
            if ra != rb:
                yield f"findings were {', '.join(map(str, ra)) or 'none'}; now {', '.join(map(str, rb)) or 'none'}"
            else:
                yield from _finding_differences(a, b)
        elif k == "rejected":
            yield f"rejection was {_rej(a)}; now {_rej(b)}"


def _as_logged(logged: dict, now: dict) -> dict:
    """``now`` (re-evaluated, findings in full) with its findings kept as the logged entry
    keeps them: in full when any logged finding is, else lean (rule, severity, line)."""
    found = logged.get("findings")
    if not isinstance(found, list) or not isinstance(now.get("findings"), list):
        return now
    if any(isinstance(f, dict) and any(k in f for k in KEPT) for f in found):
        return now
    return {**now, "findings": [{k: f.get(k) for k in ("rule", "severity", "line")} for f in now["findings"]]}


def _finding_differences(a: list, b: list):
    if len(a) != len(b):
        yield f"{len(a)} findings were logged; now {len(b)}"
        return
    for fa, fb in zip(a, b):
        if fa == fb:
            continue
        if not (isinstance(fa, dict) and isinstance(fb, dict)):
            yield "a finding differs"
            continue
        where = f"{fa.get('rule')} ({'whole record' if fa.get('line') is None else 'line ' + str(fa.get('line'))})"
        changed = [k for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)]
        for k in changed:
            if k == "message":
                yield f"{where}: the message was {show(fa.get(k))}; now {show(fb.get(k))}"
            elif k in ("evidence", "citations"):
                yield f"{where}: the {k} differ: was {show(fa.get(k))}; now {show(fb.get(k))}"
            else:
                yield f"{where}: {k} was {show(fa.get(k))}; now {show(fb.get(k))}"


def _plain(v) -> str:
    return v if isinstance(v, str) else show(v)


def _rej(r) -> str:
    if isinstance(r, dict):
        return f"{r.get('path')}: {r.get('reason')}" if r else "none"
    return "none" if r is None else show(r)


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
    return ", ".join(map(str, v)) if isinstance(v, list) else show(v)


