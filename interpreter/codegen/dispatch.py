"""The hot path of a compiled pack: per-line dispatch and ``_decide``.

Takes the emitter (for its units) and the compiled rules and suggestions: for each line
rule, the statements that append its index to ``fired`` (``line_block``); gives the
module's last units: one ``line_group_N`` function per distinct list of line rules a
code can meet (the rules inlined in index order, each block opened by its
``# rule ID file:line`` comment and behind its service-date window), one
``sugg_group_N`` function per distinct list of line suggestions a code can meet (each
suggestion's `when`, units and reason inlined likewise, its `where` left out when it only
tests the codes the dispatch already picks by), the dispatch table (``_LINE``: code ->
line group, catalog window, suggestion group: one look-up a line) and
``_decide(rec, hist, steps)``.
Every line of an inlined block maps to its rule or suggestion in the line map; the glue
(a suggestion's window test included, as when ``_decide`` tested it) maps to none.
"""

from __future__ import annotations

from rulecite.policy_lang.syntax import nodes as ast
from rulecite.policy_lang.model import Ref

from rulecite.interpreter.codegen import runtime
from rulecite.interpreter.codegen.tokens import HI, LO, comment, day, lit, text


def line_block(i: int, lets: list, where: str | None, cond: str, mode: str, lo: str, hi: str) -> list:
    """Statements that append rule ``i`` to ``fired`` when it fires on line ``ln``.

    ``where`` is ``None`` when it only says which codes the rule is for (``codes_only``):
    the dispatch by code already guarantees it."""
    out, ind = [], ""
    if lo != LO and hi != HI:
        out, ind = [f"if {lo!r} <= sd <= {hi!r}:"], "    "
    elif lo != LO:
        out, ind = [f"if sd >= {lo!r}:"], "    "
    elif hi != HI:
        out, ind = [f"if sd <= {hi!r}:"], "    "
    if where is not None:
        out.append(f"{ind}if {where}:")
        ind += "    "
    out += [ind + line for line in lets]
    test = f"({cond})" if mode == "when" else f"not ({cond})"
    out += [f"{ind}if {test}:", f"{ind}    fired.append({i})"]
    return out


def codes_only(where, var, code_field) -> bool:
    """Whether ``where`` tests nothing but the line's code against codes or sets."""
    def is_code(x):
        return isinstance(x, ast.Field) and x.name == code_field and isinstance(x.obj, Ref) and x.obj.name == var

    if isinstance(where, ast.Or):
        return all(codes_only(i, var, code_field) for i in where.items)
    if isinstance(where, ast.In) and not where.negated and is_code(where.left):
        return (isinstance(where.right, Ref) and where.right.kind == "set") or (
            isinstance(where.right, ast.ListLit)
            and all(isinstance(i, ast.Literal) and i.kind == "string" for i in where.right.items))
    if isinstance(where, ast.Compare) and where.op == "==":
        return any(is_code(a) and isinstance(b, ast.Literal) and b.kind == "string"
                   for a, b in ((where.left, where.right), (where.right, where.left)))
    return False


def _shared_reads(em, key: tuple, blocks: dict) -> list:
    """The lines atop a group function that read, once, what the blocks of ``key`` read
    that cannot fail (each block's reads: ``blocks[k][2]``)."""
    reads: dict = {}
    for k in key:
        reads.update(blocks[k][2])
    return [("    " + h, None) for h in em.hoisted_reads(reads)]


def _codes_comment(codes: list) -> str:
    shown = ", ".join(codes[:8]) + (f" and {len(codes) - 8} more" if len(codes) > 8 else "")
    return comment("line rules for codes", shown) if codes else comment("line rules for codes outside the catalog")


def emit_dispatch(em, infos: list, sugg_infos: list, codes: dict, shape, blocks: dict, fn_names: dict,
                  coverage=None, sblocks: dict | None = None):
    """Append the dispatch units (see the module doc). ``blocks``: rule index -> (origin,
    statements of ``line_block``); ``fn_names``: rule or suggestion function names by
    ("rule", index) / ("suggestion", index); ``coverage``: the pack's service-date window
    (a line dated outside it is judged by no rule: code state 3); ``sblocks``: line
    suggestion index -> (origin, statements that append it to ``sugs``, its hoisted reads)."""
    by_code: dict = {}
    generic, record_rules = [], []
    for info in infos:
        r = info.rule
        if r.scope == "record":
            record_rules.append(info)
        elif r.codes is None:
            generic.append(info)
        else:
            for c in r.codes:
                by_code.setdefault(c, []).append(info)
    all_codes = sorted(set(by_code) | set(text(c, "a code") for c in codes))

    # One function per distinct list of line rules: the rules a line with that code can
    # meet, inlined in index order, each behind its service-date window.
    groups: dict = {}
    members: dict = {}
    line_fn = {}
    for c in all_codes:
        key = tuple(sorted({x.index for x in by_code.get(c, []) + generic}))
        line_fn[c] = groups.setdefault(key, f"line_group_{len(groups)}")
        members.setdefault(key, []).append(c)
    generic_key = tuple(sorted(x.index for x in generic))
    generic_fn = groups.setdefault(generic_key, f"line_group_{len(groups)}")
    for key, fn in sorted(groups.items(), key=lambda kv: int(kv[1].rsplit("_", 1)[1])):
        em.names.reserve(fn)
        unit = [("", None), (_codes_comment(members.get(key, [])), None), (f"def {fn}(rec, hist, ln, sd, _m):", None),
                ("    fired = []", None)]
        unit += _shared_reads(em, key, blocks)
        for k in key:
            origin, lines, _ = blocks[k]
            unit.append(("    " + origin.comment(), origin))
            unit += [("    " + line, origin) for line in lines]
        unit.append(("    return fired", None))
        em.units.append(unit)

    sug_by_code: dict = {}
    sug_generic, sug_record = [], []
    for s in sugg_infos:
        if s.suggestion.scope == "record":
            sug_record.append(s)
        elif s.suggestion.codes is None:
            sug_generic.append(s)
        else:
            for c in s.suggestion.codes:
                sug_by_code.setdefault(c, []).append(s)

    def sentries(items):
        return "(" + "".join(f"({x.index}, {x.lo!r}, {x.hi!r}, {fn_names['suggestion', x.index]}), "
                             for x in items) + ")"

    # One function per distinct list of line suggestions (``sugg_group_N``): each inlined in
    # index order behind its service-date window, appending (index, line, (units, reason))
    # to ``sugs`` when it applies. A window's test is glue (it maps to no suggestion), as it
    # was in ``_decide``'s loop over the suggestions; a failure in a block blames its suggestion.
    sgroups: dict = {}
    for key in [tuple(x.index for x in sug_by_code[c] + sug_generic) for c in sorted(sug_by_code)] + [
            tuple(x.index for x in sug_generic)]:
        if key and key not in sgroups:
            sgroups[key] = em.names.reserve(f"sugg_group_{len(sgroups)}")
    by_index = {x.index: x for x in sugg_infos}
    for key, fn in sgroups.items():
        unit = [("", None), (f"def {fn}(rec, hist, ln, sd, _m, sugs):", None)]
        unit += _shared_reads(em, key, sblocks)
        for k in key:
            origin, lines, _ = sblocks[k]
            unit += [("    " + origin.comment(), origin), (f"    if {by_index[k].lo!r} <= sd <= {by_index[k].hi!r}:", None)]
            unit += [("        " + line, origin) for line in lines]
        em.units.append(unit)

    def sgroup(items):
        return sgroups.get(tuple(x.index for x in items), "None")

    # One table, one look-up a line: code -> (its line group, its catalog window (None, None
    # outside the catalog), its suggestion group or None); a code in no entry takes ``_LINE_GENERIC``.
    glue = ["", "# dispatch table: line code -> (line group, catalog window, suggestion group)",
            f"_SGENERIC = {sgroup(sug_generic)}",
            f"_LINE_GENERIC = ({generic_fn}, None, None, _SGENERIC)", "_LINE = {"]
    for c in sorted(set(all_codes) | set(text(c, "a code") for c in sug_by_code)):
        w = codes[c].window if c in codes else None
        window = f"{day(w.start, LO)!r}, {day(w.end, HI)!r}" if w is not None else "None, None"
        sugs = sgroup(sug_by_code[c] + sug_generic) if c in sug_by_code else "_SGENERIC"
        glue.append(f"    {lit(c)}: ({line_fn.get(c, generic_fn)}, {window}, {sugs}),")
    glue.append("}")
    glue.append("_SRECORD = " + sentries(sug_record))
    em.units.append([(line, None) for line in glue])

    # ``_decide(rec, hist, steps)`` -> (record-level fired, [(line fired, code state, service
    # date)], suggestions); code state: 0 not in the catalog, 1 in its window, 2 outside it,
    # 3 a service date outside the pack's coverage (no rule runs: the pack cannot judge it).
    # ``steps`` is the record's budget (see the module docstring of ``compiler``).
    out = [("", None), ("# the per-record entry point", None), (f"def _decide(rec, hist, steps={runtime.DEFAULT_MAX_STEPS!r}):", None), ("    _m = _state(steps)", None)]
    if shape.default_day == "last":
        out.append((f"    d0 = _rt.month_end(rec[{lit(shape.period)}])", None))
    else:
        out.append((f"    d0 = rec[{lit(shape.period)}] + '-01'", None))
    out.append(("    rfired = []" if record_rules else "    rfired = ()", None))  # () when nothing can fire
    for x in record_rules:
        origin = blocks[x.index][0]
        out.append((f"    if {x.lo!r} <= d0 <= {x.hi!r} and {fn_names['rule', x.index]}(rec, hist, None, d0, _m):",
                    origin))
        out.append((f"        rfired.append({x.index})", origin))
    body = ["    out = []", "    sugs = []" if sugg_infos else "    sugs = ()",
            f"    for ln in (rec.get({lit(shape.lines)}) or ()):",
            f"        code = ln.get({lit(shape.line_code)})",
            f"        sd = ln.get({lit(shape.line_date)}) or d0"]
    cov_lo, cov_hi = (day(coverage.start, LO), day(coverage.end, HI)) if coverage is not None else (LO, HI)
    if (cov_lo, cov_hi) != (LO, HI):
        body += [f"        if not ({cov_lo!r} <= sd <= {cov_hi!r}):",
                 "            out.append(((), 3, sd))",
                 "            continue"]
    body += ["        group, wlo, whi, sg = _LINE.get(code, _LINE_GENERIC)",
             "        fired = group(rec, hist, ln, sd, _m)",
             "        out.append((fired, 0 if wlo is None else (1 if wlo <= sd <= whi else 2), sd))"]
    if sugg_infos:
        body += ["        if sg is not None:",
                 "            sg(rec, hist, ln, sd, _m, sugs)",
                 "    for k, lo, hi, fn in _SRECORD:",
                 "        if lo <= d0 <= hi:",
                 "            s = fn(rec, hist, None, d0, _m)",
                 "            if s is not None:",
                 "                sugs.append((k, None, s))"]
    body.append("    return rfired, out, sugs")
    out += [(line, None) for line in body]
    em.units.append(out)
